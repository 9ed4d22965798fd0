//! The server herd on async-std: a shell that only moves bytes.
//!
//! Every decision is made by `herd_protocol::Node`; this crate owns async-std's runtime
//! (async-global-executor with as many threads as the other runtimes get, async-io's
//! reactor), its sockets and channels. async-std is discontinued upstream (see the
//! backend manifest); it is measured because the comparison calls for it. One task per client connection, two per peer
//! link (reader and writer), one per dialled neighbour. The node sits behind a std mutex
//! held only for a call into the core, the same in every backend.

mod conn;
mod link;

use std::net::TcpListener as StdListener;
use std::sync::Arc;

use async_std::channel::{Sender, TrySendError};
use async_std::net::TcpListener;
use herd_shell::{Event, Hub, Offer, Server, now};

/// How the node reaches a peer link: the queue its writer task drains.
type Link = Sender<Arc<[u8]>>;

/// What every task of this server shares.
type Shared = Hub<Link>;

/// The non-blocking send `Hub::send` floods through.
fn offer(link: &Link, wire: Arc<[u8]>) -> Offer {
    match link.try_send(wire) {
        Ok(()) => Offer::Queued,
        Err(TrySendError::Full(_)) => Offer::Full,
        Err(_) => Offer::Closed,
    }
}

/// Serves `server` on `listener` until its shutdown is triggered.
pub async fn serve(listener: StdListener, server: Server) -> std::io::Result<()> {
    let listener = TcpListener::from(listener);
    let shared = Shared::new(server, ())?;
    let dials = shared.node().dials();
    for dial in dials {
        async_std::task::spawn(link::dial(Arc::clone(&shared), dial));
    }
    let shutdown = shared.server.shutdown.clone();
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            shutdown.wait().await;
            None
        });
        match accepted.await {
            Some(Ok((stream, from))) => {
                async_std::task::spawn(conn::client(Arc::clone(&shared), stream, from));
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
