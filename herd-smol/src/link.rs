//! Peer links: dialling with back-off, the HELLO exchange, and a running link's reader and
//! writer.

use std::sync::Arc;

use herd_protocol::backoff::reconnect_delay;
use herd_protocol::node::HANDSHAKE_TIMEOUT;
use herd_protocol::{Dial, LineBuffer};
use herd_shell::{Event, now};
use smol::Timer;
use smol::channel::{Receiver, bounded};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;

use crate::Shared;

const READ_BUFFER: usize = 16 * 1024;
/// Queued lines are coalesced into writes of up to this many bytes.
const WRITE_BATCH: usize = 64 * 1024;

/// Keeps the link to a neighbour this server dials up, for as long as the server runs.
pub(crate) async fn dial(shared: Arc<Shared>, dial: Dial) {
    let mut attempt = 0;
    while !shared.server.shutdown.is_triggered() {
        match handshake(&shared, &dial).await {
            Ok((stream, pending)) => {
                attempt = 0;
                run(&shared, stream, &dial.peer, shared.conn_id(), pending).await;
            }
            Err(error) => {
                let delay = reconnect_delay(attempt);
                let retry_in_ms = delay.as_millis();
                let event = Event::DialFailed {
                    peer: &dial.peer,
                    error: &error,
                    retry_in_ms,
                };
                shared.server.log.event(now(), event);
                attempt = attempt.saturating_add(1);
                Timer::after(delay).await;
            }
        }
    }
}

async fn handshake(shared: &Shared, dial: &Dial) -> Result<(TcpStream, Vec<u8>), String> {
    let exchange = async {
        let mut stream = TcpStream::connect(dial.addr)
            .await
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let hello = shared.node().hello();
        stream.write_all(&hello).await.map_err(|e| e.to_string())?;
        let mut lines = LineBuffer::new();
        let mut buf = [0; 4096];
        loop {
            let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed during handshake".to_owned());
            }
            lines.extend(&buf[..n]);
            if let Some(line) = lines.next_line() {
                let line = line.map_err(|e| e.to_string())?;
                shared
                    .node()
                    .hello_reply(&dial.peer, line)
                    .map_err(|e| e.to_string())?;
                return Ok((stream, lines.take_pending()));
            }
        }
    };
    smol::future::or(exchange, async {
        Timer::after(HANDSHAKE_TIMEOUT).await;
        Err("handshake timed out".to_owned())
    })
    .await
}

/// Runs an established link until either direction ends. `pending` holds bytes read past
/// the HELLO line.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: &str,
    conn: u64,
    pending: Vec<u8>,
) {
    let (tx, rx) = bounded(shared.server.config.limits.peer_queue);
    let Some((id, snapshot)) = shared.node().link_up(peer, tx) else {
        return;
    };
    shared.server.log.event(now(), Event::LinkUp { peer, conn });
    // async-net streams are handles to one socket: one clone reads, the other writes.
    // Dropping the writer's task (when the reader ends first) cancels it.
    let writer = shared.handle.spawn(write(stream.clone(), snapshot, rx));
    let reason = smol::future::or(read(shared, stream, peer, pending), async {
        writer.await;
        "link replaced, reset or unwritable"
    })
    .await;
    shared.node().link_down(peer, id);
    shared
        .server
        .log
        .event(now(), Event::LinkDown { peer, reason });
}

async fn write(mut wr: TcpStream, snapshot: Vec<u8>, rx: Receiver<Arc<[u8]>>) {
    // Anti-entropy first: everything held before the link came up, then what follows.
    if wr.write_all(&snapshot).await.is_err() {
        return;
    }
    drop(snapshot);
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Ok(first) = rx.recv().await {
        batch.extend_from_slice(&first);
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if wr.write_all(&batch).await.is_err() {
            return;
        }
        batch.clear();
    }
}

async fn read(shared: &Shared, mut rd: TcpStream, peer: &str, pending: Vec<u8>) -> &'static str {
    let mut lines = LineBuffer::new();
    lines.extend(&pending);
    let mut buf = vec![0; READ_BUFFER];
    loop {
        while let Some(line) = lines.next_line() {
            let Ok(line) = line else {
                return "line too long";
            };
            let mut floods = Vec::new();
            let step = shared.node().peer_line(peer, line, &mut floods);
            shared.send(floods, crate::offer);
            let outcome = step.describe();
            shared.server.log.event(
                now(),
                Event::PeerLine {
                    peer,
                    line,
                    outcome,
                },
            );
        }
        match rd.read(&mut buf).await {
            Ok(0) => return "peer closed",
            Ok(n) => lines.extend(&buf[..n]),
            Err(_) => return "read failed",
        }
    }
}
