//! The sequencing of every connection as sans-IO state machines, in the style of
//! quinn-proto's `Connection`: the shell reports what its socket did (bytes read, a write
//! done, an error, the time) and asks what to do next; the answer is an action it carries
//! out with its runtime. No session reads a clock, opens a socket or spawns anything, so
//! every backend sequences a connection the same way by construction.
//!
//! - [`ClientSession`]: an accepted connection. Reads go straight into its line buffer;
//!   replies to everything one read brought in leave in one write; replies already due are
//!   written before a places call starts; a HELLO turns the connection into a peer link.
//!   Its places calls ([`PlacesExchange`]) go over one kept-alive HTTP connection, retried
//!   once on a fresh connection when a reused one turns out to be stale. Replies wait until
//!   the floods their lines produced are written ([`ClientCore::floods_pending`]), at most
//!   [`FLOOD_WAIT`].
//! - [`DialHandshake`] and [`Redial`]: the dialling side of a link (HELLO out, the
//!   neighbour's HELLO checked) and its back-off.
//! - [`LinkReader`] and [`Outbox`]: a running link: what a read means (every line of it
//!   handled before the next read) and what to write (every queued line in one write).

use std::io::{self, ErrorKind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backoff::reconnect_delay;
use crate::framing::{LineBuffer, LineTooLong, MAX_PEER_LINE_BYTES};
use crate::node::{ClientStep, HandshakeError, Node};
use crate::places::{HttpResponse, PlacesCall, PlacesFailure, ResponseReader};

/// Why a client connection ended. The client is at fault for `LineTooLong` and
/// `Handshake`, the network (or the client leaving) for the rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Closed {
    #[error("client closed")]
    ClientClosed,
    #[error("read failed")]
    ReadFailed(ErrorKind),
    #[error("write failed")]
    WriteFailed(ErrorKind),
    #[error("line too long")]
    LineTooLong(LineTooLong),
    #[error(transparent)]
    Handshake(HandshakeError),
}

/// The longest a reply waits for the floods of its lines to be written to the links that
/// were up. Only a link whose writer is stuck without falling a whole queue behind makes a
/// reply wait this long; the reply then goes out anyway and anti-entropy repairs the link.
pub const FLOOD_WAIT: Duration = Duration::from_secs(2);

/// What a client session needs from the server it belongs to.
pub trait ClientCore {
    /// Handles one complete line (the node's `client_line`).
    fn line(&mut self, line: &[u8]) -> ClientStep;
    /// A places call failed; its reply still goes out (for logs).
    fn places_failed(&mut self, _failure: &PlacesFailure) {}
    /// Whether a flood produced by the lines handled so far is still queued on a link that
    /// is up: their replies are then held, so that no update is acknowledged while it
    /// exists in this process alone (a kill would lose it everywhere).
    fn floods_pending(&mut self) -> bool {
        false
    }
    /// The replies waited [`FLOOD_WAIT`] and go out with floods still unwritten: forget
    /// them (and log it).
    fn floods_timed_out(&mut self) {}
}

impl<F: FnMut(&[u8]) -> ClientStep> ClientCore for F {
    fn line(&mut self, line: &[u8]) -> ClientStep {
        self(line)
    }
}

