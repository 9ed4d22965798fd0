//! The sequencing of a blocking shell (a thread per connection), written once: a client
//! connection, dialling a neighbour and a running link's reader and writer, over
//! [`Blocking`], the few calls such a backend supplies. It is [`crate::drive`] with each
//! await a blocking call and each timeout a socket's own; the accept loop stays with the
//! backend, which decides how a blocked `accept` is woken at shutdown.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use herd_protocol::node::HANDSHAKE_TIMEOUT;
use herd_protocol::{ClientAction, DialError, LinkEnd};

use crate::{Client, Dialer, Hub, LinkOutbox, PeerLink, WRITE_STALL};

/// A server's hub as the drivers of backend `B` see it.
pub type HubOf<B> = Hub<<B as Blocking>::Link>;

/// What a blocking backend supplies: sockets that time out per call, a queue per link and
/// threads.
pub trait Blocking: Sized + 'static {
    /// A TCP connection: a client's, a places call's, a dialled link's.
    type Stream: Send + 'static;
    /// How the node reaches a peer link: the sending end of its writer's queue.
    type Link: Clone + Send + Sync + 'static;
    /// The receiving end of that queue.
    type Queue: Send + 'static;

    /// Connects to `to` (`host:port`) within `within`, with Nagle's algorithm off.
    fn connect(to: &str, within: Duration) -> io::Result<Self::Stream>;
    fn nodelay(stream: &Self::Stream);
    /// Reads with no time limit.
    fn read(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize>;
    /// Reads within `limit`, a timeout being an error.
    fn read_within(s: &mut Self::Stream, buf: &mut [u8], limit: Duration) -> io::Result<usize>;
    /// Writes all of `bytes` within `limit` in all, a timeout being an error.
    fn write_within(s: &mut Self::Stream, bytes: &[u8], limit: Duration) -> io::Result<()>;
    /// Writes all of `bytes` with no time limit.
    fn write(s: &mut Self::Stream, bytes: &[u8]) -> io::Result<()>;
    /// The stream, its time limits cleared, as a link's reader and writer.
    fn split(stream: Self::Stream) -> io::Result<(Self::Stream, Self::Stream)>;
    /// Shuts both directions down, waking a call blocked on either handle.
    fn shutdown(stream: &Self::Stream);

    /// A bounded queue for a link's writer.
    fn queue(capacity: usize) -> (Self::Link, Self::Queue);
    /// The next line queued, or `None` once every sender is gone.
    fn recv(q: &Self::Queue) -> Option<Arc<[u8]>>;
    fn try_recv(q: &Self::Queue) -> Option<Arc<[u8]>>;

    /// Runs `work` on a thread of its own named `name`.
    fn spawn(name: String, work: impl FnOnce() + Send + 'static) -> io::Result<()>;
}

/// A client connection: the protocol's client session (with its places calls), carried out.
pub fn client<B: Blocking>(mut client: Client<B::Link, B::Stream>, mut stream: B::Stream) {
    B::nodelay(&stream);
    loop {
        match client.poll() {
            ClientAction::Read(buf) => {
                let read = B::read(&mut stream, buf);
                client.read(read);
            }
            ClientAction::Write(bytes) => {
                let written = B::write_within(&mut stream, bytes, WRITE_STALL);
                client.wrote(written);
            }
            ClientAction::AwaitFloods { within } => client.floods_written_blocking(within),
            ClientAction::Connect { authority, within } => {
                let connected = B::connect(authority, within);
                client.connected(connected);
            }
            ClientAction::PlacesWrite {
                stream,
                bytes,
                within,
            } => {
                let written = B::write_within(stream, bytes, within);
                client.wrote(written);
            }
            ClientAction::PlacesRead {
                stream,
                buf,
                within,
            } => {
                let read = B::read_within(stream, buf, within);
                client.read(read);
            }
            ClientAction::Peer { peer, pending } => {
                let hub = Arc::clone(client.hub());
                return run_link::<B>(&hub, stream, &peer, client.conn(), &pending);
            }
            ClientAction::Close(_) => return,
        }
    }
}

/// Keeps the link to a neighbour this server dials up, for as long as the server runs.
pub fn dial<B: Blocking>(hub: Arc<HubOf<B>>, mut dialer: Dialer) {
    let to = dialer.dial.addr.to_string();
    while !hub.server.shutdown.is_triggered() {
        match handshake::<B>(&hub, &dialer, &to) {
            Ok((stream, pending)) => {
                dialer.linked();
                let (peer, conn) = (&dialer.dial.peer, hub.conn_id());
                run_link::<B>(&hub, stream, peer, conn, &pending);
            }
            Err(e) => std::thread::sleep(dialer.failed(&hub, &e)),
        }
    }
}

/// Blocking sockets time out per call: each step of the HELLO exchange gets the whole limit.
fn handshake<B: Blocking>(
    hub: &HubOf<B>,
    dialer: &Dialer,
    to: &str,
) -> Result<(B::Stream, Vec<u8>), DialError> {
    let mut handshake = dialer.handshake(hub);
    let mut stream = B::connect(to, HANDSHAKE_TIMEOUT)?;
    B::write_within(&mut stream, handshake.hello(), HANDSHAKE_TIMEOUT)?;
    loop {
        let read = B::read_within(&mut stream, handshake.read_buf(), HANDSHAKE_TIMEOUT);
        if let Some(done) = handshake.read(read, &hub.node()) {
            return done.map(|pending| (stream, pending));
        }
    }
}

/// Runs an established link until either direction ends: the reader on this thread, the
/// writer on one of its own.
pub fn run_link<B: Blocking>(
    hub: &Arc<HubOf<B>>,
    stream: B::Stream,
    peer: &str,
    conn: u64,
    pending: &[u8],
) {
    let (tx, rx) = B::queue(hub.server.config.limits.peer_queue);
    let Some((mut link, out)) = hub.link_up(peer, conn, tx, pending) else {
        return;
    };
    let (end, rd) = match B::split(stream) {
        Ok((mut rd, wr)) => {
            let name = format!("link-out-{peer}");
            match B::spawn(name, move || write_link::<B>(wr, out, rx)) {
                Ok(()) => (read_link::<B>(&mut link, &mut rd), rd),
                Err(e) => (LinkEnd::NoWriter(e.kind()), rd),
            }
        }
        Err(e) => return link.end(LinkEnd::NoWriter(e.kind())),
    };
    // Wakes the writer if it is blocked writing; taking the link down drops the node's
    // sender, which ends a writer waiting for its queue.
    B::shutdown(&rd);
    link.end(end);
}

fn read_link<B: Blocking>(link: &mut PeerLink<B::Link>, rd: &mut B::Stream) -> LinkEnd {
    loop {
        let buf = match link.poll() {
            Ok(buf) => buf,
            Err(end) => return end,
        };
        let read = B::read(rd, buf);
        link.read(read);
    }
}

/// A link's writer: writes what is due, then waits for the next line and takes every line
/// queued behind it, so a burst of floods goes out in one write.
fn write_link<B: Blocking>(mut wr: B::Stream, mut out: LinkOutbox, rx: B::Queue) {
    while B::write(&mut wr, out.bytes()).is_ok() {
        out.written();
        let Some(first) = B::recv(&rx) else { break };
        out.extend([first]);
        out.extend(std::iter::from_fn(|| B::try_recv(&rx)));
    }
    // The queue was dropped (link replaced or reset) or the socket failed: make the
    // reader's blocking read return too.
    B::shutdown(&wr);
}
