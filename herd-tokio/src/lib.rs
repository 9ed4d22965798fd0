//! The server herd on tokio: a shell that only moves bytes.
//!
//! Every decision (what a line means, what to reply, what to flood, when to write, what to
//! ask the places service, when to retry) is made by `herd-protocol`'s node and sessions,
//! wired up by `herd-shell`; this crate owns tokio's multi-threaded runtime and carries
//! out the sessions' actions with its sockets, timers and tasks. One task per client
//! connection, two per peer link (reader and writer), one per dialled neighbour.

mod conn;
mod link;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use herd_shell::{Hub, Offer, Server};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How the node reaches a peer link: the queue its writer task drains.
type Link = mpsc::Sender<Arc<[u8]>>;

/// What every task of this server shares.
type Shared = Hub<Link>;

/// The non-blocking send floods go through.
fn offer(link: &Link, wire: Arc<[u8]>) -> Offer {
    match link.try_send(wire) {
        Ok(()) => Offer::Queued,
        Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
        Err(_) => Offer::Closed,
    }
}

/// `io` within `limit`, a timeout being an `io::ErrorKind::TimedOut` error.
async fn timed<T>(limit: Duration, io: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(limit, io)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

/// Binds and serves `server` until its shutdown is triggered.
pub async fn serve(server: Server) -> io::Result<()> {
    let listener = server.bind()?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let hub = Shared::new(server, (), offer)?;
    for dialer in hub.dialers() {
        tokio::spawn(link::dial(Arc::clone(&hub), dialer));
    }
    let shutdown = hub.server.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, from)) => drop(tokio::spawn(conn::client(Arc::clone(&hub), stream, from))),
                Err(e) => if let Some(pause) = hub.accept_failed(&e) {
                    tokio::time::sleep(pause).await;
                },
            },
            () = shutdown.wait() => return Ok(()),
        }
    }
}
