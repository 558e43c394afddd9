//! Where cordon's own log goes and how much of it: warnings by default,
//! everything with `--debug`, and every system call with `--strace`.

use std::fs::OpenOptions;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// The tracing target the kernel logs each system call under.
pub const STRACE_TARGET: &str = "strace";

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What the command line asked of the log.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions<'a> {
    /// Append to this file instead of writing to standard error.
    pub file: Option<&'a Path>,
    pub format: LogFormat,
    pub debug: bool,
    pub strace: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("failed to open log file {}: {source}; check --log", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("logging is already set up in this process")]
    AlreadySet(#[source] tracing::subscriber::SetGlobalDefaultError),
}

/// Installs cordon's log as the process-wide tracing subscriber.
pub fn init(options: LogOptions<'_>) -> Result<(), LoggingError> {
    let (writer, ansi) = match options.file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| LoggingError::Open {
                    path: path.to_owned(),
                    source,
                })?;
            (BoxMakeWriter::new(Arc::new(file)), false)
        }
        None => (BoxMakeWriter::new(io::stderr), io::stderr().is_terminal()),
    };
    let filter = EnvFilter::try_new(filter_directives(options.debug, options.strace))
        .expect("cordon's own filter directives are well-formed");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    match options.format {
        LogFormat::Text => tracing::subscriber::set_global_default(builder.finish()),
        LogFormat::Json => tracing::subscriber::set_global_default(builder.json().finish()),
    }
    .map_err(LoggingError::AlreadySet)
}

/// The filter for the asked level. `--strace` shows the system-call log at
/// info even when everything else is held to warnings.
fn filter_directives(debug: bool, strace: bool) -> String {
    match (debug, strace) {
        (true, _) => "debug".to_owned(),
        (false, true) => format!("warn,{STRACE_TARGET}=info"),
        (false, false) => "warn".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;
    use tracing::level_filters::LevelFilter;

    #[test]
    fn warnings_by_default() {
        assert_eq!(filter_directives(false, false), "warn");
        let filter = EnvFilter::try_new(filter_directives(false, false)).expect("well-formed");
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::WARN));
    }

    #[test]
    fn strace_is_shown_at_info() {
        let filter = EnvFilter::try_new(filter_directives(false, true)).expect("well-formed");
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::from_level(Level::INFO)));
    }

    #[test]
    fn debug_shows_everything_but_trace() {
        for strace in [false, true] {
            let filter = EnvFilter::try_new(filter_directives(true, strace)).expect("well-formed");
            assert_eq!(filter.max_level_hint(), Some(LevelFilter::DEBUG));
        }
    }

    #[test]
    fn unwritable_log_file_is_named() {
        let err = init(LogOptions {
            file: Some(Path::new("/nonexistent/cordon.log")),
            format: LogFormat::Text,
            debug: false,
            strace: false,
        })
        .expect_err("the directory does not exist");
        assert!(
            err.to_string()
                .starts_with("failed to open log file /nonexistent/cordon.log: "),
            "{err}"
        );
    }
}
