//! One server of the herd as a state machine: client lines, peer lines and link changes in;
//! replies, places calls and floods out.
//!
//! `Node<L>` is generic over `L`, the shell's handle for sending to a peer link (usually a
//! channel sender). The node stores the handle of each live link and names it in every
//! [`Flood`], so the shell needs no routing table of its own; the node never sends anything
//! itself.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{ConfigError, HerdConfig, Limits};
use crate::message::{Command, Invalid, Record, hello_line, invalid_reply, parse_line};
use crate::places::{Endpoint, PlacesCall};
use crate::store::{LocationStore, Offer};
use crate::time::Nanos;

/// How long a new link may take to exchange HELLO lines before it is dropped.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Identifies one incarnation of a link, so a late "down" from a replaced connection
/// cannot take down its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(u64);

/// A line to queue on a peer link.
#[derive(Debug, Clone)]
#[must_use = "a flood that is not sent loses an update until the next anti-entropy"]
pub struct Flood<L> {
    pub peer: Arc<str>,
    pub link_id: LinkId,
    pub link: L,
    pub wire: Arc<[u8]>,
}

/// What the shell does with one client line.
#[derive(Debug)]
#[must_use]
pub enum ClientStep {
    /// A blank line: no reply.
    Silent,
    /// Send these bytes (a reply or a `? ` rejection).
    Reply(Vec<u8>),
    /// Make this places call, then send what [`PlacesCall::finish`] returns.
    Places(PlacesCall),
    /// A neighbour's valid HELLO: send `reply`, then run this connection as the link to
    /// `peer` (see [`Node::link_up`]).
    Peer { peer: Arc<str>, reply: Vec<u8> },
    /// A failed handshake: close the connection.
    Close(HandshakeError),
}

/// What a line from a peer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerStep {
    /// Newer news, stored and flooded onwards.
    Stored,
    /// Not newer: dropped, which is what ends a flood.
    Stale,
    /// A new client while the store is full: dropped.
    Full,
    Invalid(Invalid),
}

impl PeerStep {
    /// A word for logs.
    pub fn describe(&self) -> &'static str {
        match self {
            PeerStep::Stored => "stored",
            PeerStep::Stale => "stale",
            PeerStep::Full => "store full",
            PeerStep::Invalid(_) => "invalid",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("expected `HELLO <server> <key>`")]
    Malformed,
    #[error("wrong herd key from {0:?}")]
    WrongKey(String),
    #[error("{0:?} is not a neighbour of this server")]
    NotNeighbour(String),
    #[error("expected a HELLO from {expected:?}, got one from {got:?}")]
    UnexpectedPeer { expected: String, got: String },
}

/// A neighbour this node must dial (the lower name of a pair dials; the higher accepts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    pub peer: Arc<str>,
    pub addr: SocketAddr,
}

#[derive(Debug)]
struct Neighbour<L> {
    name: Arc<str>,
    addr: SocketAddr,
    live: Option<(LinkId, L)>,
}

/// The state of one server.
#[derive(Debug)]
pub struct Node<L> {
    name: String,
    key: String,
    endpoint: Endpoint,
    limits: Limits,
    store: LocationStore,
    neighbours: BTreeMap<Arc<str>, Neighbour<L>>,
    next_link: u64,
    anti_entropy: bool,
}

