//! What the Worker is configured with, and what each isolate keeps between requests.
//!
//! The configuration is isr-core's model, parsed from TOML: the `ISR_CONFIG` variable if
//! set, else the `isr.toml` embedded at build time. Secrets and per-deploy values come
//! from variables: `ISR_ORIGIN` (overrides `origin`), `ISR_ADMIN_TOKEN`,
//! `ISR_BYPASS_TOKEN`, `ISR_RENDER_SECRET`, `ISR_PURGE_CACHE_MS`.
//!
//! Invariants:
//! - A bad configuration is an error naming the variable (or file) and the problem, never
//!   a panic; it is parsed once per isolate, and again only if a variable changes.
//! - The isolate's copy of the purge records is never older than `ISR_PURGE_CACHE_MS`
//!   when a read is judged (it is refreshed first), except when the Durable Object cannot
//!   be reached: then the last copy is used and a warning is logged.
//! - A purge sent through this isolate is in its copy before the purge is answered.

use std::cell::RefCell;
use std::rc::Rc;

use isr_core::config::{Config, ConfigError, check_token};
use isr_core::freshness::Invalidation;
use isr_core::purge::{PurgeState, Target};
use worker::Env;

use crate::state::StateClient;

/// The configuration built into the Worker (used when `ISR_CONFIG` is not set).
const EMBEDDED_CONFIG: &str = include_str!("../isr.toml");

/// Default of `ISR_PURGE_CACHE_MS`.
const DEFAULT_PURGE_CACHE_MS: u64 = 1_000;

/// Why the Worker cannot start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{name}: {message}")]
    Variable { name: &'static str, message: String },
    #[error(
        "no origin: set `origin` in the config, the ISR_ORIGIN variable, or a service binding ORIGIN"
    )]
    NoOrigin,
}

/// Everything the Worker is configured with.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) config: Config,
    /// How long the isolate may use its copy of the purge records.
    pub(crate) purge_cache_ms: u64,
    /// The recursion-guard secret, when set as `ISR_RENDER_SECRET`.
    pub(crate) render_secret: Option<String>,
}

/// The variables the settings are built from, in a fixed order (to notice a change).
const VARIABLES: [&str; 6] = [
    "ISR_CONFIG",
    "ISR_ORIGIN",
    "ISR_ADMIN_TOKEN",
    "ISR_BYPASS_TOKEN",
    "ISR_RENDER_SECRET",
    "ISR_PURGE_CACHE_MS",
];

type Inputs = [Option<String>; 6];

/// What an isolate keeps between requests.
#[derive(Default)]
struct Isolate {
    settings: Option<(Inputs, Rc<Settings>)>,
    purges: PurgeCache,
    secret: Option<String>,
}

#[derive(Default)]
struct PurgeCache {
    state: Rc<PurgeState>,
    /// The Durable Object's sequence number the copy is up to (0: nothing loaded).
    seq: u64,
    /// When the copy was last refreshed (ms), if ever.
    refreshed_at: Option<u64>,
}

thread_local! {
    static ISOLATE: RefCell<Isolate> = RefCell::default();
}

