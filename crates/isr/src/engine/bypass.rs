//! A request that may not be cached: forwarded to the origin body and all, its answer
//! passed back, nothing stored ([`isr_core::flow::bypass`] prepares both).
//!
//! Invariants:
//! - The forwarded request carries the recursion guard, and the client's `Host` only when
//!   the host is keyed.
//! - The answer is marked `BYPASS` (a draft one `private, no-store`); an origin that does
//!   not answer within the render timeout is a `504`, one that cannot be reached a `502`.
//! - A successful unsafe request hard-purges the paths it invalidates
//!   ([`isr_core::flow::invalidate`]) before its answer is sent, on every node.

use std::sync::Arc;
use std::time::Duration;

use http::header::HOST;
use http::request::Parts;
use http::{Request, Response, Uri};
use isr_core::flow::answer::{ErrorAnswer, keeps_body};
use isr_core::flow::bypass::{finish_answer, forward_headers, unforwardable};
use isr_core::flow::invalidate::invalidated_paths;
use isr_core::flow::render::OriginError;
use isr_core::freshness::PurgeMode;
use isr_core::headers::CacheStatus;
use isr_core::purge::Target;

use crate::body::Body;
use crate::engine::respond::error_response;
use crate::engine::shared::Engine;
use crate::render::Unreachable;

impl Engine {
    /// Forward a request that may not be cached, body and all; store nothing.
    pub(super) async fn bypass(
        self: Arc<Self>,
        mut parts: Parts,
        body: Body,
        target: String,
        draft: bool,
    ) -> Response<Body> {
        let keeps_body = keeps_body(&parts.method);
        let Ok(uri) = target.parse::<Uri>() else {
            return error_response(&unforwardable());
        };
        let method = parts.method.clone();
        let path = parts.uri.path().to_owned();
        let host = parts
            .headers
            .get(HOST)
            .and_then(|host| host.to_str().ok())
            .map(str::to_owned);
        parts.uri = uri;
        let key_host = self.shared.config.key_host;
        parts.headers = forward_headers(parts.headers, key_host, self.shared.secret.clone());
        let request = Request::from_parts(parts, body);
        let timeout = Duration::from_millis(self.shared.config.engine.render_timeout_ms);
        let answer = tokio::time::timeout(timeout, self.renderer.call(request)).await;
        let mut response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                let error = OriginError::Unreachable(Unreachable(error));
                return error_response(&ErrorAnswer::origin(&error, CacheStatus::Bypass));
            }
            Err(_) => {
                let error = OriginError::<Unreachable>::Timeout(timeout);
                return error_response(&ErrorAnswer::origin(&error, CacheStatus::Bypass));
            }
        };
        let status = response.status();
        finish_answer(response.headers_mut(), status, draft);
        let invalidated = invalidated_paths(
            &self.shared.config,
            &method,
            &path,
            host.as_deref(),
            response.status(),
            response.headers(),
        );
        if !invalidated.is_empty() {
            // Before the answer goes: the client's next request must not see the old page.
            let targets: Vec<Target> = invalidated.into_iter().map(Target::Path).collect();
            if let Err(error) = self.shared.purge(&targets, PurgeMode::Hard).await {
                tracing::warn!(%error, path, "could not invalidate after an unsafe request");
            }
        }
        self.shared.counters.answered(CacheStatus::Bypass);
        if !keeps_body {
            *response.body_mut() = Body::empty();
        }
        response
    }
}
