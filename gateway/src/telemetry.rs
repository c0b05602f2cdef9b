//! Logging: `tracing` as text or one JSON object per line.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// The configured filter, with PostgreSQL's server notices (e.g. "schema already exists,
/// skipping" at every start) kept to warnings unless the level says otherwise about sqlx.
fn filter_directives(level: &str) -> String {
    if level.contains("sqlx") {
        level.to_owned()
    } else {
        format!("{level},sqlx::postgres::notice=warn")
    }
}

/// Installs the global subscriber. Span fields (request and call ids) appear on every line.
pub fn init(config: &LogConfig) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter_directives(&config.level))
        .map_err(|e| format!("log.level: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match config.format {
        LogFormat::Text => builder.with_target(true).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
    };
    installed.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_notices_are_quiet_unless_asked_for() {
        assert_eq!(
            filter_directives("info"),
            "info,sqlx::postgres::notice=warn"
        );
        assert_eq!(filter_directives("debug,sqlx=trace"), "debug,sqlx=trace");
        assert!(EnvFilter::try_new(filter_directives("voice_gateway=debug")).is_ok());
    }
}
