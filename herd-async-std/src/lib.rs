//! The server herd on async-std: a shell that only moves bytes.
//!
//! Every decision is made by `herd-protocol`'s node and sessions, wired up by
//! `herd-shell`; this crate owns async-std's runtime (async-global-executor with as many
//! threads as the other runtimes get, async-io's reactor), its sockets and channels, and
//! carries out the sessions' actions with them. async-std is discontinued upstream (see
//! the backend manifest); it is measured because the comparison calls for it. One task per
//! client connection, two per peer link (reader and writer), one per dialled neighbour.

mod conn;
mod link;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_std::channel::{Sender, TrySendError};
use async_std::net::TcpListener;
use futures_lite::future;
use herd_shell::{Hub, Offer, Server};

/// How the node reaches a peer link: the queue its writer task drains.
type Link = Sender<Arc<[u8]>>;

/// What every task of this server shares.
type Shared = Hub<Link>;

/// The non-blocking send floods go through.
fn offer(link: &Link, wire: Arc<[u8]>) -> Offer {
    match link.try_send(wire) {
        Ok(()) => Offer::Queued,
        Err(TrySendError::Full(_)) => Offer::Full,
        Err(_) => Offer::Closed,
    }
}

/// `io` within `limit`, a timeout being an `io::ErrorKind::TimedOut` error.
async fn timed<T>(limit: Duration, io: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    async_std::io::timeout(limit, io).await
}

/// Binds and serves `server` until its shutdown is triggered.
pub async fn serve(server: Server) -> io::Result<()> {
    let listener = TcpListener::from(server.bind()?);
    let hub = Shared::new(server, (), offer)?;
    for dialer in hub.dialers() {
        async_std::task::spawn(link::dial(Arc::clone(&hub), dialer));
    }
    let shutdown = hub.server.shutdown.clone();
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            shutdown.wait().await;
            None
        });
        match accepted.await {
            Some(Ok((stream, from))) => {
                async_std::task::spawn(conn::client(Arc::clone(&hub), stream, from));
            }
            Some(Err(e)) => {
                if let Some(pause) = hub.accept_failed(&e) {
                    async_std::task::sleep(pause).await;
                }
            }
            None => return Ok(()),
        }
    }
}
