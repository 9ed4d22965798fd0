//! Peer links: dialling, the HELLO exchange, and a running link's reader and writer, as
//! the protocol's sessions say, with async-net sockets, async-io timers and smol tasks.

use std::sync::Arc;

use herd_protocol::node::HANDSHAKE_TIMEOUT;
use herd_protocol::{DialError, LinkEnd};
use herd_shell::{Dialer, LinkOutbox, PeerLink};
use smol::channel::{Receiver, bounded};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use smol::{Timer, future};

use crate::{Link, Shared};

/// Keeps the link to a neighbour this server dials up, for as long as the server runs.
pub(crate) async fn dial(hub: Arc<Shared>, mut dialer: Dialer) {
    while !hub.server.shutdown.is_triggered() {
        let attempt = future::or(handshake(&hub, &dialer), async {
            Timer::after(HANDSHAKE_TIMEOUT).await;
            Err(DialError::TimedOut)
        });
        match attempt.await {
            Ok((stream, pending)) => {
                dialer.linked();
                run(&hub, stream, &dialer.dial.peer, hub.conn_id(), &pending).await;
            }
            Err(e) => drop(Timer::after(dialer.failed(&hub, &e)).await),
        }
    }
}

async fn handshake(hub: &Shared, dialer: &Dialer) -> Result<(TcpStream, Vec<u8>), DialError> {
    let mut handshake = dialer.handshake(hub);
    let mut stream = TcpStream::connect(dialer.dial.addr).await?;
    let _ = stream.set_nodelay(true);
    stream.write_all(handshake.hello()).await?;
    loop {
        let read = stream.read(handshake.read_buf()).await;
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
    // async-net streams are handles to one socket: one clone reads, the other writes.
    // Dropping the writer's task (when the reader ends first) cancels it.
    let writer = hub.handle.spawn(write(stream.clone(), out, rx));
    let end = future::or(read(&mut link, stream), async {
        writer.await;
        LinkEnd::WriterEnded
    })
    .await;
    link.end(end);
}

async fn read(
    link: &mut PeerLink<Link, Arc<smol::Executor<'static>>>,
    mut rd: TcpStream,
) -> LinkEnd {
    loop {
        let buf = match link.poll() {
            Ok(buf) => buf,
            Err(end) => return end,
        };
        let read = rd.read(buf).await;
        link.read(read);
    }
}

async fn write(mut wr: TcpStream, mut out: LinkOutbox, rx: Receiver<Arc<[u8]>>) {
    while wr.write_all(out.bytes()).await.is_ok() {
        out.written();
        let Ok(first) = rx.recv().await else { return };
        out.extend([first]);
        out.extend(std::iter::from_fn(|| rx.try_recv().ok()));
    }
}
