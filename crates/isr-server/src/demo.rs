//! `isr demo`: a small bundled origin behind the proxy, and a scripted walkthrough showing
//! MISS → HIT → STALE → regenerated. Needs nothing installed and writes only to a
//! temporary directory, which it removes.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use isr::{Body, BoxError};
use isr_core::UnixMillis;
use isr_core::config::{Config, ConfigError};
use isr_core::headers::{X_ISR_CACHE, http_date};
use tokio::net::TcpListener;

use crate::proxy::{Proxy, StartError};

/// The demo's routes, in the same `isr.toml` format users write.
pub const DEMO_CONFIG: &str = r#"
# /blog/<slug>: fresh for 3 s, then served stale while one regeneration runs.
[[route]]
path = "/blog/[slug]"
revalidate = 3
expire = 3600
tags = ["blog", "post:{slug}"]

# /account is personal: never cached.
[[route]]
path = "/account"
revalidate = 0
"#;

/// How long the demo origin takes per render, so a hit is visibly faster than a render.
const RENDER_DELAY: Duration = Duration::from_millis(300);
const WALKTHROUGH_PATH: &str = "/blog/hello";

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The demo's own configuration is refused (a bug).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The proxy cannot start (the address is taken...).
    #[error(transparent)]
    Start(#[from] StartError),
    /// The origin cannot listen, or the temporary directory cannot be made.
    #[error("demo origin: {0}")]
    Io(#[from] std::io::Error),
    /// A request of the walkthrough failed.
    #[error("walkthrough request failed")]
    Request(#[source] BoxError),
}

/// Run the demo: origin, proxy on `listen`, walkthrough; then keep serving until Ctrl-C,
/// or stop right away when `walkthrough_only`.
pub async fn run(listen: &str, walkthrough_only: bool) -> Result<(), DemoError> {
    let origin = TcpListener::bind("127.0.0.1:0").await?;
    let origin_addr = origin.local_addr()?;
    let renders = Arc::new(AtomicU64::new(0));
    tokio::spawn(serve_origin(origin, Arc::clone(&renders)));

    let cache_dir = TempDir::new()?;
    let mut config = Config::from_toml(DEMO_CONFIG, "demo.toml")?;
    config.origin = Some(format!("http://{origin_addr}"));
    config.listen = listen.to_owned();
    config.cache_dir = cache_dir.0.display().to_string();
    let proxy = Proxy::from_config(config).await?;
    let listener = proxy.bind().await?;
    let proxy_addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(proxy.serve(listener, async {
        let _ = stopped.await;
    }));

    println!("isr demo");
    println!(
        "  origin (renders take {} ms): http://{origin_addr}",
        RENDER_DELAY.as_millis()
    );
    println!("  isr, in front of it:          http://{proxy_addr}");
    println!();
    walkthrough(proxy_addr, &renders).await?;
    if !walkthrough_only {
        println!();
        println!(
            "Open http://{proxy_addr}{WALKTHROUGH_PATH} and reload: HIT for 3 s, then one STALE"
        );
        println!("answer while the page regenerates, then HIT with the new render.");
        println!("Also try http://{proxy_addr}/ (steered by the origin's Cache-Control) and");
        println!("http://{proxy_addr}/account (personal: BYPASS). Ctrl-C stops.");
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop.send(());
    let _ = server.await;
    Ok(())
}

async fn walkthrough(proxy: std::net::SocketAddr, renders: &AtomicU64) -> Result<(), DemoError> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let url = format!("http://{proxy}{WALKTHROUGH_PATH}");
    let fetch = || async {
        let started = Instant::now();
        let request = Request::get(&url)
            .body(Body::empty())
            .map_err(|e| DemoError::Request(e.into()))?;
        let response = client
            .request(request)
            .await
            .map_err(|e| DemoError::Request(e.into()))?;
        let status = response
            .headers()
            .get(X_ISR_CACHE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?")
            .to_owned();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| DemoError::Request(e.into()))?
            .to_bytes();
        let page = String::from_utf8_lossy(&body);
        let render = page
            .split("render #")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("?")
            .trim_end_matches(|c: char| !c.is_ascii_digit())
            .to_owned();
        Ok::<_, DemoError>((status, render, started.elapsed()))
    };
    let show = |what: &str, (status, render, took): &(String, String, Duration)| {
        println!(
            "  {what:<34} x-isr-cache: {status:<6} page: render #{render:<3} {:>6.1} ms   origin renders so far: {}",
            took.as_secs_f64() * 1000.0,
            renders.load(Ordering::SeqCst)
        );
    };
    println!("Walkthrough, GET {WALKTHROUGH_PATH} (revalidate = 3 s):");
    show("1. first request renders", &fetch().await?);
    show("2. again: served from cache", &fetch().await?);
    println!("     ... waiting 3 s for the page to become stale ...");
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    show("3. stale: old page now, re-render", &fetch().await?);
    // The regeneration runs in the background; wait for it to land.
    let mut answer = fetch().await?;
    for _ in 0..50 {
        if answer.0 == "HIT" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        answer = fetch().await?;
    }
    show("4. regenerated: the new render", &answer);
    Ok(())
}

/// The demo origin: a tiny "SSR app" that counts its renders.
async fn serve_origin(listener: TcpListener, renders: Arc<AtomicU64>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let renders = Arc::clone(&renders);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let renders = Arc::clone(&renders);
                async move { Ok::<_, Infallible>(render_page(request.uri().path(), &renders).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn render_page(path: &str, renders: &AtomicU64) -> Response<Full<Bytes>> {
    tokio::time::sleep(RENDER_DELAY).await;
    let render = renders.fetch_add(1, Ordering::SeqCst) + 1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    let rendered_at = http_date(UnixMillis(now));
    let rendered_at = rendered_at.to_str().unwrap_or("now");
    let (status, cache_control, extra) = match path {
        "/" => (
            StatusCode::OK,
            "public, s-maxage=5, stale-while-revalidate=60",
            "The origin steers this page with Cache-Control: s-maxage=5, stale-while-revalidate=60.",
        ),
        "/account" => (
            StatusCode::OK,
            "private, no-store",
            "Your personal page: never cached.",
        ),
        // No Cache-Control: the route in DEMO_CONFIG decides.
        p if p.starts_with("/blog/") => (
            StatusCode::OK,
            "",
            "A blog post: isr.toml gives it revalidate = 3.",
        ),
        _ => (StatusCode::NOT_FOUND, "no-store", "Not found."),
    };
    let body = format!(
        "<!doctype html><html><head><title>isr demo</title></head><body>\
         <h1>{path}</h1><p>{extra}</p><p>render #{render} at {rendered_at}</p></body></html>\n"
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if !cache_control.is_empty() {
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static(cache_control),
        );
    }
    response
}

/// A directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("isr-demo-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
