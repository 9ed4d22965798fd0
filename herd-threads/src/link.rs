//! Peer links: dialling with back-off, the HELLO exchange, and a running link's reader and
//! writer threads.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use herd_protocol::backoff::reconnect_delay;
use herd_protocol::node::HANDSHAKE_TIMEOUT;
use herd_protocol::{Dial, LineBuffer};
use herd_shell::{Event, now};

use crate::Shared;

const READ_BUFFER: usize = 16 * 1024;
/// Queued lines are coalesced into writes of up to this many bytes.
const WRITE_BATCH: usize = 64 * 1024;

/// Keeps the link to a neighbour this server dials up, for as long as the server runs.
pub(crate) fn dial(shared: Arc<Shared>, dial: Dial) {
    let mut attempt = 0;
    while !shared.server.shutdown.is_triggered() {
        match handshake(&shared, &dial) {
            Ok((stream, pending)) => {
                attempt = 0;
                run(&shared, stream, &dial.peer, shared.conn_id(), pending);
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
                std::thread::sleep(delay);
            }
        }
    }
}

fn handshake(shared: &Shared, dial: &Dial) -> Result<(TcpStream, Vec<u8>), String> {
    let text = |e: std::io::Error| e.to_string();
    let mut stream = TcpStream::connect_timeout(&dial.addr, HANDSHAKE_TIMEOUT).map_err(text)?;
    let _ = stream.set_nodelay(true);
    stream
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(text)?;
    let hello = shared.node().hello();
    stream.write_all(&hello).map_err(text)?;
    let mut lines = LineBuffer::new();
    let mut buf = [0; 4096];
    loop {
        let n = stream.read(&mut buf).map_err(|e| match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => "handshake timed out".to_owned(),
            _ => e.to_string(),
        })?;
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
            stream.set_read_timeout(None).map_err(text)?;
            return Ok((stream, lines.take_pending()));
        }
    }
}

/// Runs an established link until either direction ends. `pending` holds bytes read past
/// the HELLO line.
pub(crate) fn run(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: &str,
    conn: u64,
    pending: Vec<u8>,
) {
    let (tx, rx) = sync_channel(shared.server.config.limits.peer_queue);
    let Some((id, snapshot)) = shared.node().link_up(peer, tx) else {
        return;
    };
    shared.server.log.event(now(), Event::LinkUp { peer, conn });
    let reason = match stream.try_clone() {
        Ok(writer_stream) => {
            let spawned = crate::spawn(format!("link-out-{peer}"), move || {
                write(writer_stream, snapshot, rx)
            });
            match spawned {
                Ok(()) => read(shared, &stream, peer, pending),
                Err(_) => "no thread for the writer",
            }
        }
        Err(_) => "cannot clone socket",
    };
    // Wakes the writer if it is blocked writing; taking the link down drops the node's
    // sender, which ends a writer waiting for its queue.
    let _ = stream.shutdown(Shutdown::Both);
    shared.node().link_down(peer, id);
    shared
        .server
        .log
        .event(now(), Event::LinkDown { peer, reason });
}

fn write(mut stream: TcpStream, snapshot: Vec<u8>, rx: Receiver<Arc<[u8]>>) {
    // Anti-entropy first: everything held before the link came up, then what follows.
    if stream.write_all(&snapshot).is_ok() {
        drop(snapshot);
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        while let Ok(first) = rx.recv() {
            batch.extend_from_slice(&first);
            while batch.len() < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(more) => batch.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            if stream.write_all(&batch).is_err() {
                break;
            }
            batch.clear();
        }
    }
    // The queue was dropped (link replaced or reset) or the socket failed: make the
    // reader's blocking read return too.
    let _ = stream.shutdown(Shutdown::Both);
}

fn read(shared: &Shared, mut stream: &TcpStream, peer: &str, pending: Vec<u8>) -> &'static str {
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
        match stream.read(&mut buf) {
            Ok(0) => return "peer closed",
            Ok(n) => lines.extend(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return "read failed",
        }
    }
}
