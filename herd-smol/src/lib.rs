//! The server herd on smol: a shell that only moves bytes.
//!
//! Every decision is made by `herd_protocol::Node`; this crate owns an `async-executor`
//! `Executor` driven by as many threads as the other runtimes get, async-io's reactor,
//! async-net sockets and async-channel queues. One task per client connection, two per peer
//! link (reader and writer), one per dialled neighbour. The node sits behind a std mutex
//! held only for a call into the core, the same in every backend.

mod conn;
mod link;

use std::net::TcpListener as StdListener;
use std::sync::Arc;

use herd_shell::{Event, Hub, Offer, Server, now};
use smol::Executor;
use smol::channel::{Sender, TrySendError};
use smol::net::TcpListener;

/// How the node reaches a peer link: the queue its writer task drains.
type Link = Sender<Arc<[u8]>>;

/// What every task of this server shares.
type Shared = Hub<Link, Arc<Executor<'static>>>;

/// The non-blocking send `Hub::send` floods through.
fn offer(link: &Link, wire: Arc<[u8]>) -> Offer {
    match link.try_send(wire) {
        Ok(()) => Offer::Queued,
        Err(TrySendError::Full(_)) => Offer::Full,
        Err(_) => Offer::Closed,
    }
}

/// Serves `server` on `listener` until its shutdown is triggered, spawning on `ex`.
pub async fn serve(
    ex: Arc<Executor<'static>>,
    listener: StdListener,
    server: Server,
) -> std::io::Result<()> {
    let listener = TcpListener::try_from(listener)?;
    let shared = Shared::new(server, ex)?;
    let dials = shared.node().dials();
    for dial in dials {
        shared
            .handle
            .spawn(link::dial(Arc::clone(&shared), dial))
            .detach();
    }
    let shutdown = shared.server.shutdown.clone();
    loop {
        let accepted = smol::future::or(async { Some(listener.accept().await) }, async {
            shutdown.wait().await;
            None
        });
        match accepted.await {
            Some(Ok((stream, from))) => {
                shared
                    .handle
                    .spawn(conn::client(Arc::clone(&shared), stream, from))
                    .detach();
            }
            // Out of descriptors and the like: the next accept may succeed.
            Some(Err(e)) => shared.server.log.event(
                now(),
                Event::Closed {
                    conn: 0,
                    reason: &e.to_string(),
                },
            ),
            None => return Ok(()),
        }
    }
}
