//! Working with a CDN in front of isr: the tag header its answers carry downstream
//! (`Cache-Tag` for Cloudflare, `Surrogate-Key` for Fastly), and the purge requests that
//! carry each local purge on to the CDN, in each provider's documented API format.
//!
//! - [`settings`]: the `[cdn]` table.
//! - [`requests`]: the provider requests one purge becomes, and the retry schedule.
//!
//! Invariants:
//! - A purge is forwarded after it is recorded locally and never delays it: this module
//!   only says what to send; the runtime sends it in the background, retried with
//!   [`requests::retry_delay`] a bounded number of times.
//! - What is sent is built from the purge's targets and the configuration only, every
//!   value escaped for where it goes (JSON bodies by the JSON encoder, URL paths
//!   percent-encoded), so no tag or path can change the request's shape.
//! - A target a provider cannot purge (a Fastly prefix, a raw cache key) is skipped,
//!   never widened into a larger purge.

pub mod requests;
pub mod settings;

pub use requests::{CdnRequest, MAX_ATTEMPTS, forward, retry_delay, should_retry};
pub use settings::{CdnSettings, CloudflareSettings, FastlySettings, TagsHeader};
