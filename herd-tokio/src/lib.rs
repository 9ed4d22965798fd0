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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use herd_protocol::{Flood, Node};
use herd_shell::{ConnectionGate, Event, Server, now};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How the node reaches a peer link: the queue its writer task drains.
type Link = mpsc::Sender<Arc<[u8]>>;

struct Shared {
    node: Mutex<Node<Link>>,
    server: Server,
    gate: ConnectionGate,
    next_conn: AtomicU64,
}

impl Shared {
    fn node(&self) -> MutexGuard<'_, Node<Link>> {
        // A panic while holding the lock cannot leave the core half-updated in a way that
        // matters more than stopping would, so poisoning is ignored.
        self.node.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues floods without waiting; a link whose queue is full is reset (it catches up by
    /// anti-entropy when it comes back).
    fn send(&self, floods: Vec<Flood<Link>>) {
        for flood in floods {
            if let Err(mpsc::error::TrySendError::Full(_)) = flood.link.try_send(flood.wire) {
                self.server
                    .log
                    .event(now(), Event::QueueFull { peer: &flood.peer });
                self.node().link_down(&flood.peer, flood.link_id);
            }
        }
    }
}

/// Serves `server` on `listener` until its shutdown is triggered.
pub async fn serve(listener: StdListener, server: Server) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let node = Node::new(&server.config, &server.name).map_err(std::io::Error::other)?;
    let dials = node.dials();
    let shared = Arc::new(Shared {
        node: Mutex::new(node),
        gate: ConnectionGate::new(server.config.limits.max_connections),
        server,
        next_conn: AtomicU64::new(0),
    });
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
