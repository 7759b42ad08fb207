//! tracing-subscriber set-up: `RUST_LOG`-style filter from `LOOPBACK_LOG`
//! (default `info`), text or JSON lines.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Safe to call more than once (later calls
/// are ignored), which keeps tests simple.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("LOOPBACK_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| {
            EnvFilter::new("info,sqlx=warn,sea_orm=warn,h2=warn,tower=warn,hyper=warn")
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
