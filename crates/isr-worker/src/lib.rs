//! `isr-worker`: isr on Cloudflare Workers, from the same core as the native proxy.
//!
//! Two ways to use it:
//! - **The isr Worker** (feature `entry`, on by default): deployed in front of a site, it
//!   answers every request from the cache or the origin (a URL, or a service binding
//!   `ORIGIN` to the site's own Worker).
//! - **A library** inside a Rust Worker: [`handle`] returns the cached answer, rendering
//!   through the app's own function on a miss, or `None` for a request that is not
//!   cacheable (the app answers it itself).
//!
//! Tiers and state: L1 is the Cache API of the data centre, L2 is Workers KV (binding
//! `ISR_KV`); purge records, single-flight locks and the recursion-guard secret live in the
//! SQLite Durable Object [`IsrState`] (binding `ISR_STATE`). Every decision (what is
//! cacheable, the key, freshness, the served headers) is isr-core's.
//!
//! - `engine`: the flow of one request; `flight`: single flight through the Durable
//!   Object; `render`: renders and what they change; `deployment`: what they work with.
//! - `store`: the Cache API and KV tiers.
//! - `state`: the Durable Object's protocol and client; `object`: the Durable Object.
//! - `origin`: renders and forwarding.
//! - `admin`: the admin API.
//! - `settings`: configuration; `isolate`: what an isolate keeps between requests.
//! - `clock`: the time, which only a test binding can move.
//! - `convert`: `http` types to and from the runtime's JS objects.
//!
//! No module imports this root, and no two modules import each other.

mod admin;
mod clock;
mod convert;
mod counters;
mod deployment;
mod engine;
mod flight;
mod isolate;
#[expect(
    missing_docs,
    reason = "the JS glue `#[durable_object]` generates for `IsrState` has no docs"
)]
mod object;
mod origin;
mod render;
mod settings;
mod state;
mod store;

use std::future::Future;
use std::rc::Rc;

use http::StatusCode;
use isr_core::flow::answer::ErrorAnswer;
use isr_core::headers::CacheStatus;
use worker::{Context, Env, Request, Response, Result};

pub use object::IsrState;

use clock::Clock;
use deployment::{Deployment, error_response};
use engine::Handled;
use origin::{Origin, Render};
use settings::SettingsError;
use state::StateClient;

/// Binding of the KV namespace (L2).
pub const KV_BINDING: &str = "ISR_KV";
/// Binding of the Durable Object namespace of [`IsrState`].
pub const STATE_BINDING: &str = "ISR_STATE";
/// Optional service binding to the origin Worker.
pub const ORIGIN_BINDING: &str = "ORIGIN";

/// Why a request has no deployment to work with: the Worker's configuration is wrong.
#[derive(Debug, thiserror::Error)]
enum SetupError {
    /// The settings do not hold.
    #[error("isr: bad configuration: {0}")]
    Settings(#[from] SettingsError),
    /// The KV namespace is not bound.
    #[error("isr: bad configuration: KV namespace binding {KV_BINDING}: {0}")]
    Kv(#[source] worker::Error),
    /// The Durable Object namespace is not bound.
    #[error("isr: bad configuration: Durable Object binding {STATE_BINDING}: {0}")]
    State(#[source] worker::Error),
}

/// What one request works with, or why there is nothing.
async fn deployment(
    req: &Request,
    env: &Env,
    origin: Option<Origin>,
) -> std::result::Result<Rc<Deployment>, SetupError> {
    let settings = settings::load(env)?;
    let origin = match origin {
        Some(origin) => origin,
        None => match env.service(ORIGIN_BINDING) {
            Ok(fetcher) => Origin::Service {
                fetcher,
                base: settings
                    .config
                    .origin
                    .clone()
                    .unwrap_or_else(|| base_of(req)),
            },
            Err(_) => Origin::Url(
                settings
                    .config
                    .origin
                    .clone()
                    .ok_or(SetupError::Settings(SettingsError::NoOrigin))?,
            ),
        },
    };
    let kv = env.kv(KV_BINDING).map_err(SetupError::Kv)?;
    let namespace = env
        .durable_object(STATE_BINDING)
        .map_err(SetupError::State)?;
    let clock = Clock::of(env).await;
    Ok(Rc::new(Deployment {
        settings,
        clock,
        tiers: store::Tiers::new(kv, base_of(req)),
        state: StateClient::new(namespace, clock),
        origin,
    }))
}

/// `scheme://host[:port]` of the request.
fn base_of(req: &Request) -> String {
    req.url()
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_else(|_| "https://isr.invalid".to_owned())
}

fn config_error(error: &SetupError) -> Result<Response> {
    let message = error.to_string();
    worker::console_error!("{message}");
    error_response(&ErrorAnswer::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        CacheStatus::Bypass,
        message,
    ))
}

/// The isr Worker: every request answered from the cache or the origin.
#[cfg(feature = "entry")]
#[worker::event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let deployment = match deployment(&req, &env, None).await {
        Ok(deployment) => deployment,
        Err(error) => return config_error(&error),
    };
    let response = match deployment.handle(&req, &ctx).await? {
        Handled::Answer(response) => response,
        Handled::Admin => return admin::handle(&deployment, &req, &ctx).await,
        Handled::Bypass { target, draft } => deployment.bypass(&req, &target, draft).await?,
    };
    count(&response);
    Ok(response)
}

/// Count an answer of the engine (not the admin API's) by its `x-isr-cache`.
fn count(response: &Response) {
    let cache = response.headers().get("x-isr-cache").ok().flatten();
    counters::answered(cache.as_deref());
}

/// isr inside your own Worker: the cached answer to `req`, rendering through `render` on a
/// miss (and in the background when stale), or `None` when the request is not cacheable
/// (a `POST`, a draft, a route with `revalidate = 0`): answer it yourself.
///
/// `render` receives a `GET` of the page's normalised path and keyed query, with the
/// headers isr renders with; it must answer as the app would. Requests under `/_isr/` are
/// isr's admin API and are answered here. The bindings `ISR_KV` and `ISR_STATE` (with the
/// [`IsrState`] class exported from your Worker, which linking this crate does) and the
/// configuration variables are those of the isr Worker; no origin is needed.
pub async fn handle<F, Fut>(
    req: &Request,
    env: &Env,
    ctx: &Context,
    render: F,
) -> Result<Option<Response>>
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = Result<Response>> + 'static,
{
    let render: Render = Rc::new(move |request| Box::pin(render(request)));
    let origin = Origin::App {
        render,
        base: base_of(req),
    };
    let deployment = match deployment(req, env, Some(origin)).await {
        Ok(deployment) => deployment,
        Err(error) => return config_error(&error).map(Some),
    };
    match deployment.handle(req, ctx).await? {
        Handled::Answer(response) => {
            count(&response);
            Ok(Some(response))
        }
        Handled::Admin => admin::handle(&deployment, req, ctx).await.map(Some),
        Handled::Bypass { .. } => Ok(None),
    }
}
