//! What every connection of one server shares, and the glue between the protocol's sans-IO
//! sessions and the server's node, log and link queues, defined once for all backends.
//!
//! A shell carries out the actions of [`Client`], [`PeerLink`] and [`Dialer`] with its
//! runtime's read, write, sleep and timeout; everything they decide and log is here or in
//! `herd_protocol::session`, so no backend can sequence a connection differently.
//!
//! An IAMAT that changes the store is acknowledged only once its floods are written to
//! every link that was up: each link incarnation counts the lines queued on it and the
//! lines its writer has handed to the kernel ([`LinkOutbox`]), and a client holds its
//! replies until its floods' sequence numbers are written or their links end. Floods are
//! queued with the node locked, so a link's queue order is its sequence order.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use event_listener::{EventListener, Listener};
use herd_protocol::message::BUSY_REPLY;
use herd_protocol::{
    ClientAction, ClientCore, ClientSession, ClientStep, Dial, DialError, DialHandshake, Flood,
    LinkEnd, LinkId, LinkReader, Node, Outbox, PlacesFailure, Redial,
};

use crate::gate::{ConnectionGate, Permit};
use crate::log::Event;
use crate::server::{Server, now};

/// Stack size of every thread a thread-per-connection backend starts (herd-threads): 256
/// KiB, an eighth of std's 2 MiB default. Reads go straight into each session's small line
/// buffer, replies and places answers are built on the heap, and the session is small
/// inline, so a connection thread touches only a few pages of it: a thread's share of
/// resident memory is the pages it touches, not this reservation, which only bounds how
/// deep a thread may recurse (the places JSON is parsed on it).
pub const THREAD_STACK_BYTES: usize = 256 * 1024;

/// What a shell's link queue did with a line it was offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// The queue is at `limits.peer_queue`.
    Full,
    /// The link's writer is gone (the link is ending).
    Closed,
}

/// A shell's non-blocking send on its link handle.
pub type OfferFn<L> = fn(&L, Arc<[u8]>) -> Offer;

/// How far one link incarnation has got: lines queued on it (under the node's lock, so in
/// queue order), lines its writer has written, and whether it has ended. Waiters listen on
/// `event`, notified at every write and at the end.
#[derive(Debug, Default)]
struct LinkProgress {
    queued: AtomicU64,
    written: AtomicU64,
    ended: AtomicBool,
    event: event_listener::Event,
}

impl LinkProgress {
    /// Whether the line with sequence number `seq` is written, or can no longer be.
    fn done(&self, seq: u64) -> bool {
        self.ended.load(Ordering::Acquire) || self.written.load(Ordering::Acquire) >= seq
    }

    fn wrote(&self, lines: u64) {
        if lines > 0 {
            self.written.fetch_add(lines, Ordering::AcqRel);
            self.event.notify(usize::MAX);
        }
    }

    fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.event.notify(usize::MAX);
    }
}

/// What the node keeps for a live link: the shell's handle to its queue and its progress.
#[derive(Debug, Clone)]
pub struct LinkHandle<L> {
    tx: L,
    progress: Arc<LinkProgress>,
}

/// The writing half of a running link: the protocol's [`Outbox`], reporting each write to
/// the clients waiting for their floods.
#[derive(Debug)]
pub struct LinkOutbox {
    out: Outbox,
    progress: Arc<LinkProgress>,
}

impl LinkOutbox {
    /// Adds queued lines (usually everything the link's queue holds right now).
    pub fn extend<W: AsRef<[u8]>>(&mut self, lines: impl IntoIterator<Item = W>) {
        self.out.extend(lines);
    }

    /// What to write now (may be empty).
    pub fn bytes(&self) -> &[u8] {
        self.out.bytes()
    }

    /// The write of [`LinkOutbox::bytes`] finished: the lines it carried are in the kernel.
    pub fn written(&mut self) {
        self.progress.wrote(self.out.written());
    }
}

/// The floods one client's pending replies wait for: per link, the highest sequence number.
#[derive(Debug, Default)]
struct FloodWaits(Vec<(Arc<LinkProgress>, u64)>);