/// A text variable or secret, if set.
pub(crate) fn variable(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

/// The settings for `env`, parsed at most once per isolate and set of variables.
pub(crate) fn load(env: &Env) -> Result<Rc<Settings>, SettingsError> {
    let inputs: Inputs = VARIABLES.map(|name| variable(env, name));
    let cached = ISOLATE.with_borrow(|isolate| {
        isolate
            .settings
            .as_ref()
            .filter(|(seen, _)| *seen == inputs)
            .map(|(_, settings)| Rc::clone(settings))
    });
    if let Some(settings) = cached {
        return Ok(settings);
    }
    let settings = Rc::new(parse(&inputs)?);
    ISOLATE.with_borrow_mut(|isolate| {
        isolate.settings = Some((inputs, Rc::clone(&settings)));
    });
    Ok(settings)
}

fn parse(inputs: &Inputs) -> Result<Settings, SettingsError> {
    let [
        config_text,
        origin,
        admin_token,
        bypass_token,
        render_secret,
        purge_cache_ms,
    ] = inputs;
    let mut config = match config_text {
        Some(text) => Config::from_toml(text, "ISR_CONFIG")?,
        None => Config::from_toml(EMBEDDED_CONFIG, "isr.toml (embedded)")?,
    };
    if let Some(origin) = origin {
        config.origin = Some(isr_core::config::parse_origin(origin).map_err(|error| {
            SettingsError::Variable {
                name: "ISR_ORIGIN",
                message: error.to_string(),
            }
        })?);
    }
    let token = |name: &'static str, value: &Option<String>| {
        value
            .as_deref()
            .map(|v| {
                check_token(v).map_err(|error| SettingsError::Variable {
                    name,
                    message: error.to_string(),
                })
            })
            .transpose()
    };
    if let Some(admin) = token("ISR_ADMIN_TOKEN", admin_token)? {
        config.admin_token = Some(admin);
    }
    if let Some(bypass) = token("ISR_BYPASS_TOKEN", bypass_token)? {
        config.bypass_token = Some(bypass);
    }
    let render_secret = token("ISR_RENDER_SECRET", render_secret)?;
    let purge_cache_ms = match purge_cache_ms {
        Some(ms) => ms.trim().parse().map_err(|_| SettingsError::Variable {
            name: "ISR_PURGE_CACHE_MS",
            message: format!("{ms:?} is not a whole number of milliseconds"),
        })?,
        None => DEFAULT_PURGE_CACHE_MS,
    };
    config
        .validate()
        .map_err(|invalid| SettingsError::Variable {
            name: "ISR_CONFIG",
            message: invalid.to_string(),
        })?;
    Ok(Settings {
        config,
        purge_cache_ms,
        render_secret,
    })
}

/// The purge records, refreshed from the Durable Object when the isolate's copy is older
/// than `max_age_ms`.
pub(crate) async fn purge_state(client: &StateClient, max_age_ms: u64, now: u64) -> Rc<PurgeState> {
    let (state, seq, fresh) = ISOLATE.with_borrow(|isolate| {
        let cache = &isolate.purges;
        let fresh = cache
            .refreshed_at
            .is_some_and(|at| now.saturating_sub(at) < max_age_ms);
        (Rc::clone(&cache.state), cache.seq, fresh)
    });
    if fresh {
        return state;
    }
    let answer = match client.records(seq).await {
        Ok(answer) => answer,
        Err(error) => {
            worker::console_warn!("isr: purge records could not be refreshed: {error}");
            return state;
        }
    };
    ISOLATE.with_borrow_mut(|isolate| {
        let cache = &mut isolate.purges;
        if answer.full {
            cache.state = Rc::new(PurgeState::default());
        }
        let records = Rc::make_mut(&mut cache.state);
        for record in &answer.records {
            if let Some(target) = Target::from_record_name(&record.name) {
                let invalidation = Invalidation {
                    at: isr_core::UnixMillis(record.at),
                    mode: record.mode,
                };
                records.record(&target, invalidation);
            }
        }
        cache.seq = if answer.full {
            answer.seq
        } else {
            cache.seq.max(answer.seq)
        };
        cache.refreshed_at = Some(now);
        Rc::clone(&cache.state)
    })
}

/// Put a purge this isolate just recorded in its copy at once.
pub(crate) fn note_purge(targets: &[Target], invalidation: Invalidation) {
    ISOLATE.with_borrow_mut(|isolate| {
        let records = Rc::make_mut(&mut isolate.purges.state);
        for target in targets {
            records.record(target, invalidation);
        }
    });
}

/// The recursion-guard secret: `ISR_RENDER_SECRET`, else the Durable Object's.
pub(crate) async fn render_secret(
    settings: &Settings,
    client: &StateClient,
) -> worker::Result<String> {
    if let Some(secret) = &settings.render_secret {
        return Ok(secret.clone());
    }
    if let Some(secret) = ISOLATE.with_borrow(|isolate| isolate.secret.clone()) {
        return Ok(secret);
    }
    let secret = client.secret().await?;
    ISOLATE.with_borrow_mut(|isolate| isolate.secret = Some(secret.clone()));
    Ok(secret)
}
