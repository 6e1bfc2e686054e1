//! Logging: JSON lines (the default) or human-readable, filtered by `log.level` (or `RUST_LOG`
//! when set). Request ids arrive as span fields from the HTTP layer, so every line a request
//! causes carries its id.

use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings};

pub fn init(settings: &LogSettings) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(directives)?,
        _ => EnvFilter::try_new(&settings.level)
            .map_err(|err| anyhow::anyhow!("setting log.level: {err}"))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    }
    .map_err(|err| anyhow::anyhow!("cannot install the logger: {err}"))
}