impl FloodWaits {
    fn add(&mut self, link: &Arc<LinkProgress>, seq: u64) {
        match self.0.iter_mut().find(|(p, _)| Arc::ptr_eq(p, link)) {
            Some((_, at)) => *at = seq.max(*at),
            None => self.0.push((Arc::clone(link), seq)),
        }
    }

    fn pending(&mut self) -> bool {
        self.0.retain(|(link, seq)| !link.done(*seq));
        !self.0.is_empty()
    }

    /// A listener for the first link still pending, registered before the last check so
    /// no notification is missed; `None` if nothing is pending any more.
    fn listener(&mut self) -> Option<EventListener> {
        let (link, seq) = self.0.iter().find(|(link, seq)| !link.done(*seq))?;
        let listener = link.event.listen();
        (!link.done(*seq)).then_some(listener)
    }
}

/// The node behind a mutex (held only for one synchronous call into the core), the server's
/// settings and log, the connection limit and connection ids. `L` is the shell's link handle
/// (a channel sender); `H` is any runtime handle the shell needs to reach from its tasks.
#[derive(Debug)]
pub struct Hub<L, H = ()> {
    node: Mutex<Node<LinkHandle<L>>>,
    pub server: Server,
    pub gate: ConnectionGate,
    pub handle: H,
    offer: OfferFn<L>,
    next_conn: AtomicU64,
}

impl<L: Clone, H> Hub<L, H> {
    /// `offer` is the shell's non-blocking send on a link handle.
    pub fn new(server: Server, handle: H, offer: OfferFn<L>) -> io::Result<Arc<Hub<L, H>>> {
        let node = Node::new(&server.config, &server.name).map_err(io::Error::other)?;
        Ok(Arc::new(Hub {
            node: Mutex::new(node),
            gate: ConnectionGate::new(server.config.limits.max_connections),
            server,
            handle,
            offer,
            // Id 0 is never given out, so no real connection shares it with "none".
            next_conn: AtomicU64::new(1),
        }))
    }

    pub fn node(&self) -> MutexGuard<'_, Node<LinkHandle<L>>> {
        // A panic while holding the lock cannot leave the core half-updated in a way that
        // matters more than stopping would, so poisoning is ignored.
        self.node.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// The neighbours this server dials, each with its reconnect schedule.
    pub fn dialers(&self) -> Vec<Dialer> {
        let dials = self.node().dials();
        dials.into_iter().map(Dialer::new).collect()
    }

    /// Accepting a connection failed (out of descriptors and the like): logged. Returns how
    /// long the accept loop pauses before the next accept, if at all (`accept.rs`).
    #[must_use]
    pub fn accept_failed(&self, error: &io::Error) -> Option<Duration> {
        let reason = error.to_string();
        self.server
            .log
            .event(now(), Event::AcceptFailed { error: &reason });
        crate::accept::pause_after(error)
    }

    /// Queues floods without waiting, with `node` (locked) the one that made them, and adds
    /// each queued line to `waits`, if anyone waits. A link whose queue is full is reset,
    /// which releases its waiters; it catches up by anti-entropy when it returns. `floods`
    /// is left empty, its room kept for the next line (no allocation per line).
    fn send(
        &self,
        node: &mut Node<LinkHandle<L>>,
        floods: &mut Vec<Flood<LinkHandle<L>>>,
        mut waits: Option<&mut FloodWaits>,
    ) {
        for Flood {
            peer,
            link_id,
            link,
            wire,
        } in floods.drain(..)
        {
            match (self.offer)(&link.tx, wire) {
                Offer::Queued => {
                    let seq = link.progress.queued.fetch_add(1, Ordering::Relaxed) + 1;
                    if let Some(waits) = waits.as_deref_mut() {
                        waits.add(&link.progress, seq);
                    }
                }
                Offer::Full => {
                    self.server
                        .log
                        .event(now(), Event::QueueFull { peer: &peer });
                    node.link_down(&peer, link_id);
                    link.progress.end();
                }
                // The link is ending; anti-entropy repairs it when it returns.
                Offer::Closed => {}
            }
        }
    }

    fn client_line(
        &self,
        conn: u64,
        line: &[u8],
        waits: &mut FloodWaits,
        floods: &mut Vec<Flood<LinkHandle<L>>>,
    ) -> ClientStep {
        self.server.log.event(now(), Event::Input { conn, line });
        let mut node = self.node();
        let step = node.client_line(line, now(), floods);
        self.send(&mut node, floods, Some(waits));
        step
    }
}