/// What the shell does next for a client connection. `S` is the shell's stream type, for
/// the kept-alive connection to the places service.
#[derive(Debug)]
#[must_use]
pub enum ClientAction<'a, S> {
    /// Read from the client into this room, then call [`ClientSession::read`].
    Read(&'a mut [u8]),
    /// Write all of these bytes to the client, then call [`ClientSession::wrote`].
    Write(&'a [u8]),
    /// Replies are due but wait for floods to be written: wait until the server signals a
    /// link's progress, or `within` passes, then poll again.
    AwaitFloods { within: Duration },
    /// Connect to the places service within `within`, then call
    /// [`ClientSession::connected`].
    Connect {
        authority: &'a str,
        within: Duration,
    },
    /// Write all of `bytes` to the places service within `within`, then call
    /// [`ClientSession::wrote`].
    PlacesWrite {
        stream: &'a mut S,
        bytes: &'a [u8],
        within: Duration,
    },
    /// Read from the places service into `buf` within `within`, then call
    /// [`ClientSession::read`].
    PlacesRead {
        stream: &'a mut S,
        buf: &'a mut [u8],
        within: Duration,
    },
    /// The connection is now the link to `peer` (its HELLO reply is written): run it as a
    /// link, starting with `pending`, the bytes already read past the HELLO.
    Peer { peer: Arc<str>, pending: Vec<u8> },
    /// Close the connection.
    Close(Closed),
}

/// What waits until the replies already due are written. The places call is boxed, as is
/// the exchange below: a session spends most of its life idle, in a task or on a stack that
/// holds it inline, and places calls are rare next to the lines that need neither.
#[derive(Debug)]
enum Then {
    Places(Box<PlacesCall>),
    Peer(Arc<str>),
    Close(Closed),
}

/// An accepted connection, from its first byte until it closes or becomes a peer link,
/// with its places calls (one at a time, over one kept-alive connection of type `S`).
#[derive(Debug)]
pub struct ClientSession<S> {
    lines: LineBuffer,
    out: Vec<u8>,
    then: Option<Then>,
    /// The places call under way; while it is, every I/O the session asks for is its.
    exchange: Option<Box<PlacesExchange>>,
    places: Option<S>,
    /// When the replies in `out` stop waiting for their floods.
    flood_deadline: Option<Instant>,
}

/// Link outboxes larger than this are given back after their write (an anti-entropy
/// snapshot, or a backlog).
const KEEP_LINK_OUTPUT: usize = 64 * 1024;

impl<S> Default for ClientSession<S> {
    fn default() -> Self {
        ClientSession {
            lines: LineBuffer::new(),
            out: Vec::new(),
            then: None,
            exchange: None,
            places: None,
            flood_deadline: None,
        }
    }
}

impl<S> ClientSession<S> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next thing to do at time `now`. Pending replies are always written first, once
    /// the floods of their lines are written (or [`FLOOD_WAIT`] has passed).
    pub fn poll(&mut self, now: Instant, core: &mut impl ClientCore) -> ClientAction<'_, S> {
        loop {
            match self.exchange.as_mut().map(|ex| ex.advance(now)) {
                None => break,
                Some(Next::Io(phase, within))
                    if phase == Phase::Connect || self.places.is_some() =>
                {
                    return self.places_action(phase, within);
                }
                Some(Next::Io(..)) => {
                    if let Some(ex) = &mut self.exchange {
                        ex.fail(ErrorKind::NotConnected.into());
                    }
                }
                Some(Next::Done(outcome, keep_alive)) => {
                    if !keep_alive {
                        self.places = None;
                    }
                    if let Err(e) = &outcome {
                        core.places_failed(e);
                    }
                    if let Some(ex) = self.exchange.take() {
                        let reply = ex.call.finish(outcome);
                        self.push_reply(reply);
                    }
                    self.advance(core);
                }
            }
        }
        if !self.out.is_empty() {
            if core.floods_pending() {
                let deadline = *self.flood_deadline.get_or_insert(now + FLOOD_WAIT);
                let within = deadline.saturating_duration_since(now);
                if !within.is_zero() {
                    return ClientAction::AwaitFloods { within };
                }
                core.floods_timed_out();
            }
            self.flood_deadline = None;
            return ClientAction::Write(&self.out);
        }
        match self.then.take() {
            None => ClientAction::Read(self.lines.read_buf()),
            Some(Then::Places(call)) => {
                self.exchange = Some(Box::new(call.exchange(self.places.is_some())));
                self.poll(now, core)
            }
            Some(Then::Peer(peer)) => ClientAction::Peer {
                peer,
                pending: self.lines.take_pending(),
            },
            Some(Then::Close(why)) => {
                self.then = Some(Then::Close(why.clone()));
                ClientAction::Close(why)
            }
        }
    }

    /// The places I/O the exchange under way asked for (`poll` checked there is one, and a
    /// stream unless it asked to connect).
    fn places_action(&mut self, phase: Phase, within: Duration) -> ClientAction<'_, S> {
        match (&mut self.exchange, &mut self.places, phase) {
            (Some(ex), _, Phase::Connect) => ClientAction::Connect {
                authority: ex.call.authority(),
                within,
            },
            (Some(ex), Some(stream), Phase::Write) => ClientAction::PlacesWrite {
                stream,
                bytes: ex.call.request(),
                within,
            },
            (Some(ex), Some(stream), Phase::Read) => ClientAction::PlacesRead {
                stream,
                buf: ex.read_buf(),
                within,
            },
            // Not reachable from `poll`; closing is the safe answer to a broken invariant.
            _ => ClientAction::Close(Closed::ReadFailed(ErrorKind::NotConnected)),
        }
    }

    /// A read finished (from the client, or from the places service during a call).
    pub fn read(&mut self, read: io::Result<usize>, core: &mut impl ClientCore) {
        if let Some(ex) = &mut self.exchange {
            return ex.read(read);
        }
        match read {
            Ok(0) => self.close(Closed::ClientClosed),
            Ok(n) => {
                self.lines.filled(n);
                self.advance(core);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => self.lines.filled(0),
            Err(e) => self.close(Closed::ReadFailed(e.kind())),
        }
    }

    /// A write finished (to the client, or to the places service during a call).
    pub fn wrote(&mut self, written: io::Result<()>) {
        if let Some(ex) = &mut self.exchange {
            return ex.wrote(written);
        }
        // Given back: the next write's first reply becomes the buffer (`push_reply`), so
        // this costs no allocation, and an idle connection holds no output buffer at all.
        self.out = Vec::new();
        if let Err(e) = written
            && !matches!(self.then, Some(Then::Close(_)))
        {
            self.close(Closed::WriteFailed(e.kind()));
        }
    }

    /// The connection to the places service that [`ClientAction::Connect`] asked for.
    pub fn connected(&mut self, connected: io::Result<S>) {
        if let Some(ex) = &mut self.exchange {
            ex.connected(connected.map(|stream| self.places = Some(stream)));
        }
    }

    fn close(&mut self, why: Closed) {
        self.then = Some(Then::Close(why));
    }

    /// Queues a reply; the first of a write becomes the output buffer itself (no copy).
    fn push_reply(&mut self, reply: Vec<u8>) {
        if self.out.is_empty() && self.out.capacity() < reply.capacity() {
            self.out = reply;
        } else {
            self.out.extend_from_slice(&reply);
        }
    }

    /// Handles buffered lines until one needs something other than a reply.
    fn advance(&mut self, core: &mut impl ClientCore) {
        if self.then.is_some() {
            return;
        }
        while let Some(line) = self.lines.next_line() {
            let line = match line {
                Ok(line) => line,
                Err(e) => return self.close(Closed::LineTooLong(e)),
            };
            match core.line(line) {
                ClientStep::Silent => {}
                ClientStep::Reply(reply) => self.push_reply(reply),
                ClientStep::Places(call) => return self.then = Some(Then::Places(Box::new(call))),
                ClientStep::Peer { peer, reply } => {
                    self.push_reply(reply);
                    return self.then = Some(Then::Peer(peer));
                }
                ClientStep::Close(e) => {
                    // A failed handshake closes at once, without the replies due before it.
                    self.out.clear();
                    return self.close(Closed::Handshake(e));
                }
            }
        }
    }
}

