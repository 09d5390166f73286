//! The access log's writer: lines formatted by isr-core ([`AccessRecord::line`]), written
//! to standard output by a task of their own.
//!
//! Invariants:
//! - Writing never blocks a request: lines go through a bounded queue; when the output
//!   cannot keep up, lines are dropped (and counted in a warning) rather than slowing
//!   answers down.
//! - One line per request, each ending in a newline, written whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use isr_core::telemetry::access_log::{AccessLogFormat, AccessRecord};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

/// Lines queued at most before new ones are dropped.
const QUEUED_LINES: usize = 16 * 1024;

/// The access log: where lines go, and in which format.
#[derive(Clone)]
pub struct AccessLog {
    format: AccessLogFormat,
    lines: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// A log in `format` written to standard output; `None` when the format is off.
    pub fn to_stdout(format: AccessLogFormat) -> Option<AccessLog> {
        AccessLog::to_writer(format, tokio::io::stdout())
    }

    /// A log in `format` written to `output`; `None` when the format is off.
    pub fn to_writer(
        format: AccessLogFormat,
        output: impl AsyncWrite + Send + Unpin + 'static,
    ) -> Option<AccessLog> {
        if format == AccessLogFormat::Off {
            return None;
        }
        let (lines, queued) = mpsc::channel(QUEUED_LINES);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_lines(queued, output, Arc::clone(&dropped)));
        Some(AccessLog {
            format,
            lines,
            dropped,
        })
    }

    /// Log `record`.
    pub fn write(&self, record: &AccessRecord<'_>) {
        let Some(mut line) = record.line(self.format) else {
            return;
        };
        line.push('\n');
        if self.lines.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Write queued lines to `output`, flushing whenever the queue is empty.
async fn write_lines(
    mut queued: mpsc::Receiver<String>,
    output: impl AsyncWrite + Unpin,
    dropped: Arc<AtomicU64>,
) {
    let mut output = BufWriter::new(output);
    while let Some(line) = queued.recv().await {
        if output.write_all(line.as_bytes()).await.is_err() {
            return;
        }
        if queued.is_empty() {
            if output.flush().await.is_err() {
                return;
            }
            let lost = dropped.swap(0, Ordering::Relaxed);
            if lost > 0 {
                tracing::warn!(
                    lost,
                    "access log lines dropped: the output could not keep up"
                );
            }
        }
    }
    let _ = output.flush().await;
}
