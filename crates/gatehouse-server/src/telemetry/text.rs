//! Text log lines in the shape of `tracing-subscriber`'s default format:
//! `2026-11-24T06:00:00.123456Z  INFO request{request_id=… method=GET path=/users/me
//! subject=user:…}: gatehouse::access: finished processing request status=200 latency_us=41`.
//! The `request{…}` part comes from the request context rather than from a `tracing` span.
//! Control characters in values are escaped, so a value cannot forge a line or a colour.

use std::fmt::{self, Write as _};

use tracing::{field::Field, Event, Level, Subscriber};
use tracing_subscriber::{
    fmt::{format::Writer, FmtContext, FormatEvent, FormatFields, FormattedFields},
    registry::LookupSpan,
};

use crate::request_ctx::REQUEST;

/// The event formatter for `GATEHOUSE_LOG_FORMAT=text`.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct TextLines {
    /// Colour the level (only for a person at a terminal).
    pub(super) ansi: bool,
}

impl<S, N> FormatEvent<S, N> for TextLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        head(&mut w, self.ansi, *meta.level())?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                w.write_str(span.name())?;
                let ext = span.extensions();
                if let Some(f) = ext.get::<FormattedFields<N>>().filter(|f| !f.is_empty()) {
                    write!(w, "{{{}}}", Escaped(f.as_str()))?;
                }
                w.write_str(": ")?;
            }
        }
        w.write_str(meta.target())?;
        w.write_str(": ")?;
        let mut fields = Fields { w: &mut w, message: true, first: true, result: Ok(()) };
        event.record(&mut fields);
        fields.message = false;
        event.record(&mut fields);
        fields.result?;
        w.write_char('\n')
    }
}

/// The start of every line: timestamp, level and, inside a request, `request{…}: `.
fn head(w: &mut impl fmt::Write, ansi: bool, level: Level) -> fmt::Result {
    w.write_str(super::now().as_str())?;
    w.write_char(' ')?;
    let name = match level {
        Level::ERROR => "ERROR",
        Level::WARN => " WARN",
        Level::INFO => " INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    };
    if ansi {
        write!(w, "\x1b[{}m{name}\x1b[0m ", colour(level))?;
    } else {
        w.write_str(name)?;
        w.write_char(' ')?;
    }
    REQUEST
        .try_with(|c| -> fmt::Result {
            w.write_str("request{request_id=")?;
            EscapeWriter(&mut *w).write_str(c.request_id.to_str().unwrap_or("-"))?;
            w.write_str(" method=")?;
            EscapeWriter(&mut *w).write_str(c.method.as_str())?;
            w.write_str(" path=")?;
            EscapeWriter(&mut *w).write_str(c.uri.path())?;
            if let Some(subject) = c.subject() {
                w.write_str(" subject=")?;
                for part in subject.parts() {
                    EscapeWriter(&mut *w).write_str(part)?;
                }
            }
            w.write_str("}: ")
        })
        .unwrap_or(Ok(()))
}

/// The access line of the request being handled (what `tracing::info!(target:
/// "gatehouse::access", status, latency_us, "finished processing request")` gives through
/// [`TextLines`]), written without a `tracing` event.
pub(super) fn access_line(w: &mut String, ansi: bool, level: Level, status: u16, latency_us: u64) -> fmt::Result {
    head(w, ansi, level)?;
    w.push_str("gatehouse::access: finished processing request status=");
    w.push_str(itoa::Buffer::new().format(status));
    w.push_str(" latency_us=");
    w.push_str(itoa::Buffer::new().format(latency_us));
    w.push('\n');
    Ok(())
}

fn colour(level: Level) -> u8 {
    match level {
        Level::ERROR => 31,
        Level::WARN => 33,
        Level::INFO => 32,
        Level::DEBUG => 34,
        Level::TRACE => 35,
    }
}

/// Displays a string with its control characters escaped (`\n`, `\u{1b}`, …).
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        EscapeWriter(f).write_str(self.0)
    }
}

/// Escapes control characters in what passes through it.
struct EscapeWriter<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for EscapeWriter<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if super::printable_ascii(s) {
            return self.0.write_str(s);
        }
        let mut clean = 0;
        for (i, c) in s.char_indices() {
            if c.is_control() {
                self.0.write_str(&s[clean..i])?;
                write!(self.0, "{}", c.escape_debug())?;
                clean = i + c.len_utf8();
            }
        }
        self.0.write_str(&s[clean..])
    }
}

/// Writes the message (first pass) or the other fields as ` key=value` (second pass).
struct Fields<'a, W: fmt::Write> {
    w: &'a mut W,
    message: bool,
    first: bool,
    result: fmt::Result,
}

impl<W: fmt::Write> Fields<'_, W> {
    /// Writes ` key=value` for a value that needs no escaping (a number or a bool).
    fn plain(&mut self, field: &Field, value: impl fmt::Display) {
        if self.result.is_err() || self.message {
            return;
        }
        let sep = if std::mem::take(&mut self.first) { "" } else { " " };
        self.result = write!(self.w, "{sep}{}={value}", field.name());
    }
}

impl<W: fmt::Write> tracing::field::Visit for Fields<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.plain(field, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.plain(field, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.plain(field, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() || (field.name() == "message") != self.message {
            return;
        }
        let sep = if std::mem::take(&mut self.first) { "" } else { " " };
        let mut out = EscapeWriter(&mut *self.w);
        self.result =
            if self.message { write!(out, "{value:?}") } else { write!(out, "{sep}{}={value:?}", field.name()) };
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, Method, Uri};
    use gatehouse_core::Subject;
    use tracing_subscriber::prelude::*;

    use super::*;
    use crate::{request_ctx::RequestCtx, telemetry::test_sink::Sink};

    #[tokio::test]
    async fn lines_carry_the_request_and_escape_control_characters() {
        let sink = Sink::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .event_format(TextLines { ansi: false })
            .with_writer(sink.clone());
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        tracing::info!(target: "outside", "no request\nforged line");
        let ctx = RequestCtx::new(
            HeaderValue::from_static("r-1"),
            None,
            Method::GET,
            Uri::from_static("/users/me?api_key=never-logged"),
        );
        REQUEST
            .scope(ctx, async {
                crate::request_ctx::set_subject(&Subject::User("u1".into()));
                let span = tracing::info_span!("inner", k = 1);
                let _g = span.enter();
                tracing::warn!(target: "gatehouse::access", status = 200u16, who = %"a\u{1b}[31mb", "done");
            })
            .await;
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[0].ends_with("  INFO outside: no request\\nforged line"), "{}", lines[0]);
        assert!(lines[0].split(' ').next().is_some_and(|t| t.ends_with('Z') && t.contains('T')), "{}", lines[0]);
        assert!(
            lines[1].ends_with(
                "  WARN request{request_id=r-1 method=GET path=/users/me subject=user:u1}: inner{k=1}: gatehouse::access: \
                 done status=200 who=a\\u{1b}[31mb"
            ),
            "{}",
            lines[1]
        );
        assert!(!out.contains("never-logged"));
    }
}
