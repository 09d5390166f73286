//! [`IsrBuilder`]: configure an [`IsrLayer`] in code, with the same routes and policies as
//! `isr.toml`, or start from an `isr.toml` text.
//!
//! Invariants:
//! - A route added here is a typed [`RouteRule`], checked by the same function as a
//!   `[[route]]` table of the file ([`RouteRule::compile`]); no TOML is written or read.
//! - [`IsrBuilder::build`] fails, never panics, on a configuration that cannot work
//!   ([`Config::validate`]): the error names the route or the setting.

use std::sync::Arc;

pub use isr_core::config::RouteRule;
use isr_core::config::{Config, ConfigError, RoutesError, compile_routes};
use isr_core::policy::Revalidate;
use isr_core::store::PurgeStore;
#[cfg(feature = "redis")]
use isr_store::RedisStore;
use isr_store::{Cluster, DiskStore, MemoryPurges, MemoryStore, TieredStore};

use crate::clock::{Clock, SystemClock};
use crate::service::IsrLayer;

/// Where errors about routes added with [`IsrBuilder::route`] say they are.
const BUILDER_SOURCE: &str = "IsrBuilder::route";

/// Builds an [`IsrLayer`]: configuration (in code or from `isr.toml`), stores and clock.
///
/// ```
/// use isr::{IsrLayer, RouteRule};
///
/// let layer = IsrLayer::builder()
///     .route("/", RouteRule::revalidate(10))
///     .route("/posts/[id]", RouteRule::revalidate(60).tags(["posts", "post:{id}"]))
///     .route("/api/*", RouteRule::pass_through())
///     .bypass_token("a-long-preview-secret")
///     .memory(64 * 1024 * 1024)
///     .build()
///     .expect("valid routes");
/// assert_eq!(layer.config().routes.len(), 3);
///
/// // Or the proxy's own configuration file:
/// let layer = IsrLayer::builder_from_toml(
///     r#"
///     [[route]]
///     path = "/blog/[slug]"
///     revalidate = 60
///     tags = ["blog", "post:{slug}"]
///     "#,
/// )
/// .expect("valid isr.toml")
/// .build()
/// .expect("valid routes");
/// assert_eq!(layer.config().routes.len(), 1);
/// ```
pub struct IsrBuilder {
    config: Config,
    routes: Vec<(String, RouteRule)>,
    store: Option<Arc<TieredStore>>,
    purges: Option<Arc<dyn PurgeStore>>,
    cluster: Option<Arc<dyn Cluster>>,
    clock: Arc<dyn Clock>,
}

impl IsrLayer {
    /// Configure a layer in code, starting from the defaults.
    pub fn builder() -> IsrBuilder {
        IsrBuilder::from_config(Config::default())
    }

    /// Configure a layer from `isr.toml` text (the proxy's file; `origin`, `listen` and
    /// `cache_dir` are unused by the layer).
    pub fn builder_from_toml(source: &str) -> Result<IsrBuilder, ConfigError> {
        Ok(IsrBuilder::from_config(Config::from_toml(
            source, "isr.toml",
        )?))
    }
}

