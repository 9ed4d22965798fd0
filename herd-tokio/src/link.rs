//! Peer links: dialling, the HELLO exchange, and a running link's reader and writer, as
//! the protocol's sessions say, with tokio's sockets, timers and tasks.

use std::sync::Arc;

use herd_protocol::node::HANDSHAKE_TIMEOUT;
use herd_protocol::{DialError, LinkEnd};
use herd_shell::{Dialer, LinkOutbox, PeerLink};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::{Link, Shared};

/// Keeps the link to a neighbour this server dials up, for as long as the server runs.
pub(crate) async fn dial(hub: Arc<Shared>, mut dialer: Dialer) {
    while !hub.server.shutdown.is_triggered() {
        let attempt = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&hub, &dialer));
        match attempt.await.unwrap_or(Err(DialError::TimedOut)) {
            Ok((stream, pending)) => {
                dialer.linked();
                run(&hub, stream, &dialer.dial.peer, hub.conn_id(), &pending).await;
            }
            Err(e) => tokio::time::sleep(dialer.failed(&hub, &e)).await,
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
    let (tx, rx) = mpsc::channel(hub.server.config.limits.peer_queue);
    let Some((mut link, out)) = hub.link_up(peer, conn, tx, pending) else {
        return;
    };
    let (rd, wr) = stream.into_split();
    let mut writer = tokio::spawn(write(wr, out, rx));
    let end = tokio::select! {
        end = read(&mut link, rd) => end,
        _ = &mut writer => LinkEnd::WriterEnded,
    };
    writer.abort();
    link.end(end);
}

async fn read(link: &mut PeerLink<Link>, mut rd: OwnedReadHalf) -> LinkEnd {
    loop {
        let buf = match link.poll() {
            Ok(buf) => buf,
            Err(end) => return end,
        };
        let read = rd.read(buf).await;
        link.read(read);
    }
}

async fn write(mut wr: OwnedWriteHalf, mut out: LinkOutbox, mut rx: mpsc::Receiver<Arc<[u8]>>) {
    while wr.write_all(out.bytes()).await.is_ok() {
        out.written();
        let Some(first) = rx.recv().await else { return };
        out.extend([first]);
        out.extend(std::iter::from_fn(|| rx.try_recv().ok()));
    }
}
