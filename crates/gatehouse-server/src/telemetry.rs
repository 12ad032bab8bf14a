//! Logging: `tracing` to stderr as text or JSON. Request ids come from the request span.

use tracing_subscriber::{fmt, prelude::*, EnvFilter};

use crate::settings::LogFormat;

/// Installs the global subscriber (once; later calls are ignored). `RUST_LOG` overrides
/// the default `info` level.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => registry
            .with(fmt::layer().json().with_current_span(false).with_span_list(true).with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Text => registry.with(fmt::layer().with_writer(std::io::stderr)).try_init(),
    };
}
