//! `tether doctor`: checks configuration, store and credentials. (Filled in with the store.)

use super::Global;
use std::process::ExitCode;

pub async fn run(global: &Global) -> anyhow::Result<ExitCode> {
    let _loaded = global.load_config()?;
    anyhow::bail!("tether doctor is not implemented yet")
}
