//! Peer links: dialling, the HELLO exchange, and a running link's reader and writer, as
//! the protocol's sessions say, with compio's sockets, timers and thread-local tasks.

use std::sync::Arc;

use async_channel::{Receiver, bounded};
use compio::net::TcpStream;
use compio::runtime::spawn;
use futures_lite::future;
use herd_protocol::node::HANDSHAKE_TIMEOUT;
use herd_protocol::{DialError, LinkEnd};
use herd_shell::{Dialer, LinkOutbox, PeerLink};

use crate::conn::{read_into, write_from};
use crate::{Link, Shared};

/// Keeps the link to a neighbour this server dials up, for as long as the server runs.
pub(crate) async fn dial(hub: Arc<Shared>, mut dialer: Dialer) {
    while !hub.server.shutdown.is_triggered() {
        let attempt = compio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&hub, &dialer));
        match attempt.await.unwrap_or(Err(DialError::TimedOut)) {
            Ok((stream, pending)) => {
                dialer.linked();
                run(&hub, stream, &dialer.dial.peer, hub.conn_id(), &pending).await;
            }
            Err(e) => compio::time::sleep(dialer.failed(&hub, &e)).await,
        }
    }
}

async fn handshake(hub: &Shared, dialer: &Dialer) -> Result<(TcpStream, Vec<u8>), DialError> {
    let mut handshake = dialer.handshake(hub);
    let mut stream = TcpStream::connect(dialer.dial.addr).await?;
    let _ = stream.set_nodelay(true);
    let mut owned = Vec::new();
    write_from(&mut stream, &mut owned, handshake.hello()).await?;
    loop {
        let read = read_into(&mut stream, &mut owned, handshake.read_buf()).await;
        if let Some(done) = handshake.read(read, &hub.node()) {
            return done.map(|pending| (stream, pending));
        }
    }
}

/// Runs an established link until either direction ends.
pub(crate) async fn run(
    hub: &Arc<Shared>,
    stream: TcpStream,
    peer: &str,
    conn: u64,
    pending: &[u8],
) {
    let (tx, rx) = bounded(hub.server.config.limits.peer_queue);
    let Some((mut link, out)) = hub.link_up(peer, conn, tx, pending) else {
        return;
    };
    // compio streams are handles to one socket: one clone reads, the other writes.
    // Dropping the writer's task (when the reader ends first) cancels it.
    let (rd, wr) = stream.into_split();
    let writer = spawn(write(wr, out, rx));
    let end = future::or(read(&mut link, rd), async {
        let _ = writer.await;
        LinkEnd::WriterEnded
    })
    .await;
    link.end(end);
}

async fn read(link: &mut PeerLink<Link>, mut rd: TcpStream) -> LinkEnd {
    let mut owned = Vec::new();
    loop {
        let room = match link.poll() {
            Ok(room) => room,
            Err(end) => return end,
        };
        let read = read_into(&mut rd, &mut owned, room).await;
        link.read(read);
    }
}

async fn write(mut wr: TcpStream, mut out: LinkOutbox, rx: Receiver<Arc<[u8]>>) {
    let mut owned = Vec::new();
    while write_from(&mut wr, &mut owned, out.bytes()).await.is_ok() {
        out.written();
        let Ok(first) = rx.recv().await else { return };
        out.extend([first]);
        out.extend(std::iter::from_fn(|| rx.try_recv().ok()));
    }
}