impl<L: Clone> Node<L> {
    /// The node for server `name` of `config`.
    pub fn new(config: &HerdConfig, name: &str) -> Result<Self, ConfigError> {
        let err = |message: String| ConfigError {
            source: "config".into(),
            line: None,
            message,
        };
        let me = config.server(name).ok_or_else(|| {
            let names: Vec<&str> = config.names().collect();
            err(format!(
                "no server named {name:?}; the herd has {}",
                names.join(", ")
            ))
        })?;
        let endpoint = Endpoint::from_config(&config.places).map_err(err)?;
        let neighbours = me
            .neighbours
            .iter()
            .filter_map(|n| config.server(n))
            .map(|s| {
                let name: Arc<str> = s.name.as_str().into();
                let entry = Neighbour {
                    name: Arc::clone(&name),
                    addr: s.addr,
                    live: None,
                };
                (name, entry)
            })
            .collect();
        Ok(Node {
            name: name.to_owned(),
            key: config.herd.key.clone(),
            endpoint,
            limits: config.limits,
            store: LocationStore::new(config.limits.max_clients),
            neighbours,
            next_link: 0,
            anti_entropy: config.herd.anti_entropy,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn store(&self) -> &LocationStore {
        &self.store
    }

    /// Neighbours this node dials and keeps redialling; the others dial it.
    pub fn dials(&self) -> Vec<Dial> {
        self.neighbours
            .values()
            .filter(|n| self.name.as_str() < &*n.name)
            .map(|n| Dial {
                peer: Arc::clone(&n.name),
                addr: n.addr,
            })
            .collect()
    }

    /// The HELLO this node sends when it dials, and answers a valid HELLO with.
    pub fn hello(&self) -> Vec<u8> {
        hello_line(&self.name, &self.key).into_bytes()
    }

    /// Handles one line from a client connection, received at `now`.
    pub fn client_line(
        &mut self,
        line: &[u8],
        now: Nanos,
        floods: &mut Vec<Flood<L>>,
    ) -> ClientStep {
        let command = match parse_line(line) {
            Ok(Some(command)) => command,
            Ok(None) => return ClientStep::Silent,
            Err(_) => return ClientStep::Reply(invalid_reply(line)),
        };
        match command {
            Command::Iamat {
                client,
                location,
                time,
            } => {
                let record = Record::from_iamat(&self.name, now, client, location, time);
                let reply = record.wire().to_vec();
                match self.store.offer(record.clone()) {
                    Offer::Stored => self.flood(&record, None, floods),
                    Offer::Stale => {}
                    Offer::Full => return ClientStep::Reply(invalid_reply(line)),
                }
                ClientStep::Reply(reply)
            }
            Command::Whatsat {
                client,
                radius,
                bound,
            } => match self.store.get(client) {
                Some(record) => ClientStep::Places(self.endpoint.call(record, &radius, bound)),
                None => ClientStep::Reply(invalid_reply(line)),
            },
            Command::Hello { server, key } => match self.check_hello(server, key) {
                Ok(peer) => ClientStep::Peer {
                    peer,
                    reply: self.hello(),
                },
                Err(e) => ClientStep::Close(e),
            },
        }
    }

    /// Checks the HELLO a dialled neighbour answered with.
    pub fn hello_reply(&self, expected: &str, line: &[u8]) -> Result<Arc<str>, HandshakeError> {
        match parse_line(line) {
            Ok(Some(Command::Hello { server, key })) if server == expected => {
                self.check_hello(server, key)
            }
            Ok(Some(Command::Hello { server, .. })) => Err(HandshakeError::UnexpectedPeer {
                expected: expected.to_owned(),
                got: server.to_owned(),
            }),
            _ => Err(HandshakeError::Malformed),
        }
    }

    fn check_hello(&self, server: &str, key: &str) -> Result<Arc<str>, HandshakeError> {
        let neighbour = self
            .neighbours
            .get(server)
            .ok_or_else(|| HandshakeError::NotNeighbour(server.to_owned()))?;
        if key != self.key {
            return Err(HandshakeError::WrongKey(server.to_owned()));
        }
        Ok(Arc::clone(&neighbour.name))
    }

    /// Handles one line of location news from the link to `from`.
    pub fn peer_line(&mut self, from: &str, line: &[u8], floods: &mut Vec<Flood<L>>) -> PeerStep {
        let record = match Record::parse(line) {
            Ok(record) => record,
            Err(e) => return PeerStep::Invalid(e),
        };
        match self.store.offer(record.clone()) {
            Offer::Stored => {
                self.flood(&record, Some(from), floods);
                PeerStep::Stored
            }
            Offer::Stale => PeerStep::Stale,
            Offer::Full => PeerStep::Full,
        }
    }

    /// A link to `peer` completed its handshake; `link` is how the shell sends on it. Any
    /// previous link to the same peer is replaced (its handle dropped). Returns the link's id
    /// and the anti-entropy snapshot: every stored record, to be written before anything
    /// flooded through `link` afterwards.
    pub fn link_up(&mut self, peer: &str, link: L) -> Option<(LinkId, Vec<u8>)> {
        let neighbour = self.neighbours.get_mut(peer)?;
        self.next_link += 1;
        let id = LinkId(self.next_link);
        neighbour.live = Some((id, link));
        let mut snapshot = Vec::new();
        for record in self.store.iter().filter(|_| self.anti_entropy) {
            snapshot.extend_from_slice(record.wire());
        }
        Some((id, snapshot))
    }

    /// The link `id` to `peer` ended. Returns whether it was the live one (a replaced link's
    /// late end changes nothing).
    pub fn link_down(&mut self, peer: &str, id: LinkId) -> bool {
        match self.neighbours.get_mut(peer) {
            Some(n) if n.live.as_ref().is_some_and(|(live, _)| *live == id) => {
                n.live = None;
                true
            }
            _ => false,
        }
    }

    /// Names of neighbours with a live link.
    pub fn links_up(&self) -> Vec<Arc<str>> {
        self.neighbours
            .values()
            .filter(|n| n.live.is_some())
            .map(|n| Arc::clone(&n.name))
            .collect()
    }

    fn flood(&self, record: &Record, except: Option<&str>, floods: &mut Vec<Flood<L>>) {
        for n in self.neighbours.values() {
            if let (Some((id, link)), false) = (&n.live, Some(&*n.name) == except) {
                floods.push(Flood {
                    peer: Arc::clone(&n.name),
                    link_id: *id,
                    link: link.clone(),
                    wire: Arc::clone(record.wire()),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERD: &str = r#"
[herd]
key = "secret"
[places]
base_url = "http://127.0.0.1:9"
key = "pk"
[[server]]
name = "A"
addr = "127.0.0.1:12001"
neighbours = ["B", "C"]
[[server]]
name = "B"
addr = "127.0.0.1:12002"
neighbours = ["A"]
[[server]]
name = "C"
addr = "127.0.0.1:12003"
neighbours = ["A"]
"#;

    fn node(name: &str) -> Node<&'static str> {
        Node::new(&HerdConfig::parse(HERD, "t").expect("valid"), name).expect("known")
    }

    #[test]
    fn lower_name_dials() {
        let dials: Vec<String> = node("A")
            .dials()
            .iter()
            .map(|d| d.peer.to_string())
            .collect();
        assert_eq!(dials, ["B", "C"]);
        assert!(node("B").dials().is_empty());
    }

    #[test]
    fn iamat_replies_stores_and_floods_to_live_links() {
        let mut a = node("A");
        let (_, snapshot) = a.link_up("B", "to-B").expect("neighbour");
        assert!(snapshot.is_empty());
        let mut floods = Vec::new();
        let step = a.client_line(b"IAMAT c +1+1 10", Nanos::from_secs(11), &mut floods);
        let ClientStep::Reply(reply) = step else {
            panic!("{step:?}")
        };
        assert_eq!(reply, b"AT A +1.000000000 c +1+1 10\n");
        assert_eq!(floods.len(), 1, "only B is up");
        assert_eq!((&*floods[0].peer, floods[0].link), ("B", "to-B"));
        assert_eq!(&*floods[0].wire, &reply[..]);

        // A stale IAMAT still gets its own AT reply but changes and floods nothing.
        floods.clear();
        let ClientStep::Reply(reply) =
            a.client_line(b"IAMAT c +2+2 9", Nanos::from_secs(11), &mut floods)
        else {
            panic!()
        };
        assert_eq!(reply, b"AT A +2.000000000 c +2+2 9\n");
        assert!(floods.is_empty());
        assert_eq!(
            a.store().get("c").map(|r| r.location().as_str()),
            Some("+1+1")
        );
    }

    #[test]
    fn whatsat_needs_a_known_client() {
        let mut a = node("A");
        let mut floods = Vec::new();
        let step = a.client_line(b"WHATSAT c 10 5", Nanos(0), &mut floods);
        assert!(matches!(step, ClientStep::Reply(ref r) if r == b"? WHATSAT c 10 5\n"));
        let _ = a.client_line(b"IAMAT c +1+1 10", Nanos(0), &mut floods);
        let ClientStep::Places(call) = a.client_line(b"WHATSAT c 10 5", Nanos(0), &mut floods)
        else {
            panic!()
        };
        assert_eq!(call.authority(), "127.0.0.1:9");
    }

    #[test]
    fn peer_news_floods_onwards_but_not_back() {
        let mut a = node("A");
        let _ = a.link_up("B", "to-B");
        let _ = a.link_up("C", "to-C");
        let mut floods = Vec::new();
        let line = b"AT B +0.000000000 c +1+1 10";
        assert_eq!(a.peer_line("B", line, &mut floods), PeerStep::Stored);
        let to: Vec<&str> = floods.iter().map(|f| f.link).collect();
        assert_eq!(to, ["to-C"]);
        floods.clear();
        assert_eq!(a.peer_line("C", line, &mut floods), PeerStep::Stale);
        assert!(floods.is_empty());
        assert!(matches!(
            a.peer_line("C", b"IAMAT x +1+1 1", &mut floods),
            PeerStep::Invalid(_)
        ));
    }

    #[test]
    fn handshakes() {
        let mut b = node("B");
        let mut floods = Vec::new();
        let step = b.client_line(b"HELLO A secret", Nanos(0), &mut floods);
        assert!(
            matches!(step, ClientStep::Peer { ref peer, ref reply } if &**peer == "A" && reply == b"HELLO B secret\n")
        );
        let step = b.client_line(b"HELLO A wrong", Nanos(0), &mut floods);
        assert!(matches!(
            step,
            ClientStep::Close(HandshakeError::WrongKey(_))
        ));
        let step = b.client_line(b"HELLO C secret", Nanos(0), &mut floods);
        assert!(matches!(
            step,
            ClientStep::Close(HandshakeError::NotNeighbour(_))
        ));
        let a = node("A");
        assert!(a.hello_reply("B", b"HELLO B secret").is_ok());
        assert!(matches!(
            a.hello_reply("B", b"HELLO C secret"),
            Err(HandshakeError::UnexpectedPeer { .. })
        ));
        assert_eq!(
            a.hello_reply("B", b"? nope"),
            Err(HandshakeError::Malformed)
        );
    }

    #[test]
    fn link_up_snapshots_and_replaced_links_ignore_late_downs() {
        let mut a = node("A");
        let mut floods = Vec::new();
        let _ = a.client_line(b"IAMAT c +1+1 10", Nanos(0), &mut floods);
        let (old, _) = a.link_up("B", "old").expect("neighbour");
        let (new, snapshot) = a.link_up("B", "new").expect("neighbour");
        assert_eq!(snapshot, b"AT A -10.000000000 c +1+1 10\n");
        assert!(!a.link_down("B", old), "stale down ignored");
        assert_eq!(a.links_up().len(), 1);
        assert!(a.link_down("B", new));
        assert!(a.links_up().is_empty());
        assert!(a.link_up("Z", "nobody").is_none());
    }
}
