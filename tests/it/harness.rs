//! The one integration-test harness, in the spirit of zero2prod's `spawn_app`: the `tether`
//! command every test runs ([`tether_command`], with nothing inherited from the caller's
//! environment that could change its configuration), and [`eventually`], which polls for an
//! awaited condition up to a deadline instead of sleeping a fixed time. Must never hide a
//! failure: a condition that never comes fails the test, naming what was awaited.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(5);

/// The `tether` binary with every inherited `TETHER__*` variable, `TETHER_CONFIG` and
/// `RUST_LOG` removed and colours off; the caller adds its directory, variables and arguments.
pub fn tether_command() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tether"));
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("TETHER__")) {
            c.env_remove(k);
        }
    }
    c.env_remove("TETHER_CONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    c
}

/// [`tether_command`] as an `assert_cmd` command.
pub fn tether_assert() -> assert_cmd::Command {
    assert_cmd::Command::from_std(tether_command())
}

/// Polls `probe` until it gives a value, at most `within`; panics naming `what` otherwise.
pub async fn eventually<T>(
    within: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "waited {within:?} for {what}, in vain"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] with an async probe.
pub async fn eventually_async<T, F: Future<Output = Option<T>>>(
    within: Duration,
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "waited {within:?} for {what}, in vain"
        );
        tokio::time::sleep(POLL).await;
    }
}
