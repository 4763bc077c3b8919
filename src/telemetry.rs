//! Logging set-up: `tracing` to standard error, as readable text or as JSON lines.
//!
//! Owns the verbosity rules (`-v` debug, `-vv` trace, `-q` warnings, `-qq` errors;
//! `RUST_LOG` overrides all). Must never log secrets; personal data is masked by the
//! callers through [`crate::pii`].

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// The default filter for a verbosity (`verbose` minus `quiet`).
pub fn level_for(verbosity: i8) -> &'static str {
    match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    }
}

/// Installs the global subscriber. Safe to call twice (the second call does nothing).
pub fn init(format: LogFormat, verbosity: i8) {
    let default = format!(
        "{lvl},tether={lvl},sqlx=warn,hyper=warn,reqwest=warn,h2=warn",
        lvl = level_for(verbosity)
    );
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn verbosity_levels() {
        assert_eq!(super::level_for(0), "info");
        assert_eq!(super::level_for(2), "trace");
        assert_eq!(super::level_for(-1), "warn");
        assert_eq!(super::level_for(-5), "error");
    }
}
