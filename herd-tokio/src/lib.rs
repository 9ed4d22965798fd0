//! The server herd on tokio: a shell that only moves bytes.
//!
//! Every decision (what a line means, what to reply, what to flood, what to ask the places
//! service) is made by `herd_protocol::Node`; this crate owns tokio's multi-threaded
//! runtime, its sockets, timers and tasks. One task per client connection, two per peer
//! link (reader and writer), one per dialled neighbour. The node sits behind a std mutex
//! held only for a call into the core, the same in every backend.

mod conn;
mod link;

use std::net::TcpListener as StdListener;
use std::sync::Arc;

use herd_shell::{Event, Hub, Offer, Server, now};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How the node reaches a peer link: the queue its writer task drains.
type Link = mpsc::Sender<Arc<[u8]>>;

/// What every task of this server shares.
type Shared = Hub<Link>;

/// The non-blocking send `Hub::send` floods through.
fn offer(link: &Link, wire: Arc<[u8]>) -> Offer {
    match link.try_send(wire) {
        Ok(()) => Offer::Queued,
        Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
        Err(_) => Offer::Closed,
    }
}

/// Serves `server` on `listener` until its shutdown is triggered.
pub async fn serve(listener: StdListener, server: Server) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let shared = Shared::new(server, ())?;
    let dials = shared.node().dials();
    for dial in dials {
        tokio::spawn(link::dial(Arc::clone(&shared), dial));
    }
    let shutdown = shared.server.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, from)) => {
                    tokio::spawn(conn::client(Arc::clone(&shared), stream, from));
                }
                // Out of descriptors and the like: the next accept may succeed.
                Err(e) => shared.server.log.event(now(), Event::Closed { conn: 0, reason: &e.to_string() }),
            },
            () = shutdown.wait() => return Ok(()),
        }
    }
}
