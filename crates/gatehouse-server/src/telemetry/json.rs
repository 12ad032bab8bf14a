//! JSON log lines in the shape of `tracing-subscriber`'s JSON format
//! (`{"timestamp","level","fields":{…},"target","spans":[{…,"name"}]}`). The request a line
//! belongs to appears as the first span, `{"name":"request","request_id","method","path",
//! "subject"}`, taken from the request context rather than from a `tracing` span. Fields are
//! written straight into the line (no intermediate strings), and span fields are stored as
//! JSON once (by [`JsonFields`]) and spliced in as they are.

use std::fmt::{self, Write as _};

use tracing::{field::Field, Event, Level, Subscriber};
use tracing_subscriber::{
    fmt::{format::JsonFields, format::Writer, FmtContext, FormatEvent, FormattedFields},
    registry::LookupSpan,
};

use crate::request_ctx::REQUEST;

/// The event formatter for `GATEHOUSE_LOG_FORMAT=json`.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, JsonFields>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        head(&mut w, meta.level())?;
        let mut fields = Fields { w: &mut w, first: true, result: Ok(()) };
        event.record(&mut fields);
        fields.result?;
        w.write_str("},\"target\":")?;
        write_quoted(&mut w, meta.target())?;
        let mut spans = usize::from(request_span(&mut w)?);
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                w.write_str(if spans == 0 { ",\"spans\":[" } else { "," })?;
                spans += 1;
                w.write_str("{\"name\":")?;
                write_quoted(&mut w, span.name())?;
                let ext = span.extensions();
                let stored = ext.get::<FormattedFields<JsonFields>>().map(|f| f.fields.as_str()).unwrap_or("");
                // `{"a":1,"b":"x"}` → `,"a":1,"b":"x"}`; nothing recorded → `}`.
                match stored.strip_prefix('{') {
                    Some(rest) if rest.len() > 1 => write!(w, ",{rest}")?,
                    _ => w.write_char('}')?,
                }
            }
        }
        if spans > 0 {
            w.write_char(']')?;
        }
        w.write_str("}\n")
    }
}

/// The start of every line, up to the opening of `fields`.
fn head(w: &mut impl fmt::Write, level: &Level) -> fmt::Result {
    w.write_str("{\"timestamp\":\"")?;
    w.write_str(super::now().as_str())?;
    w.write_str("\",\"level\":\"")?;
    w.write_str(level.as_str())?;
    w.write_str("\",\"fields\":{")
}

/// Inside a request, `,"spans":[{"name":"request",…}` (the list left open); `true` if written.
fn request_span(w: &mut impl fmt::Write) -> Result<bool, fmt::Error> {
    REQUEST
        .try_with(|c| -> fmt::Result {
            w.write_str(",\"spans\":[{\"name\":\"request\",\"request_id\":")?;
            write_quoted(w, c.request_id.to_str().unwrap_or("-"))?;
            w.write_str(",\"method\":")?;
            write_quoted(w, c.method.as_str())?;
            w.write_str(",\"path\":")?;
            write_quoted(w, c.uri.path())?;
            if let Some(subject) = c.subject() {
                w.write_str(",\"subject\":\"")?;
                for part in subject.parts() {
                    Escaped(&mut *w).write_str(part)?;
                }
                w.write_char('"')?;
            }
            w.write_char('}')
        })
        .map_or(Ok(false), |written| written.map(|()| true))
}

/// The access line of the request being handled (what `tracing::info!(target:
/// "gatehouse::access", status, latency_us, "finished processing request")` gives through
/// [`JsonLines`]), written without a `tracing` event.
pub(super) fn access_line(w: &mut String, level: &Level, status: u16, latency_us: u64) -> fmt::Result {
    head(w, level)?;
    w.push_str("\"message\":\"finished processing request\",\"status\":");
    w.push_str(itoa::Buffer::new().format(status));
    w.push_str(",\"latency_us\":");
    w.push_str(itoa::Buffer::new().format(latency_us));
    w.push_str("},\"target\":\"gatehouse::access\"");
    if request_span(w)? {
        w.push(']');
    }
    w.push_str("}\n");
    Ok(())
}

/// Writes `s` as a JSON string literal.
fn write_quoted(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    Escaped(&mut *w).write_str(s)?;
    w.write_char('"')
}