impl IsrBuilder {
    /// Start from a parsed configuration.
    pub fn from_config(config: Config) -> IsrBuilder {
        IsrBuilder {
            config,
            routes: Vec::new(),
            store: None,
            purges: None,
            cluster: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Cache requests matching `pattern` (`/posts/[id]`, `/docs/[...rest]`, `/assets/*`,
    /// as in `isr.toml`) by `rule`. Requests no route matches are cached only if the app
    /// allows a shared cache to keep them (`Cache-Control: s-maxage=…`).
    pub fn route(mut self, pattern: impl Into<String>, rule: RouteRule) -> IsrBuilder {
        self.routes.push((pattern.into(), rule));
        self
    }

    /// Revalidate time of matched routes that neither set one nor get one from the app.
    pub fn revalidate(mut self, secs: u64) -> IsrBuilder {
        self.config.defaults.revalidate = Revalidate::After(secs.max(1));
        self
    }

    /// A secret that, sent as the `x-isr-bypass` header or `__isr_bypass` cookie, sends a
    /// request straight to the app, never stored (drafts, previews).
    pub fn bypass_token(mut self, token: impl Into<String>) -> IsrBuilder {
        self.config.bypass_token = Some(token.into());
        self
    }

    /// The build id part of every key: a new deploy starts from an empty cache.
    pub fn build_id(mut self, build_id: impl Into<String>) -> IsrBuilder {
        self.config.build_id = build_id.into();
        self
    }

    /// Change anything else in the configuration.
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> IsrBuilder {
        change(&mut self.config);
        self
    }

    /// Keep entries in memory only, at most `bytes` of them (the default store, sized by
    /// the configuration's `memory`).
    pub fn memory(mut self, bytes: u64) -> IsrBuilder {
        self.config.memory_bytes = bytes;
        self.store = None;
        self
    }

    /// Keep entries in memory in front of the embedded on-disk store, and record purges
    /// there too, so both survive a restart (call [`IsrLayer::restore_purges`]). Call
    /// [`DiskStore::sweep`] now and then to drop the entries that can never be served
    /// again (`isr serve` does every 10 minutes), and open the store with
    /// [`DiskStore::open_with_budget`] to bound its size.
    pub fn disk(mut self, disk: Arc<DiskStore>) -> IsrBuilder {
        let memory = Arc::new(MemoryStore::new(self.config.memory_bytes));
        self.store = Some(Arc::new(TieredStore::new(memory, Arc::clone(&disk) as _)));
        self.purges = Some(disk);
        self
    }

    #[cfg(feature = "redis")]
    /// Share entries, purges and render locks with every node using the same Redis (and
    /// prefix): entries in memory in front of Redis, one render per key across all nodes,
    /// purges announced to every node. While Redis is unreachable the layer answers from
    /// memory and the app. [`IsrBuilder::build`] must then run within a Tokio runtime.
    pub fn redis(mut self, redis: Arc<RedisStore>) -> IsrBuilder {
        let memory = Arc::new(MemoryStore::new(self.config.memory_bytes));
        let shared = TieredStore::new(memory, Arc::clone(&redis) as _);
        self.store = Some(Arc::new(shared));
        self.purges = None;
        self.cluster = Some(redis);
        self
    }

    /// Keep entries in `store`.
    pub fn store(mut self, store: Arc<TieredStore>) -> IsrBuilder {
        self.store = Some(store);
        self
    }

    /// Record purges in `purges` (default: in memory; with [`IsrBuilder::redis`], in Redis).
    pub fn purges(mut self, purges: Arc<dyn PurgeStore>) -> IsrBuilder {
        self.purges = Some(purges);
        self
    }

    /// Read the time from `clock` (tests move a [`crate::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> IsrBuilder {
        self.clock = clock;
        self
    }

    /// The layer. Fails on an invalid route (pattern, tag, settings), on two routes that
    /// conflict, and on routes given both in the configuration and with
    /// [`IsrBuilder::route`].
    pub fn build(self) -> Result<IsrLayer, ConfigError> {
        let mut config = self.config;
        if !self.routes.is_empty() {
            if !config.routes.is_empty() {
                return Err(ConfigError::unplaced(
                    BUILDER_SOURCE,
                    "routes come from the configuration file and from IsrBuilder::route: use one",
                ));
            }
            config.routes = build_routes(&self.routes)?;
        }
        config.validate().map_err(|invalid| {
            let name = format!("`{}`", invalid.setting.key());
            ConfigError::setting(BUILDER_SOURCE, &name, invalid)
        })?;
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(TieredStore::memory_only(config.memory_bytes)));
        if let Some(cluster) = self.cluster {
            return Ok(IsrLayer::clustered(config, store, cluster, self.clock));
        }
        let purges = self
            .purges
            .unwrap_or_else(|| Arc::new(MemoryPurges::new()) as Arc<dyn PurgeStore>);
        Ok(IsrLayer::with_clock(config, store, purges, self.clock))
    }
}

/// The routes added with [`IsrBuilder::route`], each checked alone (an error names its
/// route), then together (for conflicts).
fn build_routes(
    routes: &[(String, RouteRule)],
) -> Result<isr_core::route::Router<isr_core::config::Route>, ConfigError> {
    let rules = routes
        .iter()
        .map(|(pattern, rule)| (pattern.as_str(), rule));
    compile_routes(rules).map_err(|error| {
        let key = match &error {
            RoutesError::Route { error, .. } => error.key.name(),
            RoutesError::Conflict(_) => "route.path",
        };
        let mut error = ConfigError::unplaced(BUILDER_SOURCE, error.to_string());
        error.key = Some(key.to_owned());
        error
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_checked_like_the_toml_file() {
        let error = IsrLayer::builder()
            .route("/posts/[id]", RouteRule::revalidate(60).tag("post:{slug}"))
            .build()
            .err()
            .expect("an unknown tag parameter is an error");
        assert!(error.message.contains("/posts/[id]"), "{error}");
        assert!(error.message.contains("slug"), "{error}");

        let error = IsrLayer::builder()
            .route("/a/[x]", RouteRule::revalidate(1))
            .route("/a/[y]", RouteRule::revalidate(2))
            .build()
            .err()
            .expect("conflicting routes are an error");
        assert!(error.message.contains("/a/[x]"), "{error}");

        let error = IsrLayer::builder()
            .route("/p", RouteRule::pass_through().tag("t"))
            .build()
            .err()
            .expect("tags on a pass-through route are an error");
        assert!(error.message.contains("tags"), "{error}");
    }

    #[test]
    fn a_built_route_is_what_the_same_toml_gives() {
        let built = IsrLayer::builder()
            .route(
                "/blog/[slug]",
                RouteRule::revalidate(60)
                    .expire(3600)
                    .stale_if_error(600)
                    .tags(["blog", "post:{slug}"])
                    .query(["page"]),
            )
            .build()
            .unwrap();
        let parsed = Config::from_toml(
            r#"
            [[route]]
            path = "/blog/[slug]"
            revalidate = 60
            expire = 3600
            stale_if_error = 600
            tags = ["blog", "post:{slug}"]
            query = ["page"]
            "#,
            "isr.toml",
        )
        .unwrap();
        let built = built.config().routes.at("/blog/x").unwrap();
        let parsed = parsed.routes.at("/blog/x").unwrap();
        assert_eq!(built.value, parsed.value);
        assert_eq!(built.params, parsed.params);
    }

    /// The largest value of every setting: the layer starts, renders, stores and hits.
    #[tokio::test]
    async fn the_largest_values_start_and_serve() {
        use isr_core::config::{MAX_CONCURRENCY, MAX_DURATION_SECS};
        use tower::{Layer, ServiceExt};

        let longest_ms = MAX_DURATION_SECS * 1000;
        let layer = IsrLayer::builder()
            .route(
                "/",
                RouteRule::revalidate(MAX_DURATION_SECS)
                    .expire(MAX_DURATION_SECS)
                    .stale_if_error(MAX_DURATION_SECS),
            )
            .memory(u64::MAX)
            .configure(|config| {
                config.engine = isr_core::config::EngineSettings {
                    lock_timeout_ms: longest_ms,
                    render_timeout_ms: longest_ms,
                    regenerate_concurrency: MAX_CONCURRENCY,
                    retry_min_ms: longest_ms,
                    retry_max_ms: longest_ms,
                    max_entry_bytes: u64::MAX,
                };
                config.defaults.stale_if_error = MAX_DURATION_SECS;
            })
            .build()
            .expect("the largest values are valid");
        let app = tower::service_fn(|_: http::Request<crate::Body>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(crate::Body::from("page")))
        });
        let service = layer.layer(app);
        for expected in ["MISS", "HIT"] {
            let request = http::Request::get("/").body(crate::Body::empty()).unwrap();
            let response = service.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), http::StatusCode::OK);
            let cache = &response.headers()[isr_core::headers::X_ISR_CACHE];
            assert_eq!(cache, expected);
        }
    }

    #[test]
    fn a_value_that_cannot_work_is_an_error_naming_its_key() {
        let error = IsrLayer::builder()
            .configure(|config| config.engine.regenerate_concurrency = usize::MAX)
            .build()
            .err()
            .expect("refused");
        assert_eq!(error.key.as_deref(), Some("cache.regenerate_concurrency"));
        assert!(
            error.message.contains("`cache.regenerate_concurrency`"),
            "{error}"
        );
        let error = IsrLayer::builder()
            .revalidate(u64::MAX)
            .build()
            .err()
            .expect("refused");
        assert!(
            error.message.contains("`cache.revalidate`: is too long"),
            "{error}"
        );
    }

    #[test]
    fn odd_strings_are_kept_as_written() {
        let layer = IsrLayer::builder()
            .route("/q", RouteRule::revalidate(5).tag("a\"b\\c ] = x"))
            .build()
            .unwrap();
        let route = layer.config().routes.at("/q").unwrap();
        assert_eq!(route.value.tags[0].as_str(), "a\"b\\c ] = x");
    }
}
