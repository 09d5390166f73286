//! `isr`: the command line. Parsing lives in `cli/`, the client commands in
//! `admin_client/` and `warm.rs`; the server lives in the library (`isr_server`), so the
//! integration tests start the same proxy this binary starts.
//!
//! This is the binary's edge: every command's typed error becomes one `anyhow` error here,
//! printed on one line with its causes.

mod admin_client;
mod cli;
mod http_client;
mod warm;

use std::num::NonZeroUsize;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command};
use isr_core::config::LogFormat;
use isr_server::connections::ConnectionLimits;
use isr_server::observe::listener;
use isr_server::proxy::{Proxy, Stop};
use tokio::runtime::{self, Runtime};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain on one line and never a backtrace: this is
            // what a person reads when isr refuses to start.
            eprintln!("isr: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = args.load()?;
            init_logging_as(&args.log, config.ops.log_format)?;
            let threads = config.threads.unwrap_or_else(cores);
            runtime(threads)?.block_on(serve(config, args.limits.limits(), threads))
        }
        Command::Demo(args) => {
            init_logging("warn")?;
            runtime(cores())?.block_on(isr_server::demo::run(&args.listen, args.walkthrough))?;
            Ok(())
        }
        // Client commands: no logging set up, their output is what they print.
        Command::Purge(args) => Ok(runtime(cores())?.block_on(admin_client::purge(&args))?),
        Command::Stats(args) => Ok(runtime(cores())?.block_on(admin_client::stats(&args))?),
        Command::Entries(args) => Ok(runtime(cores())?.block_on(admin_client::entries(&args))?),
        Command::Warm(args) => Ok(runtime(cores())?.block_on(warm::run(&args))?),
        Command::Build(args) => Ok(runtime(cores())?.block_on(admin_client::build(&args))?),
    }
}

/// The cores this process may run on (after `taskset` and container CPU limits).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// A runtime of `threads` worker threads. One thread gets the single-threaded runtime:
/// with no work to steal or hand over, it serves more hits per core, with a shorter tail,
/// than a multi-threaded runtime of one worker (docs/benchmarks.md).
fn runtime(threads: usize) -> anyhow::Result<Runtime> {
    let mut builder = if threads == 1 {
        runtime::Builder::new_current_thread()
    } else {
        let mut builder = runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    init_logging_as(filter, LogFormat::Text)
}

fn init_logging_as(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)
        .with_context(|| format!("--log {filter:?} is not a valid log filter"))?;
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    report_store_damage_once();
    Ok(())
}

/// The embedded database panics on pages damaged outside it; the disk store catches those
/// panics and treats the page as missing. Instead of a panic message for each, say once
/// (as a warning) that the cache file is damaged, and the rest at debug level. Every
/// other panic is printed as usual.
fn report_store_damage_once() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static SAID: AtomicBool = AtomicBool::new(false);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let Some(location) = info.location().filter(|at| at.file().contains("/redb-")) else {
            default(info);
            return;
        };
        if SAID.swap(true, Ordering::Relaxed) {
            tracing::debug!(%location, "damaged page in the cache file");
        } else {
            tracing::warn!(
                %location,
                "the cache file is damaged: its damaged pages are skipped (and rendered \
                 again); deleting the cache file is safe, it holds only cached pages"
            );
        }
    }));
}

/// Serve until a stop signal, then stop gracefully; a second signal stops at once.
async fn serve(
    config: isr_core::config::Config,
    limits: ConnectionLimits,
    threads: usize,
) -> anyhow::Result<()> {
    let origin = config.origin.clone().unwrap_or_default();
    let proxy = Proxy::from_config(config).await?;
    let listener = proxy.bind().await?;
    let addr = listener
        .local_addr()
        .context("listening socket has no address")?;
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    // A metrics listener that cannot start is said loudly, but never stops serving.
    match proxy.bind_metrics().await {
        Ok(None) => {}
        Ok(Some(metrics)) => {
            if let Ok(metrics_addr) = metrics.local_addr() {
                tracing::info!("isr metrics on http://{metrics_addr}/metrics");
            }
            let stopped = async {
                let _ = metrics_stopped.await;
            };
            tokio::spawn(listener::serve(metrics, proxy.metrics_router(), stopped));
        }
        Err(error) => tracing::error!(%error, "serving without metrics"),
    }
    tracing::info!(threads, "isr listening on http://{addr}, caching {origin}");
    let signals = StopSignals::listen().context("cannot listen for stop signals")?;
    let (first, first_seen) = tokio::sync::oneshot::channel::<()>();
    let signals = async move {
        let mut signals = signals;
        signals.next().await;
        let _ = first.send(());
        signals.next().await;
    };
    let stopped = proxy.serve_within(listener, limits, async {
        let _ = first_seen.await;
    });
    tokio::select! {
        stop = stopped => match stop {
            Stop::Drained => tracing::info!("isr stopped"),
            Stop::DeadlinePassed => tracing::warn!("isr stopped at the drain deadline"),
        },
        () = signals => tracing::warn!("second stop signal: isr stopped without draining"),
    }
    // /readyz said "draining" until here.
    let _ = stop_metrics.send(());
    Ok(())
}

/// Ctrl-C, and SIGTERM on Unix (what service managers send).
struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    /// The next signal.
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
