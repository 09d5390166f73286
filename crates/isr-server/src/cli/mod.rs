//! The command line: the commands and their flags, parsed by clap.
//!
//! - [`serve`]: `isr serve`'s flags, and how they combine with the environment and the
//!   config file into one configuration.
//! - [`client`]: the flags of the commands that talk to a running isr (`purge`, `stats`,
//!   `entries`, `warm`, `build`).
//! - [`limits`]: `isr serve`'s flags for client connections and the graceful stop.
//! - [`parse`]: the value parsers every flag's value goes through, and their error.
//!
//! Invariant: every flag has help, and every `serve` flag its `ISR_*` environment variable
//! (tested below and in [`serve`]).

pub(crate) mod client;
pub(crate) mod limits;
pub(crate) mod parse;
pub(crate) mod serve;

use clap::{Args, Parser, Subcommand};
use isr_core::config::parse_listen;

use client::{BuildArgs, EntriesArgs, PurgeArgs, StatsArgs, WarmArgs};
use serve::ServeArgs;

/// Incremental Static Regeneration for any server-rendered site.
///
/// isr is a caching reverse proxy. Put it in front of an SSR origin and it serves each page
/// from its cache, regenerating stale pages in the background while the stale copy is
/// served, like Next.js ISR but for any origin.
#[derive(Debug, Parser)]
#[command(name = "isr", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
// Parsed once at startup, so the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the caching proxy in front of an origin.
    ///
    /// Settings come from flags, then ISR_* environment variables, then the config file
    /// (--config), then the defaults. Only the origin is required.
    Serve(ServeArgs),
    /// Run a self-contained demo: a toy origin with isr in front of it.
    Demo(DemoArgs),
    /// Purge pages from a running isr's cache, by path, tag, prefix or cache key (admin
    /// API).
    ///
    /// By default a purge is soft: the pages are marked stale, so the next request still
    /// gets the old page at once while one regeneration runs. --hard deletes them instead.
    Purge(PurgeArgs),
    /// Show a running isr's cache statistics (admin API).
    Stats(StatsArgs),
    /// List the pages in a running isr's cache (admin API).
    Entries(EntriesArgs),
    /// Fill a running isr's cache by requesting pages through it.
    ///
    /// Each page is an ordinary GET through the proxy: a fresh cached page is a HIT and is
    /// left alone, a missing one is rendered. Pages come from the PATH arguments and from
    /// sitemaps (--sitemap).
    Warm(WarmArgs),
    /// Show or switch the build a running isr serves (admin API): a deploy without a
    /// restart.
    Build(BuildArgs),
}

/// Flags of `isr demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// The address the demo's isr listens on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", value_parser = parse_listen)]
    pub(crate) listen: String,

    /// Run the scripted MISS → HIT → STALE → regenerated sequence, print it, and exit.
    ///
    /// Without it, the demo keeps running so you can try it with curl or a browser.
    #[arg(long)]
    pub(crate) walkthrough: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_is_documented() {
        let mut command = Cli::command();
        command.build();
        for sub in command.get_subcommands() {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
            for arg in sub.get_arguments() {
                assert!(
                    arg.get_help().is_some(),
                    "{} --{:?} has no help",
                    sub.get_name(),
                    arg.get_long()
                );
            }
        }
    }

    #[test]
    fn demo_flags() {
        let cli = Cli::try_parse_from(["isr", "demo"]).expect("parses");
        let Command::Demo(demo) = cli.command else {
            panic!("expected demo")
        };
        assert_eq!(demo.listen, "127.0.0.1:8080");
        assert!(!demo.walkthrough);
        let cli = Cli::try_parse_from(["isr", "demo", "--walkthrough", "--listen", "127.0.0.1:0"])
            .expect("parses");
        let Command::Demo(demo) = cli.command else {
            panic!("expected demo")
        };
        assert_eq!(demo.listen, "127.0.0.1:0");
        assert!(demo.walkthrough);
        let error = Cli::try_parse_from(["isr", "demo", "--listen", "nope"]).expect_err("bad");
        assert!(error.to_string().contains("--listen"), "{error}");
    }

    #[test]
    fn client_commands() {
        let parse = |args: &[&str]| Cli::try_parse_from(["isr"].iter().chain(args));
        let Command::Purge(purge) = parse(&[
            "purge",
            "--admin-token=t",
            "--path=/a",
            "--path=/b?x=1",
            "--tag=blog",
            "--hard",
        ])
        .expect("parses")
        .command
        else {
            panic!("expected purge")
        };
        assert_eq!(purge.paths, ["/a", "/b?x=1"]);
        assert_eq!(purge.tags, ["blog"]);
        assert!(purge.hard && !purge.all);
        assert_eq!(purge.admin.server.url, client::DEFAULT_URL);
        assert!(!format!("{purge:?}").contains("admin_token: Secret(\"t\")"));
        let Command::Purge(purge) = parse(&[
            "purge",
            "--admin-token=t",
            "--key=v1|site|/a",
            "--key",
            "v1|site|/b",
        ])
        .expect("a purge by key alone parses")
        .command
        else {
            panic!("expected purge")
        };
        assert_eq!(purge.keys, ["v1|site|/a", "v1|site|/b"]);
        for bad in [
            &["purge", "--admin-token=t"][..],
            &["purge", "--path=/a"],
            &["purge", "--admin-token=t", "--all", "--tag=x"],
            &["purge", "--admin-token=t", "--all", "--key=k"],
            &["purge", "--admin-token=t", "--key="],
            &["purge", "--admin-token=t", "--path=a"],
            &["stats", "--admin-token=t", "--url=https://x"],
            &["stats", "--admin-token=t", "--url=http://x/app"],
            &["entries", "--admin-token=t", "--limit=0"],
            &["warm"],
            &["warm", "--concurrency=0", "/a"],
            &["warm", "ftp://x/a"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        let Command::Warm(warm) = parse(&["warm", "https://example.com/a?b=1", "/c"])
            .expect("parses")
            .command
        else {
            panic!("expected warm")
        };
        assert_eq!(warm.paths, ["/a?b=1", "/c"]);
        assert_eq!(warm.concurrency, 4);
    }

    #[test]
    fn a_subcommand_is_required() {
        assert!(Cli::try_parse_from(["isr"]).is_err());
    }
}
