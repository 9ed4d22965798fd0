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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use herd_protocol::{Flood, Node};
use herd_shell::{ConnectionGate, Event, Server, now};
use smol::Executor;
use smol::channel::{Sender, TrySendError};
use smol::net::TcpListener;

/// How the node reaches a peer link: the queue its writer task drains.
type Link = Sender<Arc<[u8]>>;

struct Shared {
    node: Mutex<Node<Link>>,
    server: Server,
    gate: ConnectionGate,
    next_conn: AtomicU64,
    ex: Arc<Executor<'static>>,
}

impl Shared {
    fn node(&self) -> MutexGuard<'_, Node<Link>> {
        self.node.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues floods without waiting; a link whose queue is full is reset (it catches up by
    /// anti-entropy when it comes back).
    fn send(&self, floods: Vec<Flood<Link>>) {
        for flood in floods {
            if let Err(TrySendError::Full(_)) = flood.link.try_send(flood.wire) {
                self.server
                    .log
                    .event(now(), Event::QueueFull { peer: &flood.peer });
                self.node().link_down(&flood.peer, flood.link_id);
            }
        }
    }
}

/// Serves `server` on `listener` until its shutdown is triggered, spawning on `ex`.
pub async fn serve(
    ex: Arc<Executor<'static>>,
    listener: StdListener,
    server: Server,
) -> std::io::Result<()> {
    let listener = TcpListener::try_from(listener)?;
    let node = Node::new(&server.config, &server.name).map_err(std::io::Error::other)?;
    let dials = node.dials();
    let shared = Arc::new(Shared {
        node: Mutex::new(node),
        gate: ConnectionGate::new(server.config.limits.max_connections),
        server,
        next_conn: AtomicU64::new(0),
        ex,
    });
    for dial in dials {
        shared
            .ex
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
                    .ex
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
