//! Logging: `tracing` to stderr as text or JSON. Every line logged while a request is handled
//! carries its request id, method, path and subject, from the request context
//! ([`crate::request_ctx`]).
//!
//! Lines are formatted on the request's thread and appended to an in-memory batch, which
//! goes to stderr in one `write` when it reaches 64 KiB or every 50 ms, whichever comes
//! first. One `write` per line (and, with a writer thread, one wake-up per line) was a
//! large share of a `/users/me` request's CPU time; see docs/PERFORMANCE.md. Lines reach
//! stderr at most 50 ms late; nothing is dropped; [`LogGuard`] flushes on shutdown.

use std::{
    io::{IsTerminal as _, Write},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::Duration,
};

use tracing_subscriber::{fmt, fmt::MakeWriter, prelude::*, EnvFilter};

use crate::settings::LogFormat;

mod json;
mod text;

/// A batch is written out once it holds this many bytes.
const FLUSH_AT: usize = 64 * 1024;
/// … and at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

#[derive(Debug, Default)]
struct Batch {
    buf: Mutex<Vec<u8>>,
    stopped: AtomicBool,
    /// No flush thread: every line is written at once.
    direct: AtomicBool,
}

impl Batch {
    fn append(&self, bytes: &[u8]) {
        let mut buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        buf.extend_from_slice(bytes);
        if buf.len() >= FLUSH_AT || self.direct.load(Ordering::Relaxed) {
            // Written under the lock, so lines keep their order across threads.
            write_out(&mut buf);
        }
    }

    fn flush(&self) {
        write_out(&mut self.buf.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

fn write_out(buf: &mut Vec<u8>) {
    if !buf.is_empty() {
        // Nowhere to report a failed log write; the batch is dropped rather than growing.
        let _ = std::io::stderr().lock().write_all(buf);
        buf.clear();
    }
}

/// The [`MakeWriter`] handing each formatted line to the batch.
#[derive(Debug, Clone)]
struct BatchWriter(Arc<Batch>);

impl Write for BatchWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;
    fn make_writer(&'a self) -> BatchWriter {
        self.clone()
    }
}

/// The current time as RFC 3339 with microseconds, for log lines.
fn now() -> humantime::Rfc3339Timestamp {
    humantime::format_rfc3339_micros(std::time::SystemTime::now())
}

/// Keeps the periodic flush running; dropping it writes out what is pending. Hold it for
/// the life of the process.
#[derive(Debug)]
#[must_use = "dropping the guard stops the periodic log flush"]
pub struct LogGuard {
    batch: Option<Arc<Batch>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Some(b) = &self.batch {
            b.stopped.store(true, Ordering::Relaxed);
            b.flush();
        }
    }
}

/// Installs the global subscriber (once; later calls are ignored). `RUST_LOG` overrides
/// the default `info` level.
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Colours only for a person at a terminal, never into a file or a log collector.
    let ansi = std::io::stderr().is_terminal();
    let batch = Arc::new(Batch::default());
    let writer = BatchWriter(Arc::clone(&batch));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                    .event_format(json::JsonLines)
                    .with_writer(writer),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(fmt::layer().with_ansi(ansi).event_format(text::TextLines { ansi }).with_writer(writer))
            .try_init(),
    };
    if installed.is_err() {
        return LogGuard { batch: None };
    }
    let flusher = Arc::clone(&batch);
    let spawned = std::thread::Builder::new().name("gatehouse-log".into()).spawn(move || {
        while !flusher.stopped.load(Ordering::Relaxed) {
            std::thread::sleep(FLUSH_EVERY);
            flusher.flush();
        }
    });
    if spawned.is_err() {
        // No flusher thread: fall back to writing every line at once.
        batch.direct.store(true, Ordering::Relaxed);
        batch.flush();
    }
    LogGuard { batch: Some(batch) }
}
