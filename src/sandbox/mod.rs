//! Faithful in-memory fakes of the HubSpot and Gorgias APIs, served over real HTTP (axum).
//!
//! A product feature (`tether sandbox`, `tether demo`) as much as a test tool: every
//! integration test runs the real connectors against these over loopback. Each sandbox
//! follows its contract in `shared/contracts/`, never the client's convenience, and keeps
//! its test controls under `/__sandbox/`. Must never be reachable from the sync code except
//! over HTTP.

pub mod gorgias;
pub mod hubspot;
pub mod pair;

pub use pair::Sandboxes;

use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A sandbox (or any router) serving on a socket until stopped or dropped.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    /// `http://ADDR`, the base URL a client is pointed at.
    pub base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting connections and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `addr` (port 0 picks a free port) and serves `router` in a background task.
pub async fn serve(router: axum::Router, addr: SocketAddr) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "sandbox server stopped with an error");
        }
    });
    Ok(Running {
        addr,
        base_url: format!("http://{addr}"),
        shutdown: Some(tx),
        task: Some(task),
    })
}
