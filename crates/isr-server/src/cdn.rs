//! Forwarding each local purge to the CDN in front (Cloudflare, Fastly), in the background,
//! retried with backoff. What is sent is isr-core's ([`isr_core::cdn`]); this sends it.
//!
//! Invariants:
//! - Never blocking the local purge: the purge is recorded (and visible here) before the
//!   forwarder hears of it, and each request runs in a task of its own.
//! - A request is tried at most [`MAX_ATTEMPTS`] times, waiting [`retry_delay`] between
//!   attempts, and only again after a passing failure ([`should_retry`]); a refusal (a bad
//!   token) is logged at once with the provider's answer, never retried.
//! - Tokens are never logged.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use isr::PurgeObserver;
use isr_core::UnixMillis;
use isr_core::cdn::{CdnRequest, CdnSettings, MAX_ATTEMPTS, forward, retry_delay, should_retry};
use isr_core::freshness::PurgeMode;
use isr_core::purge::Target;
use isr_core::telemetry as names;
use metrics::{Counter, counter};

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

type CdnClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Sends every purge on to the configured CDNs.
pub struct CdnForwarder {
    settings: CdnSettings,
    client: CdnClient,
    counts: Arc<Counts>,
}

/// Outcomes, per provider.
struct Counts {
    cloudflare: ProviderCounts,
    fastly: ProviderCounts,
}

struct ProviderCounts {
    ok: Counter,
    failed: Counter,
    retried: Counter,
}

impl ProviderCounts {
    fn register(provider: &'static str) -> ProviderCounts {
        ProviderCounts {
            ok: counter!(names::CDN_PURGES, "provider" => provider, "result" => "ok"),
            failed: counter!(names::CDN_PURGES, "provider" => provider, "result" => "failed"),
            retried: counter!(names::CDN_RETRIES, "provider" => provider),
        }
    }
}

impl Counts {
    fn of(&self, provider: &str) -> &ProviderCounts {
        if provider == "fastly" {
            &self.fastly
        } else {
            &self.cloudflare
        }
    }
}

impl CdnForwarder {
    /// A forwarder for `settings`, its counters registered with the current recorder;
    /// `None` when no CDN is configured.
    pub fn new(settings: &CdnSettings) -> Result<Option<CdnForwarder>, isr::TlsError> {
        if !settings.forwards() {
            return Ok(None);
        }
        let apis = [
            settings.cloudflare.as_ref().map(|c| c.api.as_str()),
            settings.fastly.as_ref().map(|f| f.api.as_str()),
        ];
        let https = apis.iter().flatten().any(|api| api.starts_with("https://"));
        let client = Client::builder(TokioExecutor::new()).build(isr::connector(https)?);
        Ok(Some(CdnForwarder {
            settings: settings.clone(),
            client,
            counts: Arc::new(Counts {
                cloudflare: ProviderCounts::register("cloudflare"),
                fastly: ProviderCounts::register("fastly"),
            }),
        }))
    }
}

impl PurgeObserver for CdnForwarder {
    fn purged(&self, targets: &[Target], mode: PurgeMode, _at: UnixMillis) {
        for request in forward(&self.settings, targets, mode) {
            let client = self.client.clone();
            let counts = Arc::clone(&self.counts);
            let retry_min_ms = self.settings.retry_min_ms;
            tokio::spawn(async move {
                let counts = counts.of(request.provider);
                if send_with_retries(&client, &request, retry_min_ms, counts).await {
                    counts.ok.increment(1);
                } else {
                    counts.failed.increment(1);
                }
            });
        }
    }
}

/// Send `request` until it succeeds, fails for good, or runs out of attempts.
async fn send_with_retries(
    client: &CdnClient,
    request: &CdnRequest,
    retry_min_ms: u64,
    counts: &ProviderCounts,
) -> bool {
    for attempt in 1..=MAX_ATTEMPTS {
        if attempt > 1 {
            counts.retried.increment(1);
            tokio::time::sleep(Duration::from_millis(retry_delay(attempt, retry_min_ms))).await;
        }
        let (status, answer) = match send(client, request).await {
            Ok((status, answer)) => (Some(status), answer),
            Err(error) => (None, error),
        };
        if status.is_some_and(|status| (200..300).contains(&status)) {
            return true;
        }
        let retry = should_retry(status) && attempt < MAX_ATTEMPTS;
        tracing::warn!(
            provider = request.provider,
            url = request.url,
            status,
            answer,
            attempt,
            retry,
            "the CDN did not take a purge"
        );
        if !retry {
            return false;
        }
    }
    false
}

/// One attempt: the status and (the start of) the answer's body, or why there was none.
async fn send(client: &CdnClient, request: &CdnRequest) -> Result<(u16, String), String> {
    let mut builder = Request::builder()
        .method(request.method.clone())
        .uri(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let body = Full::new(Bytes::from(request.body.clone().unwrap_or_default()));
    let http_request = builder.body(body).map_err(|error| error.to_string())?;
    let exchange = async {
        let response = client
            .request(http_request)
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| error.to_string())?
            .to_bytes();
        let shown = body.get(..body.len().min(300)).unwrap_or_default();
        Ok((status, String::from_utf8_lossy(shown).into_owned()))
    };
    tokio::time::timeout(ATTEMPT_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs()))?
}