/// What the shell does next for a places call made on its own (a [`ClientSession`] asks
/// for the same steps as [`ClientAction`]s).
#[derive(Debug)]
#[must_use]
pub enum PlacesStep<'c> {
    /// Connect to `authority` (a fresh connection), then call [`PlacesExchange::connected`].
    Connect {
        authority: &'c str,
        within: Duration,
    },
    /// Write all of `bytes`, then call [`PlacesExchange::wrote`].
    Write { bytes: &'c [u8], within: Duration },
    /// Read into [`PlacesExchange::read_buf`], then call [`PlacesExchange::read`].
    Read { within: Duration },
    /// Finished; keep the connection for the next call only if `keep_alive`.
    Done {
        outcome: Result<HttpResponse, PlacesFailure>,
        keep_alive: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connect,
    Write,
    Read,
}

/// [`PlacesExchange::advance`]'s answer, owning nothing of the exchange.
#[derive(Debug)]
enum Next {
    Io(Phase, Duration),
    Done(Result<HttpResponse, PlacesFailure>, bool),
}

/// One places call: connect if needed, write, read the response, each step within what is
/// left of the call's timeout; a reused connection that fails before answering is retried
/// once on a fresh one.
#[derive(Debug)]
pub struct PlacesExchange {
    call: PlacesCall,
    reused: bool,
    phase: Phase,
    reader: ResponseReader,
    deadline: Option<Instant>,
    outcome: Option<Result<HttpResponse, PlacesFailure>>,
}

impl PlacesCall {
    /// Starts this call; `connected` says whether a kept-alive connection is at hand.
    pub fn exchange(self, connected: bool) -> PlacesExchange {
        PlacesExchange {
            call: self,
            reused: connected,
            phase: if connected {
                Phase::Write
            } else {
                Phase::Connect
            },
            reader: ResponseReader::new(),
            deadline: None,
            outcome: None,
        }
    }
}

impl PlacesExchange {
    /// The next step at time `now` (the deadline of an attempt starts at its first step).
    pub fn poll(&mut self, now: Instant) -> PlacesStep<'_> {
        match self.advance(now) {
            Next::Io(Phase::Connect, within) => PlacesStep::Connect {
                authority: self.call.authority(),
                within,
            },
            Next::Io(Phase::Write, within) => PlacesStep::Write {
                bytes: self.call.request(),
                within,
            },
            Next::Io(Phase::Read, within) => PlacesStep::Read { within },
            Next::Done(outcome, keep_alive) => PlacesStep::Done {
                outcome,
                keep_alive,
            },
        }
    }

    fn advance(&mut self, now: Instant) -> Next {
        let deadline = *self.deadline.get_or_insert(now + self.call.timeout());
        let within = deadline.saturating_duration_since(now);
        if within.is_zero() && self.outcome.is_none() {
            self.outcome = Some(Err(PlacesFailure::Timeout(self.call.timeout())));
        }
        match self.outcome.take() {
            None => Next::Io(self.phase, within),
            Some(Err(e)) if self.call.retry_on_fresh_connection(&e, self.reused) => {
                *self = PlacesExchange {
                    reused: false,
                    phase: Phase::Connect,
                    reader: ResponseReader::new(),
                    deadline: None,
                    outcome: None,
                    call: self.call.clone(),
                };
                self.advance(now)
            }
            Some(outcome) => {
                let keep_alive = matches!(&outcome, Ok(r) if r.keep_alive);
                Next::Done(outcome, keep_alive)
            }
        }
    }

    pub fn connected(&mut self, result: io::Result<()>) {
        match result {
            Ok(()) => self.phase = Phase::Write,
            Err(e) => self.fail(e),
        }
    }

    pub fn wrote(&mut self, result: io::Result<()>) {
        match result {
            Ok(()) => self.phase = Phase::Read,
            Err(e) => self.fail(e),
        }
    }

    /// Room for the next read.
    pub fn read_buf(&mut self) -> &mut [u8] {
        self.reader.read_buf()
    }

    pub fn read(&mut self, result: io::Result<usize>) {
        self.outcome = match result {
            Ok(0) => Some(std::mem::take(&mut self.reader).finish_at_eof()),
            Ok(n) => self.reader.filled(n).transpose(),
            Err(e) if e.kind() == ErrorKind::Interrupted => None,
            Err(e) => return self.fail(e),
        };
    }

    fn fail(&mut self, e: io::Error) {
        self.outcome = Some(Err(match e.kind() {
            // Runtimes report a timed-out step as `TimedOut`, blocking sockets as
            // `WouldBlock`.
            ErrorKind::TimedOut | ErrorKind::WouldBlock => {
                PlacesFailure::Timeout(self.call.timeout())
            }
            _ => PlacesFailure::from(e),
        }));
    }
}

