//! What every connection of one server shares, and the rule for a peer link that falls
//! behind, defined once for all backends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use herd_protocol::{Flood, Node};

use crate::{ConnectionGate, Event, Server, now};

/// What a shell's link queue did with a line it was offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// The queue is at `limits.peer_queue`.
    Full,
    /// The link's writer is gone (the link is ending).
    Closed,
}

/// The node behind a mutex (held only for one synchronous call into the core), the server's
/// settings and log, the connection limit and connection ids. `L` is the shell's link handle
/// (a channel sender); `H` is any runtime handle the shell needs to reach from its tasks.
#[derive(Debug)]
pub struct Hub<L, H = ()> {
    node: Mutex<Node<L>>,
    pub server: Server,
    pub gate: ConnectionGate,
    pub handle: H,
    next_conn: AtomicU64,
}

impl<L: Clone, H> Hub<L, H> {
    pub fn new(server: Server, handle: H) -> std::io::Result<Arc<Hub<L, H>>> {
        let node = Node::new(&server.config, &server.name).map_err(std::io::Error::other)?;
        Ok(Arc::new(Hub {
            node: Mutex::new(node),
            gate: ConnectionGate::new(server.config.limits.max_connections),
            server,
            handle,
            next_conn: AtomicU64::new(0),
        }))
    }

    pub fn node(&self) -> MutexGuard<'_, Node<L>> {
        // A panic while holding the lock cannot leave the core half-updated in a way that
        // matters more than stopping would, so poisoning is ignored.
        self.node.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues floods without waiting, through `offer` (the shell's non-blocking send). A
    /// link whose queue is full is reset; it catches up by anti-entropy when it returns.
    pub fn send(&self, floods: Vec<Flood<L>>, offer: impl Fn(&L, Arc<[u8]>) -> Offer) {
        for flood in floods {
            if offer(&flood.link, flood.wire) == Offer::Full {
                self.server
                    .log
                    .event(now(), Event::QueueFull { peer: &flood.peer });
                self.node().link_down(&flood.peer, flood.link_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HerdConfig, Logger, Shutdown};

    fn hub() -> Arc<Hub<u8>> {
        let config = HerdConfig::parse(
            "[herd]\nkey = \"k\"\n[places]\nbase_url = \"http://127.0.0.1:9\"\nkey = \"p\"\n\
             [[server]]\nname = \"A\"\naddr = \"127.0.0.1:12001\"\nneighbours = [\"B\"]\n\
             [[server]]\nname = \"B\"\naddr = \"127.0.0.1:12002\"\nneighbours = [\"A\"]\n",
            "t",
        )
        .expect("valid");
        let server = Server {
            config,
            name: "A".into(),
            log: Logger::disabled("A"),
            shutdown: Shutdown::new(),
            threads: 1,
        };
        Hub::new(server, ()).expect("node")
    }

    fn flood(hub: &Hub<u8>) -> Vec<Flood<u8>> {
        let mut floods = Vec::new();
        let _ = hub
            .node()
            .client_line(b"IAMAT c +1+1 1", herd_protocol::Nanos(0), &mut floods);
        floods
    }

    #[test]
    fn a_full_queue_resets_its_link_and_a_closed_one_does_not() {
        let hub = hub();
        let _ = hub.node().link_up("B", 7);
        hub.send(flood(&hub), |_, _| Offer::Closed);
        assert_eq!(
            hub.node().links_up().len(),
            1,
            "a closing link is left to end by itself"
        );
        let offered = std::cell::Cell::new(0);
        hub.send(flood(&hub), |_, _| {
            offered.set(offered.get() + 1);
            Offer::Full
        });
        assert_eq!(
            offered.get(),
            0,
            "the same IAMAT again is stale and floods nothing"
        );
        let mut floods = Vec::new();
        let _ = hub
            .node()
            .client_line(b"IAMAT c +1+1 2", herd_protocol::Nanos(0), &mut floods);
        hub.send(floods, |_, _| Offer::Full);
        assert!(
            hub.node().links_up().is_empty(),
            "a full queue takes the link down"
        );
        assert_ne!(hub.conn_id(), hub.conn_id());
    }
}
