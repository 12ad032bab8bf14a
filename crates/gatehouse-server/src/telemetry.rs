//! Logging: `tracing` to stderr as text or JSON. Every line logged while a request is handled
//! carries its request id, method, path and subject, from the request context
//! ([`crate::request_ctx`]).
//!
//! Lines are formatted on the request's thread and appended to an in-memory batch, which
//! goes to stderr in one `write` when it reaches 64 KiB or every 50 ms, whichever comes
//! first. One `write` per line (and, with a writer thread, one wake-up per line) was a
//! large share of a `/users/me` request's CPU time; see docs/PERFORMANCE.md. Lines reach
//! stderr at most 50 ms late; nothing is dropped; [`LogGuard`] flushes on shutdown.
//!
//! On an async runtime's worker threads (those that call [`on_thread_park`] when they go
//! idle) a line first waits in the thread's own buffer, which joins the shared batch when the
//! thread goes idle, when it holds 16 KiB, or once the batch has been written out since its
//! first line, whichever comes first. That spares each line the shared batch's lock, whose
//! atomic instructions were ≈ 1% of a `/users/me` request's CPU time. Lines of one thread
//! keep their order; lines of different threads interleave in runs rather than one by one.

use std::{
    io::{IsTerminal as _, Write},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
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

/// A worker thread's own buffer joins the batch once it holds this many bytes.
const LOCAL_FLUSH_AT: usize = 16 * 1024;

#[derive(Debug, Default)]
struct Batch {
    buf: Mutex<Vec<u8>>,
    stopped: AtomicBool,
    /// No flush thread: every line is written at once.
    direct: AtomicBool,
    /// How many times the flush thread has written the batch out; a thread's buffer that
    /// has waited since an earlier round joins the batch with its next line.
    rounds: AtomicU64,
}

impl Batch {
    /// Appends `bytes` (whole lines): into this thread's buffer on a worker thread (see the
    /// module docs), else straight into the batch.
    fn append(self: &Arc<Self>, bytes: &[u8]) {
        let buffer = |local: &mut Local| {
            let buffered =
                local.worker && !self.direct.load(Ordering::Relaxed) && !self.stopped.load(Ordering::Relaxed);
            if buffered {
                local.push(self, bytes);
            }
            buffered
        };
        if !with_local(buffer).unwrap_or(false) {
            self.append_shared(bytes);
        }
    }

    fn append_shared(&self, bytes: &[u8]) {
        let mut buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        buf.extend_from_slice(bytes);
        if buf.len() >= FLUSH_AT || self.direct.load(Ordering::Relaxed) || self.stopped.load(Ordering::Relaxed) {
            // Written under the lock, so lines handed over keep their order across threads.
            write_out(&mut buf);
        }
    }

    fn flush(&self) {
        write_out(&mut self.buf.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

thread_local! {
    /// This thread's lines not yet in the batch.
    static LOCAL: std::cell::RefCell<Local> = const { std::cell::RefCell::new(Local::new()) };
}

/// A worker thread's buffered lines and the batch they go to.
#[derive(Debug)]
struct Local {
    /// Set by the first [`on_thread_park`]: this thread goes idle through the hook, so its
    /// lines may wait here.
    worker: bool,
    batch: Option<Arc<Batch>>,
    buf: Vec<u8>,
    /// The batch's [`Batch::rounds`] when `buf` got its first line.
    round: u64,
}

impl Local {
    const fn new() -> Self {
        Self { worker: false, batch: None, buf: Vec::new(), round: 0 }
    }

    fn push(&mut self, batch: &Arc<Batch>, bytes: &[u8]) {
        if !self.batch.as_ref().is_some_and(|b| Arc::ptr_eq(b, batch)) {
            self.hand_over();
            self.batch = Some(Arc::clone(batch));
        }
        let round = batch.rounds.load(Ordering::Relaxed);
        if self.buf.is_empty() {
            self.round = round;
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= LOCAL_FLUSH_AT || self.round != round {
            self.hand_over();
        }
    }

    /// Moves the buffered lines into their batch.
    fn hand_over(&mut self) {
        if let (Some(batch), false) = (&self.batch, self.buf.is_empty()) {
            batch.append_shared(&self.buf);
            self.buf.clear();
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.hand_over();
    }
}

/// Whether every byte of `s` is printable ASCII (`0x20..=0x7e`): then the text format writes
/// it as it is. Folded without an early exit, so that it compiles to a vectorised loop: the
/// request id, method, path and subject of every access line pass through it, and a
/// byte-at-a-time check of them cost ≈ 2.5% of a `/users/me` request's instructions
/// (docs/PERFORMANCE.md).
fn printable_ascii(s: &str) -> bool {
    s.bytes().fold(true, |ok, b| ok & (b.wrapping_sub(0x20) < 0x5f))
}

/// Whether `s` can go inside a JSON string literal as it is: no control character, quote or
/// backslash (non-ASCII text passes). Vectorised like [`printable_ascii`].
fn json_plain(s: &str) -> bool {
    s.bytes().fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'))
}

/// Runs `f` on this thread's [`Local`]; `None` while the thread is exiting or already in it.
fn with_local<T>(f: impl FnOnce(&mut Local) -> T) -> Option<T> {
    LOCAL.try_with(|local| local.try_borrow_mut().ok().map(|mut l| f(&mut l))).ok().flatten()
}

/// The runtime's park hook (`tokio::runtime::Builder::on_thread_park`): the calling thread's
/// buffered lines join the batch, and from now on its lines are buffered (see the module
/// docs). Only for threads that call it whenever they go idle.
pub fn on_thread_park() {
    with_local(|local| {
        local.worker = true;
        local.hand_over();
    });
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
            // Lines handed over from now on (worker threads that stop later) are written at once.
            b.stopped.store(true, Ordering::Relaxed);
            with_local(Local::hand_over);
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
            flusher.rounds.fetch_add(1, Ordering::Relaxed);
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
    fn plain_text_checks_agree_with_a_byte_at_a_time_check() {
        let (long, long_then_control) = ("x".repeat(100), format!("{}\u{1}", "y".repeat(70)));
        let cases = [
            "",
            "GET",
            "/users/me",
            "0b9d2f4e-6a8c-4c8e-9c43-2f4f8f1f0a11",
            "user:01a2",
            "a b~",
            "tab\there",
            "nl\n",
            "del\u{7f}",
            "esc\u{1b}[31m",
            "caf\u{e9}",
            "c1\u{85}",
            "quote\"",
            "back\\slash",
            long.as_str(),
            long_then_control.as_str(),
        ];
        for s in cases {
            assert_eq!(super::printable_ascii(s), s.bytes().all(|b| (0x20..0x7f).contains(&b)), "{s:?}");
            assert_eq!(super::json_plain(s), s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\'), "{s:?}");
        }
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

    /// What the batch holds (not yet written out).
    fn held(batch: &super::Batch) -> String {
        String::from_utf8(batch.buf.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_worker_threads_lines_wait_until_it_parks_and_keep_their_order() {
        std::thread::spawn(|| {
            let batch = std::sync::Arc::new(super::Batch::default());
            batch.append(b"before the first park\n");
            assert_eq!(held(&batch), "before the first park\n", "a thread that never parked writes straight in");
            super::on_thread_park();
            batch.append(b"one\n");
            batch.append(b"two\n");
            assert_eq!(held(&batch), "before the first park\n", "a worker's lines wait in its buffer");
            super::on_thread_park();
            assert_eq!(held(&batch), "before the first park\none\ntwo\n");
            super::on_thread_park();
            assert_eq!(held(&batch), "before the first park\none\ntwo\n", "nothing is handed over twice");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_busy_worker_hands_its_lines_over_at_16_kib_after_a_flush_round_and_when_it_ends() {
        let batch = std::sync::Arc::new(super::Batch::default());
        let b = std::sync::Arc::clone(&batch);
        std::thread::spawn(move || {
            super::on_thread_park();
            let mut line = vec![b'x'; 1023];
            line.push(b'\n');
            for _ in 0..15 {
                b.append(&line);
            }
            assert_eq!(held(&b), "", "15 KiB wait");
            b.append(&line);
            assert_eq!(held(&b).len(), 16 * 1024, "the 16th KiB hands the buffer over");
            b.append(b"late\n");
            // The flush thread writes the batch out: a line waiting since before joins with the next.
            b.rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            b.append(b"next\n");
            assert!(held(&b).ends_with("x\nlate\nnext\n"), "{:?}", &held(&b)[16 * 1024..]);
            b.append(b"last\n");
            assert!(!held(&b).ends_with("last\n"));
        })
        .join()
        .unwrap();
        assert!(held(&batch).ends_with("next\nlast\n"), "a thread's lines are handed over when it ends");
    }

    #[test]
    fn a_worker_switching_batches_hands_the_first_batch_its_lines() {
        std::thread::spawn(|| {
            let (a, b) = (std::sync::Arc::new(super::Batch::default()), std::sync::Arc::new(super::Batch::default()));
            super::on_thread_park();
            a.append(b"for a\n");
            b.append(b"for b\n");
            assert_eq!(held(&a), "for a\n");
            assert_eq!(held(&b), "");
            super::on_thread_park();
            assert_eq!(held(&b), "for b\n");
        })
        .join()
        .unwrap();
    }
}