/// Why dialling a neighbour failed. `Rejected` is the neighbour's fault (or the config's),
/// `LineTooLong` the neighbour's; the rest are the network's.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("closed during handshake")]
    Closed,
    #[error("handshake timed out")]
    TimedOut,
    #[error(transparent)]
    LineTooLong(#[from] LineTooLong),
    #[error(transparent)]
    Rejected(#[from] HandshakeError),
}

/// The dialling side of a link's HELLO exchange: write [`DialHandshake::hello`], then read
/// until the neighbour's HELLO has been checked.
#[derive(Debug)]
pub struct DialHandshake {
    peer: Arc<str>,
    hello: Vec<u8>,
    lines: LineBuffer,
}

impl DialHandshake {
    /// The handshake `node` makes with the neighbour `peer`.
    pub fn new<L: Clone>(node: &Node<L>, peer: Arc<str>) -> Self {
        DialHandshake {
            peer,
            hello: node.hello(),
            lines: LineBuffer::new(),
        }
    }

    pub fn hello(&self) -> &[u8] {
        &self.hello
    }

    pub fn read_buf(&mut self) -> &mut [u8] {
        self.lines.read_buf()
    }

    /// A read finished. Returns the bytes read past the neighbour's HELLO once it has been
    /// accepted (the link is up), an error if the handshake failed, `None` to read on.
    pub fn read<L: Clone>(
        &mut self,
        read: io::Result<usize>,
        node: &Node<L>,
    ) -> Option<Result<Vec<u8>, DialError>> {
        match read {
            Ok(0) => return Some(Err(DialError::Closed)),
            Ok(n) => self.lines.filled(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => self.lines.filled(0),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                return Some(Err(DialError::TimedOut));
            }
            Err(e) => return Some(Err(DialError::Io(e))),
        }
        let checked = match self.lines.next_line()? {
            Ok(line) => node.hello_reply(&self.peer, line).map(drop),
            Err(e) => return Some(Err(e.into())),
        };
        Some(
            checked
                .map(|()| self.lines.take_pending())
                .map_err(DialError::from),
        )
    }
}

/// The reconnect schedule of one dialled neighbour.
#[derive(Debug, Default)]
pub struct Redial {
    failures: u32,
}

impl Redial {
    pub fn new() -> Self {
        Self::default()
    }

    /// The link came up: the next failure starts the schedule again.
    pub fn linked(&mut self) {
        self.failures = 0;
    }

    /// An attempt failed: how long to wait before the next one.
    pub fn failed(&mut self) -> Duration {
        let delay = reconnect_delay(self.failures);
        self.failures = self.failures.saturating_add(1);
        delay
    }
}

/// Why a running link ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkEnd {
    #[error("peer closed")]
    PeerClosed,
    #[error("read failed")]
    ReadFailed(ErrorKind),
    #[error("line too long")]
    LineTooLong(LineTooLong),
    /// The writer stopped: the node dropped the link's handle (replaced by a newer link, or
    /// reset for falling behind) or the socket could not be written.
    #[error("link replaced, reset or unwritable")]
    WriterEnded,
    /// The shell could not start the link's writer (no thread, no socket handle for it).
    #[error("no writer for the link: {0}")]
    NoWriter(ErrorKind),
}

