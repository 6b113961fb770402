//! Where `tracing`'s events go. `keystep serve` logs to standard output at
//! `info`: text (a timestamp, the level and the message) or JSON lines with
//! every field (`--log-format json`). Other commands print their own
//! output and show only warnings, on standard error.

use tracing::Level;
use tracing_subscriber::fmt::format::debug_fn;

/// How serve's log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-12-01T09:00:00.123Z  INFO run 7 (offboard) succeeded`
    #[default]
    Text,
    /// One JSON object a line: timestamp, level, message and fields.
    Json,
}

/// Sends serve's events, plugins' log lines among them, to standard
/// output in `format`.
pub fn serving(format: LogFormat) {
    crate::plugins::log_through_tracing();
    let builder = tracing_subscriber::fmt()
        .with_max_level(Level::INFO)
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stdout);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.fmt_fields(message_only()).try_init(),
    };
}

/// Sends warnings to standard error, for the commands that are not serve.
pub fn commands() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(Level::WARN)
        .with_target(false)
        .with_ansi(false)
        .without_time()
        .with_writer(std::io::stderr)
        .fmt_fields(message_only())
        .try_init();
}

/// Text lines show the message alone: it names what the fields hold, which
/// JSON lines carry one by one.
fn message_only() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    debug_fn(|writer, field, value| {
        if field.name() == "message" {
            write!(writer, "{value:?}")
        } else {
            Ok(())
        }
    })
}