impl<L: Clone, H> Hub<L, H> {
    /// A new connection from `from`: a [`Client`] (whose places connections are of the
    /// shell's stream type `S`), or, past the connection limit, the refusal to write before
    /// closing it.
    pub fn accept<S>(self: &Arc<Self>, from: SocketAddr) -> Result<Client<L, S, H>, &'static [u8]> {
        let Some(permit) = self.gate.try_enter() else {
            let limit = self.gate.limit();
            self.server.log.event(now(), Event::Refused { from, limit });
            return Err(BUSY_REPLY);
        };
        let conn = self.conn_id();
        self.server.log.event(now(), Event::Accepted { conn, from });
        Ok(Client {
            hub: Arc::clone(self),
            conn,
            session: ClientSession::new(),
            waits: FloodWaits::default(),
            _permit: permit,
        })
    }

    /// A link to `peer` finished its handshake on connection `conn`; `link` is the handle
    /// floods reach its writer through. Returns the reader and the writer's outbox (the
    /// anti-entropy snapshot first), or `None` if `peer` is no neighbour.
    pub fn link_up(
        self: &Arc<Self>,
        peer: &str,
        conn: u64,
        link: L,
        pending: &[u8],
    ) -> Option<(PeerLink<L, H>, LinkOutbox)> {
        let progress = Arc::new(LinkProgress::default());
        let handle = LinkHandle {
            tx: link,
            progress: Arc::clone(&progress),
        };
        let (id, snapshot) = self.node().link_up(peer, handle)?;
        self.server.log.event(now(), Event::LinkUp { peer, conn });
        let link = PeerLink {
            hub: Arc::clone(self),
            peer: peer.into(),
            id,
            reader: LinkReader::new(pending),
            progress: Arc::clone(&progress),
            floods: Vec::new(),
        };
        let out = LinkOutbox {
            out: Outbox::new(snapshot),
            progress,
        };
        Some((link, out))
    }
}

/// An accepted connection: the protocol's [`ClientSession`] wired to the node and the log.
#[derive(Debug)]
pub struct Client<L, S, H = ()> {
    hub: Arc<Hub<L, H>>,
    conn: u64,
    session: ClientSession<S>,
    waits: FloodWaits,
    _permit: Permit,
}

/// The session's view of the server, for one connection.
struct Core<'h, L, H> {
    hub: &'h Hub<L, H>,
    conn: u64,
    waits: &'h mut FloodWaits,
}

impl<L: Clone, H> ClientCore for Core<'_, L, H> {
    fn line(&mut self, line: &[u8]) -> ClientStep {
        // A fresh `Vec` per line, not one kept per client: thousands of idle clients would
        // each keep the room of their last line's floods.
        self.hub
            .client_line(self.conn, line, self.waits, &mut Vec::new())
    }

    fn floods_pending(&mut self) -> bool {
        self.waits.pending()
    }

    fn floods_timed_out(&mut self) {
        let links = self.waits.0.len();
        self.waits.0.clear();
        let event = Event::FloodWaitTimedOut {
            conn: self.conn,
            links,
        };
        self.hub.server.log.event(now(), event);
    }

    fn places_failed(&mut self, failure: &PlacesFailure) {
        let (error, conn) = (failure.to_string(), self.conn);
        let event = Event::PlacesFailed {
            conn,
            error: &error,
        };
        self.hub.server.log.event(now(), event);
    }
}

impl<L: Clone, S, H> Client<L, S, H> {
    pub fn conn(&self) -> u64 {
        self.conn
    }

    pub fn hub(&self) -> &Arc<Hub<L, H>> {
        &self.hub
    }

