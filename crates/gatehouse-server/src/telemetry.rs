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
        Arc, Mutex, OnceLock, PoisonError,
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

/// The current time as RFC 3339 with microseconds (`2026-11-24T06:00:00.123456Z`), for log
/// lines. The date and time of day are formatted once per second per thread.
fn now() -> Timestamp {
    thread_local! {
        static SECOND: std::cell::Cell<(u64, [u8; 19])> = const { std::cell::Cell::new((u64::MAX, [0; 19])) };
    }
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let mut out = [0u8; 27];
    let (cached, mut prefix) = SECOND.get();
    if cached != secs {
        let whole = std::time::UNIX_EPOCH + Duration::from_secs(secs);
        let text = humantime::format_rfc3339_seconds(whole).to_string();
        prefix.copy_from_slice(&text.as_bytes()[..19]);
        SECOND.set((secs, prefix));
    }
    out[..19].copy_from_slice(&prefix);
    out[19] = b'.';
    let mut micros = since_epoch.subsec_micros();
    for i in (20..26).rev() {
        out[i] = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    out[26] = b'Z';
    Timestamp(out)
}

/// A formatted [`now`].
struct Timestamp([u8; 27]);

impl Timestamp {
    /// The timestamp as text (it is always ASCII).
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("1970-01-01T00:00:00.000000Z")
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where [`access_line`] writes: set by [`init`] once gatehouse's subscriber is the global one.
static DIRECT: OnceLock<Direct> = OnceLock::new();

/// The installed subscriber's batch and format.
#[derive(Debug)]
struct Direct {
    batch: Arc<Batch>,
    format: LogFormat,
    ansi: bool,
}

/// Writes the access line of the request being handled straight into the log batch, in the
/// configured format: the line a `tracing` event at `gatehouse::access` would give
/// (`finished processing request status=… latency_us=…`, with the request context), without
/// the event's dispatch, field visiting and `fmt` layer, which were about half of the line's
/// cost (docs/PERFORMANCE.md). The caller has checked that `level` is enabled for
/// `gatehouse::access`.
///
/// Returns `false` when gatehouse's own subscriber is not the installed one (a library user's
/// or a test's): the caller then emits the `tracing` event instead.
pub fn access_line(level: tracing::Level, status: u16, latency_us: u64) -> bool {
    thread_local! {
        static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    let Some(direct) = DIRECT.get() else {
        return false;
    };
    LINE.with_borrow_mut(|line| {
        line.clear();
        let written = match direct.format {
            LogFormat::Text => text::access_line(line, direct.ansi, level, status, latency_us),
            LogFormat::Json => json::access_line(line, &level, status, latency_us),
        };
        if written.is_ok() {
            direct.batch.append(line.as_bytes());
        }
    });
    true
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
    let _ = DIRECT.set(Direct { batch: Arc::clone(&batch), format, ansi });
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

/// A log destination for the formatters' tests: everything written, in memory.
#[cfg(test)]
mod test_sink {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    pub(super) struct Sink(pub(super) Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Sink {
        type Writer = Sink;
        fn make_writer(&'a self) -> Sink {
            self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, Method, Uri};
    use tracing_subscriber::{fmt, fmt::format::JsonFields, prelude::*};

    use super::{json::JsonLines, test_sink::Sink, text::TextLines};
    use crate::request_ctx::{set_subject, RequestCtx, REQUEST};

    /// The access line as the `tracing` event gives it and as [`super::access_line`] writes it,
    /// inside a request with a subject and a path that needs escaping.
    async fn both_ways(json: bool, ansi: bool, level: tracing::Level) -> (String, String) {
        let sink = Sink::default();
        let _default = if json {
            let layer = fmt::layer().fmt_fields(JsonFields::new()).event_format(JsonLines).with_writer(sink.clone());
            tracing::subscriber::set_default(tracing_subscriber::registry().with(layer))
        } else {
            let layer = fmt::layer().with_ansi(ansi).event_format(TextLines { ansi }).with_writer(sink.clone());
            tracing::subscriber::set_default(tracing_subscriber::registry().with(layer))
        };
        let ctx = RequestCtx::new(
            HeaderValue::from_static("r-9"),
            None,
            Method::GET,
            Uri::from_static("/a%0Ab/\"q\"?key=never-logged"),
        );
        let mut direct = String::new();
        REQUEST
            .scope(ctx, async {
                set_subject(&gatehouse_core::Subject::User("u\"1".into()));
                if level == tracing::Level::ERROR {
                    tracing::error!(target: "gatehouse::access", status = 503u16, latency_us = 1234u64, "finished processing request");
                } else {
                    tracing::info!(target: "gatehouse::access", status = 200u16, latency_us = 1234u64, "finished processing request");
                }
                let status = if level == tracing::Level::ERROR { 503 } else { 200 };
                if json {
                    super::json::access_line(&mut direct, &level, status, 1234).unwrap();
                } else {
                    super::text::access_line(&mut direct, ansi, level, status, 1234).unwrap();
                }
            })
            .await;
        let event = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        (event, direct)
    }

    #[tokio::test]
    async fn the_direct_access_line_is_the_events_line() {
        for (ansi, level) in
            [(false, tracing::Level::INFO), (true, tracing::Level::INFO), (false, tracing::Level::ERROR)]
        {
            let (event, direct) = both_ways(false, ansi, level).await;
            // Same line after the timestamp (27 characters).
            assert_eq!(event.lines().count(), 1, "{event}");
            assert!(direct.ends_with('\n') && direct.lines().count() == 1, "{direct}");
            assert_eq!(event[27..], direct[27..], "ansi={ansi} level={level}");
            assert!(direct.contains("subject=user:u\"1}: gatehouse::access: finished processing request"), "{direct}");
        }
        for level in [tracing::Level::INFO, tracing::Level::ERROR] {
            let (event, direct) = both_ways(true, false, level).await;
            let mut event: serde_json::Value = serde_json::from_str(&event).unwrap();
            let mut direct: serde_json::Value = serde_json::from_str(&direct).unwrap();
            assert!(direct["timestamp"].as_str().is_some_and(|t| humantime::parse_rfc3339(t).is_ok()), "{direct}");
            event["timestamp"] = serde_json::Value::Null;
            direct["timestamp"] = serde_json::Value::Null;
            assert_eq!(event, direct);
            assert_eq!(direct["spans"][0]["path"], "/a%0Ab/\"q\"");
            assert_eq!(direct["spans"][0]["subject"], "user:u\"1");
            assert_eq!(direct["fields"]["latency_us"], 1234);
        }
    }

    #[test]
    fn without_gatehouses_subscriber_the_caller_is_told_to_emit_the_event() {
        // No test installs gatehouse's global subscriber, so the direct path declines.
        assert!(!super::access_line(tracing::Level::INFO, 200, 1));
    }
    #[test]
    fn timestamps_are_rfc3339_micros_and_agree_with_humantime() {
        for _ in 0..3 {
            let ours = super::now().to_string();
            let theirs = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
            assert_eq!(ours.len(), 27, "{ours}");
            assert!(humantime::parse_rfc3339(&ours).is_ok(), "{ours}");
            // Same second (barring a tick between the two calls).
            assert!(ours[..17] == theirs[..17], "{ours} vs {theirs}");
            std::thread::sleep(std::time::Duration::from_millis(600));
        }
    }
}
