//! Peer links: dialling, the HELLO exchange, and a running link's reader and writer
//! threads, as the protocol's sessions say, with blocking sockets.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use herd_protocol::node::HANDSHAKE_TIMEOUT;
use herd_protocol::{DialError, LinkEnd};
use herd_shell::{Dialer, LinkOutbox, PeerLink};

use crate::{Link, Shared};

/// Keeps the link to a neighbour this server dials up, for as long as the server runs.
pub(crate) fn dial(hub: Arc<Shared>, mut dialer: Dialer) {
    while !hub.server.shutdown.is_triggered() {
        match handshake(&hub, &dialer) {
            Ok((stream, pending)) => {
                dialer.linked();
                run(&hub, stream, &dialer.dial.peer, hub.conn_id(), &pending);
            }
            Err(e) => std::thread::sleep(dialer.failed(&hub, &e)),
        }
    }
}

/// Blocking sockets time out per operation: each read of the HELLO gets the whole limit.
fn handshake(hub: &Shared, dialer: &Dialer) -> Result<(TcpStream, Vec<u8>), DialError> {
    let mut handshake = dialer.handshake(hub);
    let mut stream = TcpStream::connect_timeout(&dialer.dial.addr, HANDSHAKE_TIMEOUT)?;
    let _ = stream.set_nodelay(true);
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    stream.write_all(handshake.hello())?;
    loop {
        let read = stream.read(handshake.read_buf());
        if let Some(done) = handshake.read(read, &hub.node()) {
            let pending = done?;
            stream.set_read_timeout(None)?;
            return Ok((stream, pending));
        }
    }
}

/// Runs an established link until either direction ends.
pub(crate) fn run(hub: &Arc<Shared>, stream: TcpStream, peer: &str, conn: u64, pending: &[u8]) {
    let (tx, rx) = sync_channel(hub.server.config.limits.peer_queue);
    let Some((mut link, out)) = hub.link_up(peer, conn, tx, pending) else {
        return;
    };
    let writer = stream
        .try_clone()
        .and_then(|wr| crate::spawn(format!("link-out-{peer}"), move || write(wr, out, rx)));
    let end = match writer {
        Ok(()) => read(&mut link, &stream),
        Err(e) => LinkEnd::NoWriter(e.kind()),
    };
    // Wakes the writer if it is blocked writing; taking the link down drops the node's
    // sender, which ends a writer waiting for its queue.
    let _ = stream.shutdown(Shutdown::Both);
    link.end(end);
}

fn read(link: &mut PeerLink<Link>, mut stream: &TcpStream) -> LinkEnd {
    loop {
        let buf = match link.poll() {
            Ok(buf) => buf,
            Err(end) => return end,
        };
        let read = stream.read(buf);
        link.read(read);
    }
}

fn write(mut stream: TcpStream, mut out: LinkOutbox, rx: Receiver<Arc<[u8]>>) {
    while stream.write_all(out.bytes()).is_ok() {
        out.written();
        let Ok(first) = rx.recv() else { break };
        out.extend([first]);
        out.extend(std::iter::from_fn(|| rx.try_recv().ok()));
    }
    // The queue was dropped (link replaced or reset) or the socket failed: make the
    // reader's blocking read return too.
    let _ = stream.shutdown(Shutdown::Both);
}
