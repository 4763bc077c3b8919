//! Subcommand implementations: the imperative edge where configuration is loaded, the
//! store opened, connectors built, and errors become exit codes. `anyhow` lives here.
//! Must never hold sync, diff or matching logic: that belongs to the pure core.

pub mod conflicts;
pub mod demo;
pub mod demo_inbox;
pub mod doctor;
pub mod explain;
pub mod generate;
pub mod gorgias;
pub mod inbox;
pub mod mappings;
pub mod matching;
pub mod merges;
pub mod open_store;
pub mod plan;
pub mod review;
pub mod run;
pub mod sandbox;
pub mod setup;
pub mod status;
pub mod sync;
pub mod unsettled;

use crate::config::{self, ConfigError, Loaded, Sources};
use crate::telemetry::LogFormat;
use std::path::PathBuf;

/// Options every subcommand shares.
#[derive(Debug, Clone, Default)]
pub struct Global {
    pub config: Option<PathBuf>,
    pub log_format: LogFormat,
}

impl Global {
    /// Loads the layered configuration named by `--config` (or `tether.toml`) and the
    /// environment, and applies `log.mask_pii` to everything printed from then on.
    pub fn load_config(&self) -> Result<Loaded, ConfigError> {
        let loaded = config::load(Sources::from_process(self.config.as_deref())?)?;
        crate::pii::set_masking(loaded.settings.log.mask_pii);
        Ok(loaded)
    }
}

/// A mistake in how tether was called (exit code 2), as opposed to a runtime failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit code 2 for configuration and usage mistakes anywhere in the chain, else 1.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    let is_usage = err.chain().any(|e| {
        e.downcast_ref::<ConfigError>().is_some() || e.downcast_ref::<UsageError>().is_some()
    });
    if is_usage { 2 } else { 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_and_usage_errors_exit_2_others_1() {
        let e = anyhow::Error::new(ConfigError::Other("x".into())).context("loading");
        assert_eq!(exit_code_for(&e), 2);
        assert_eq!(
            exit_code_for(&anyhow::Error::new(UsageError("bad".into()))),
            2
        );
        assert_eq!(exit_code_for(&anyhow::anyhow!("network down")), 1);
    }
}