    /// What to do next; writes to the client and closes are logged here.
    pub fn poll(&mut self) -> ClientAction<'_, S> {
        let mut core = Core {
            hub: &self.hub,
            conn: self.conn,
            waits: &mut self.waits,
        };
        let action = self.session.poll(Instant::now(), &mut core);
        let (log, conn) = (&self.hub.server.log, self.conn);
        match &action {
            ClientAction::Write(bytes) => log.event(now(), Event::Output { conn, bytes }),
            ClientAction::Close(why) => {
                let reason = why.to_string();
                log.event(
                    now(),
                    Event::Closed {
                        conn,
                        reason: &reason,
                    },
                );
            }
            _ => {}
        }
        action
    }

    /// A read asked for by `Read` or `PlacesRead` finished.
    pub fn read(&mut self, read: io::Result<usize>) {
        let mut core = Core {
            hub: &self.hub,
            conn: self.conn,
            waits: &mut self.waits,
        };
        self.session.read(read, &mut core);
    }

    /// A write asked for by `Write` or `PlacesWrite` finished.
    pub fn wrote(&mut self, written: io::Result<()>) {
        self.session.wrote(written);
    }

    /// The connection to the places service asked for by `Connect`.
    pub fn connected(&mut self, connected: io::Result<S>) {
        self.session.connected(connected);
    }

    /// For `AwaitFloods`: resolves when a link the replies wait for has written or ended
    /// (on any executor); the shell bounds it by the action's `within`, then polls again.
    pub async fn floods_written(&mut self) {
        if let Some(listener) = self.waits.listener() {
            listener.await;
        }
    }

    /// [`Client::floods_written`] for a thread: blocks at most `within`.
    pub fn floods_written_blocking(&mut self, within: Duration) {
        if let Some(listener) = self.waits.listener() {
            let _ = listener.wait_timeout(within);
        }
    }
}

/// The reading half of a running link, wired to the node and the log. End it with
/// [`PeerLink::end`].
#[derive(Debug)]
pub struct PeerLink<L, H = ()> {
    hub: Arc<Hub<L, H>>,
    peer: Arc<str>,
    id: LinkId,
    reader: LinkReader,
    progress: Arc<LinkProgress>,
    /// Room for the floods of one line, reused from line to line.
    floods: Vec<Flood<LinkHandle<L>>>,
}

impl<L: Clone, H> PeerLink<L, H> {
    /// Handles every line read so far, then lends room for the next read; or says why the
    /// link has ended.
    pub fn poll(&mut self) -> Result<&mut [u8], LinkEnd> {
        let (hub, peer, floods) = (&self.hub, &self.peer, &mut self.floods);
        self.reader.poll(|line| {
            let mut node = hub.node();
            let step = node.peer_line(peer, line, floods);
            // Nobody waits for news passed on: the server that acknowledged it wrote it here.
            hub.send(&mut node, floods, None);
            drop(node);
            let outcome = step.describe();
            hub.server.log.event(
                now(),
                Event::PeerLine {
                    peer,
                    line,
                    outcome,
                },
            );
        })
    }

    pub fn read(&mut self, read: io::Result<usize>) {
        self.reader.read(read);
    }

    /// The link ended: the node forgets it (unless a newer link replaced it), clients waiting
    /// for its writes are released, and its end is logged.
    pub fn end(self, why: LinkEnd) {
        self.hub.node().link_down(&self.peer, self.id);
        self.progress.end();
        let reason = why.to_string();
        self.hub.server.log.event(
            now(),
            Event::LinkDown {
                peer: &self.peer,
                reason: &reason,
            },
        );
    }
}

/// A neighbour this server dials, with its reconnect schedule.
#[derive(Debug)]
pub struct Dialer {
    pub dial: Dial,
    redial: Redial,
}

impl Dialer {
    fn new(dial: Dial) -> Dialer {
        Dialer {
            dial,
            redial: Redial::new(),
        }
    }

    /// A fresh handshake for the next attempt.
    pub fn handshake<L: Clone, H>(&self, hub: &Hub<L, H>) -> DialHandshake {
        DialHandshake::new(&hub.node(), self.dial.peer.clone())
    }

    /// The link came up and ran; the back-off starts over.
    pub fn linked(&mut self) {
        self.redial.linked();
    }

    /// An attempt failed: logged; returns how long to wait before the next.
    pub fn failed<L: Clone, H>(&mut self, hub: &Hub<L, H>, error: &DialError) -> Duration {
        let delay = self.redial.failed();
        let error = error.to_string();
        hub.server.log.event(
            now(),
            Event::DialFailed {
                peer: &self.dial.peer,
                error: &error,
                retry_in_ms: delay.as_millis(),
            },
        );
        delay
    }
}

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;
