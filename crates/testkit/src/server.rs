//! The loopback HTTP server shared by every emulator.

use std::net::SocketAddr;

use axum::Router;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::Error;

/// A running axum server on `127.0.0.1:<free port>`. Dropping it stops accepting, closes idle
/// keep-alive connections and aborts the accept loop.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// A bound but not yet serving listener: its address is known, so state that needs the base URL
/// (HAL links) can be built before the router.
#[derive(Debug)]
pub(crate) struct Bound {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Bound {
    pub(crate) async fn new() -> Result<Self, Error> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(Error::Bind)?;
        let addr = listener.local_addr().map_err(Error::Bind)?;
        Ok(Self { listener, addr })
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn serve(self, name: &'static str, router: Router) -> Server {
        let Bound { listener, addr } = self;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                // Either an explicit stop or the owner being dropped ends the server.
                let _ = stopped.await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(emulator = name, %error, "emulator server stopped with an error");
            }
        });
        tracing::debug!(emulator = name, %addr, "emulator listening");
        Server {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }
}

impl Server {
    pub(crate) async fn start(name: &'static str, router: Router) -> Result<Self, Error> {
        Ok(Bound::new().await?.serve(name, router))
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits until its accept loop has ended.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