/// Escapes what passes through it for the inside of a JSON string literal.
struct Escaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if super::json_plain(s) {
            return self.0.write_str(s);
        }
        let mut clean = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            // Every byte escaped is ASCII, so `i` is a char boundary.
            self.0.write_str(&s[clean..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            clean = i + 1;
        }
        self.0.write_str(&s[clean..])
    }
}

/// Writes an event's fields as JSON members.
struct Fields<'a, W: fmt::Write> {
    w: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<W: fmt::Write> Fields<'_, W> {
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let sep = if std::mem::take(&mut self.first) { "" } else { "," };
        self.result = self
            .w
            .write_str(sep)
            .and_then(|()| write_quoted(self.w, field.name()))
            .and_then(|()| self.w.write_char(':'))
            .and_then(|()| value(self.w));
    }
}

impl<W: fmt::Write> tracing::field::Visit for Fields<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| write_quoted(w, value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| write!(w, "{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write!(w, "{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| write!(w, "{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, |w| match serde_json::Number::from_f64(value) {
            Some(n) => write!(w, "{n}"),
            None => write!(w, "\"{value}\""),
        });
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| {
            w.write_char('"')?;
            write!(Escaped(&mut *w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::prelude::*;

    use super::*;
    use crate::telemetry::test_sink::Sink;

    #[test]
    fn lines_are_json_with_fields_target_and_spans() {
        let sink = Sink::default();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(sink.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "outside", "no span \"quoted\"\n");
            let span = tracing::info_span!("request", request_id = "r-1", subject = tracing::field::Empty);
            let _g = span.enter();
            span.record("subject", "user:1");
            let inner = tracing::info_span!("inner");
            let _i = inner.enter();
            tracing::warn!(status = 200u16, latency_us = 11u64, ok = true, ratio = 0.5, who = ?("a", 1), "done");
        });
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(lines[0]["fields"]["message"], "no span \"quoted\"\n");
        assert_eq!(lines[0]["target"], "outside");
        assert_eq!(lines[0]["level"], "INFO");
        assert!(lines[0].get("spans").is_none());
        let l = &lines[1];
        assert_eq!(l["level"], "WARN");
        assert_eq!(l["fields"]["status"], 200);
        assert_eq!(l["fields"]["latency_us"], 11);
        assert_eq!(l["fields"]["ok"], true);
        assert_eq!(l["fields"]["ratio"], 0.5);
        assert_eq!(l["fields"]["who"], "(\"a\", 1)");
        assert_eq!(l["fields"]["message"], "done");
        assert_eq!(l["spans"][0], serde_json::json!({"name": "request", "request_id": "r-1", "subject": "user:1"}));
        assert_eq!(l["spans"][1], serde_json::json!({"name": "inner"}));
        assert!(l["timestamp"].as_str().is_some_and(|t| t.ends_with('Z') && t.contains('T')), "{l}");
    }

    #[tokio::test]
    async fn the_request_context_is_the_first_span() {
        use axum::http::{HeaderValue, Method, Uri};

        use crate::request_ctx::{set_subject, RequestCtx};

        let sink = Sink::default();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(sink.clone());
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        let ctx = RequestCtx::new(
            HeaderValue::from_static("r-2"),
            None,
            Method::POST,
            Uri::from_static("/a%22b/c?key=never-logged"),
        );
        REQUEST
            .scope(ctx, async {
                tracing::info!(target: "gatehouse::access", status = 401u16, "before");
                set_subject(&gatehouse_core::Subject::Client("c\"1".into()));
                let inner = tracing::info_span!("inner", n = 2);
                let _i = inner.enter();
                tracing::info!(target: "gatehouse::access", status = 200u16, "after");
            })
            .await;
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(!out.contains("never-logged"), "{out}");
        let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{out}");
        let request = serde_json::json!({"name": "request", "request_id": "r-2", "method": "POST", "path": "/a%22b/c"});
        assert_eq!(lines[0]["spans"], serde_json::json!([request]));
        let mut with_subject = request.clone();
        with_subject["subject"] = "client:c\"1".into();
        assert_eq!(lines[1]["spans"], serde_json::json!([with_subject, {"name": "inner", "n": 2}]));
        assert_eq!(lines[1]["fields"], serde_json::json!({"status": 200, "message": "after"}));
    }
}
