//! The flags of the client commands, which talk to a running isr: `purge`, `stats` and
//! `entries` (the admin API, with its token) and `warm` (ordinary requests through it).

use clap::{ArgGroup, Args};
use isr_core::config::parse_non_empty;

use super::parse::{
    Secret, parse_cache_key, parse_concurrency, parse_page_or_url, parse_page_path,
    parse_server_url, secret,
};

/// Where the client commands find isr when --url is not given.
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The running isr a client command talks to.
#[derive(Debug, Args)]
pub(crate) struct ServerUrl {
    /// The running isr, like http://127.0.0.1:8080 (http only).
    #[arg(long, env = "ISR_URL", value_name = "URL", default_value = DEFAULT_URL, value_parser = parse_server_url)]
    pub(crate) url: String,
}

/// How the admin commands reach and authenticate to a running isr.
#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    #[command(flatten)]
    pub(crate) server: ServerUrl,

    /// The admin API's bearer token: the --admin-token isr serve was started with.
    ///
    /// Prefer ISR_ADMIN_TOKEN to the flag: a flag is visible in the process list.
    #[arg(long, env = "ISR_ADMIN_TOKEN", value_name = "TOKEN", hide_env_values = true, value_parser = secret, required = true)]
    pub(crate) admin_token: Secret,

    /// Print the server's JSON answer instead of readable lines.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Flags of `isr purge`.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("target")
        .args(["paths", "tags", "prefixes", "keys", "all"])
        .required(true)
        .multiple(true)
))]
pub(crate) struct PurgeArgs {
    /// Purge this page, like /blog/hello (with its query, if it has one). Repeatable.
    #[arg(long = "path", value_name = "PATH", value_parser = parse_page_path)]
    pub(crate) paths: Vec<String>,

    /// Purge every page with this tag. Repeatable.
    #[arg(long = "tag", value_name = "TAG", value_parser = parse_non_empty)]
    pub(crate) tags: Vec<String>,

    /// Purge every page whose path starts with this, like /docs. Repeatable.
    #[arg(long = "prefix", value_name = "PREFIX", value_parser = parse_page_path)]
    pub(crate) prefixes: Vec<String>,

    /// Purge the one entry stored under this cache key: one variant (encoding, keyed
    /// query, host) of one path, as `isr entries --json` lists it. Repeatable.
    #[arg(long = "key", value_name = "KEY", value_parser = parse_cache_key)]
    pub(crate) keys: Vec<String>,

    /// Clear the whole cache.
    #[arg(long, conflicts_with_all = ["paths", "tags", "prefixes", "keys", "hard", "regenerate", "if_cached"])]
    pub(crate) all: bool,

    /// Delete the pages instead of marking them stale: the next request waits for a render.
    #[arg(long)]
    pub(crate) hard: bool,

    /// Re-render the purged paths (--path) now instead of on their next request.
    #[arg(long)]
    pub(crate) regenerate: bool,

    /// Only purge the paths that are cached; the others are reported as skipped.
    #[arg(long)]
    pub(crate) if_cached: bool,

    #[command(flatten)]
    pub(crate) admin: AdminArgs,
}

/// Flags of `isr stats`.
#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    #[command(flatten)]
    pub(crate) admin: AdminArgs,
}

/// Flags of `isr entries`.
#[derive(Debug, Args)]
pub(crate) struct EntriesArgs {
    /// Only the pages whose path starts with this, like /blog.
    #[arg(long, value_name = "PREFIX", value_parser = parse_page_path)]
    pub(crate) prefix: Option<String>,

    /// Print one page of at most N entries (and the cursor of the next) instead of all.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) limit: Option<u32>,

    /// Start from this cursor (printed by an earlier --limit listing).
    #[arg(long, value_name = "CURSOR", value_parser = parse_non_empty)]
    pub(crate) cursor: Option<String>,

    #[command(flatten)]
    pub(crate) admin: AdminArgs,
}

/// Flags of `isr warm`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("pages").args(["paths", "sitemaps"]).required(true).multiple(true)))]
pub(crate) struct WarmArgs {
    /// Pages to request, like /blog/hello (or a full URL: its path and query are used).
    #[arg(value_name = "PATH", value_parser = parse_page_or_url)]
    pub(crate) paths: Vec<String>,

    /// Request every page of this sitemap: an XML file or an http:// or https:// URL (its
    /// certificate checked against the system's CA certificates). Repeatable.
    ///
    /// Every <loc> is used, as its path and query. Sitemap indexes are followed, at most
    /// 3 levels deep; a nested sitemap named by a full URL is fetched through isr (--url)
    /// unless it is on the same scheme and host as the sitemap that names it, and a
    /// relative one is relative to that sitemap.
    #[arg(long = "sitemap", value_name = "URL|FILE", value_parser = parse_non_empty)]
    pub(crate) sitemaps: Vec<String>,

    /// How many requests at once.
    #[arg(long, value_name = "N", default_value = "4", value_parser = parse_concurrency)]
    pub(crate) concurrency: usize,

    /// The Accept-Encoding sent. It does not change what is warmed: one render leaves a
    /// page ready for every client, as isr stores it with its br, zstd and gzip
    /// representations; it only sets which of them warm reads back (browsers' by default).
    #[arg(long, value_name = "VALUE", default_value = "gzip, deflate, br, zstd")]
    pub(crate) accept_encoding: String,

    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,

    /// Fill the pages of this build instead of the one served, so it can be switched to
    /// warm (`isr build switch ID`); visitors keep getting the served build meanwhile.
    /// Needs --admin-token. The renders go to the origin isr is configured with: start
    /// the new build there first.
    #[arg(long, value_name = "ID", value_parser = parse_non_empty)]
    pub(crate) build: Option<String>,

    /// The admin token, for --build (prefer ISR_ADMIN_TOKEN to the flag).
    #[arg(long, env = "ISR_ADMIN_TOKEN", value_name = "TOKEN", hide_env_values = true, value_parser = secret)]
    pub(crate) admin_token: Option<Secret>,

    #[command(flatten)]
    pub(crate) server: ServerUrl,
}

/// Flags of `isr build`.
#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    #[command(subcommand)]
    pub(crate) action: BuildAction,
}

/// What `isr build` does.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum BuildAction {
    /// Show the build served now, and the builds it replaced.
    Show(BuildShowArgs),
    /// Serve another build from now on, on every node (a deploy without a restart).
    ///
    /// Every request is then keyed under the new build, so no page of the old one is
    /// served again; fill the new build first with `isr warm --build ID`.
    Switch(BuildSwitchArgs),
}

/// Flags of `isr build show`.
#[derive(Debug, Args)]
pub(crate) struct BuildShowArgs {
    #[command(flatten)]
    pub(crate) admin: AdminArgs,
}

/// Flags of `isr build switch`.
#[derive(Debug, Args)]
pub(crate) struct BuildSwitchArgs {
    /// The build to serve from now on (a Next.js BUILD_ID, a deployment id, a git sha).
    #[arg(value_name = "ID", value_parser = parse_non_empty)]
    pub(crate) id: String,

    #[command(flatten)]
    pub(crate) admin: AdminArgs,
}