/// The reading half of a running link.
#[derive(Debug)]
pub struct LinkReader {
    lines: LineBuffer,
    ended: Option<LinkEnd>,
}

impl LinkReader {
    /// A reader that starts with `pending`, the bytes read past the HELLO. Its lines may be
    /// up to [`MAX_PEER_LINE_BYTES`] long: an `AT` line is longer than the IAMAT it came from.
    pub fn new(pending: &[u8]) -> Self {
        let mut lines = LineBuffer::with_limit(MAX_PEER_LINE_BYTES);
        lines.extend(pending);
        LinkReader { lines, ended: None }
    }

    /// Handles every complete line with `line`, then lends room for the next read; or says
    /// why the link has ended.
    pub fn poll(&mut self, mut line: impl FnMut(&[u8])) -> Result<&mut [u8], LinkEnd> {
        if let Some(end) = &self.ended {
            return Err(end.clone());
        }
        while let Some(next) = self.lines.next_line() {
            match next {
                Ok(next) => line(next),
                Err(e) => {
                    self.ended = Some(LinkEnd::LineTooLong(e));
                    return Err(LinkEnd::LineTooLong(e));
                }
            }
        }
        Ok(self.lines.read_buf())
    }

    /// A read into the room [`LinkReader::next`] lent finished.
    pub fn read(&mut self, read: io::Result<usize>) {
        match read {
            Ok(0) => self.ended = Some(LinkEnd::PeerClosed),
            Ok(n) => self.lines.filled(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => self.lines.filled(0),
            Err(e) => self.ended = Some(LinkEnd::ReadFailed(e.kind())),
        }
    }
}

/// The writing half of a running link: the anti-entropy snapshot first, then every line
/// queued since the last write, all in one write. It counts the queued lines each write
/// carries, so the server knows how far down its queue a link has written.
#[derive(Debug)]
pub struct Outbox {
    buf: Vec<u8>,
    lines: u64,
}

impl Outbox {
    pub fn new(snapshot: Vec<u8>) -> Self {
        Outbox {
            buf: snapshot,
            lines: 0,
        }
    }

    /// Adds queued lines (usually everything a channel holds right now).
    pub fn extend<W: AsRef<[u8]>>(&mut self, lines: impl IntoIterator<Item = W>) {
        for line in lines {
            self.buf.extend_from_slice(line.as_ref());
            self.lines += 1;
        }
    }

    /// What to write now (may be empty).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The write of [`Outbox::bytes`] finished. Returns how many queued lines it carried
    /// (the snapshot is not counted: it was never queued).
    pub fn written(&mut self) -> u64 {
        self.buf.clear();
        if self.buf.capacity() > KEEP_LINK_OUTPUT {
            self.buf = Vec::new();
        }
        std::mem::take(&mut self.lines)
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
