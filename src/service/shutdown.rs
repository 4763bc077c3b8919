//! Graceful shutdown: SIGTERM and SIGINT (Ctrl-C) flip a watch channel that the scheduler
//! and the HTTP server follow (stop taking work; the in-flight cycle gets a deadline).
//!
//! Owns signal handling only. Must never exit the process itself: `tether run` returns
//! normally (exit 0) once everything has stopped.

use tokio::sync::watch;

/// A shutdown switch: `true` once shutdown was asked.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        Self {
            tx: watch::channel(false).0,
        }
    }

    /// Asks everything to stop.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether shutdown was asked.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// A receiver to follow the switch.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    /// Resolves once shutdown is asked.
    pub async fn wait(&self) {
        let mut rx = self.subscribe();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Installs the SIGTERM/SIGINT handlers now (so a signal arriving at once is not lost) and
/// returns a future resolving with the first signal's name. Also used by `tether sandbox`,
/// which has no cycle to finish and simply stops on it.
pub fn listen() -> impl std::future::Future<Output = &'static str> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let streams = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            match streams {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => "SIGTERM",
                        _ = int.recv() => "SIGINT",
                    }
                }
                _ => {
                    tracing::warn!("cannot install signal handlers; falling back to Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                    "SIGINT"
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

/// Installs the handlers and spawns a task that triggers `shutdown` on the first
/// SIGTERM/SIGINT. Must be called inside the tokio runtime.
pub fn on_signal(shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
    let signal = listen();
    tokio::spawn(async move {
        let name = signal.await;
        tracing::info!(signal = name, "shutdown asked: finishing the current work");
        shutdown.trigger();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_returns_once_triggered() {
        let s = Shutdown::new();
        assert!(!s.is_triggered());
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        s.trigger();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(s.is_triggered());
        // Already triggered: returns at once.
        s.wait().await;
    }
}
