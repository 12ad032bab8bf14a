//! JSON log lines in the shape of `tracing-subscriber`'s JSON format
//! (`{"timestamp","level","fields":{…},"target","spans":[{…,"name"}]}`), written without
//! re-parsing: span fields are stored as JSON once (by [`JsonFields`]) and spliced into every
//! line as they are, where the stock formatter parses them back into values for each line.

use std::fmt::{self, Write as _};

use tracing::{field::Field, Event, Subscriber};
use tracing_subscriber::{
    fmt::{
        format::{JsonFields, Writer},
        time::{FormatTime, SystemTime},
        FmtContext, FormatEvent, FormattedFields,
    },
    registry::LookupSpan,
};

/// The event formatter for `GATEHOUSE_LOG_FORMAT=json`.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, JsonFields>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        w.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut w)?;
        write!(w, "\",\"level\":\"{}\",\"fields\":{{", meta.level())?;
        let mut fields = Fields { out: String::new(), first: true };
        event.record(&mut fields);
        w.write_str(&fields.out)?;
        w.write_str("},\"target\":")?;
        w.write_str(&quoted(meta.target()))?;
        if let Some(scope) = ctx.event_scope() {
            w.write_str(",\"spans\":[")?;
            for (i, span) in scope.from_root().enumerate() {
                if i > 0 {
                    w.write_char(',')?;
                }
                write!(w, "{{\"name\":{}", quoted(span.name()))?;
                let ext = span.extensions();
                let stored = ext.get::<FormattedFields<JsonFields>>().map(|f| f.fields.as_str()).unwrap_or("");
                // `{"a":1,"b":"x"}` → `,"a":1,"b":"x"}`; nothing recorded → `}`.
                match stored.strip_prefix('{') {
                    Some(rest) if rest.len() > 1 => write!(w, ",{rest}")?,
                    _ => w.write_char('}')?,
                }
            }
            w.write_char(']')?;
        }
        w.write_str("}\n")
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Writes an event's fields as JSON members.
struct Fields {
    out: String,
    first: bool,
}

impl Fields {
    fn key(&mut self, field: &Field) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push_str(&quoted(field.name()));
        self.out.push(':');
    }
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.out.push_str(&quoted(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        match serde_json::Number::from_f64(value) {
            Some(n) => {
                let _ = write!(self.out, "{n}");
            }
            None => self.out.push_str(&quoted(&value.to_string())),
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.out.push_str(&quoted(&format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::{fmt::MakeWriter, prelude::*};

    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
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
}
