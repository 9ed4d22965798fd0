//! A client connection on its own thread: read, hand lines to the node, write replies in
//! order.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herd_protocol::{
    ClientStep, HttpResponse, LineBuffer, PlacesCall, PlacesFailure, ResponseReader,
};
use herd_shell::{Event, Permit, now};

use crate::Shared;

const READ_BUFFER: usize = 16 * 1024;

pub(crate) fn client(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    from: SocketAddr,
    conn: u64,
    _permit: Permit,
) {
    let log = &shared.server.log;
    log.event(now(), Event::Accepted { conn, from });
    let _ = stream.set_nodelay(true);
    let mut lines = LineBuffer::new();
    let mut buf = vec![0; READ_BUFFER];
    let mut out = Vec::new();
    let mut places = None;
    let reason = 'conn: loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break "client closed",
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break "read failed",
        };
        lines.extend(&buf[..n]);
        while let Some(line) = lines.next_line() {
            let Ok(line) = line else {
                let _ = flush(&shared, conn, &mut stream, &mut out);
                break 'conn "line too long";
            };
            log.event(now(), Event::Input { conn, line });
            let mut floods = Vec::new();
            let step = shared.node().client_line(line, now(), &mut floods);
            shared.send(floods, crate::offer);
            match step {
                ClientStep::Silent => {}
                ClientStep::Reply(reply) => out.extend_from_slice(&reply),
                ClientStep::Places(call) => {
                    // Replies already due go out before waiting on the places service.
                    if flush(&shared, conn, &mut stream, &mut out).is_err() {
                        break 'conn "write failed";
                    }
                    let outcome = places_exchange(&mut places, &call);
                    if let Err(e) = &outcome {
                        log.event(
                            now(),
                            Event::PlacesFailed {
                                conn,
                                error: &e.to_string(),
                            },
                        );
                    }
                    out.extend_from_slice(&call.finish(outcome));
                }
                ClientStep::Peer { peer, reply } => {
                    out.extend_from_slice(&reply);
                    if flush(&shared, conn, &mut stream, &mut out).is_err() {
                        break 'conn "write failed";
                    }
                    let pending = lines.take_pending();
                    crate::link::run(&shared, stream, &peer, conn, pending);
                    return;
                }
                ClientStep::Close(e) => {
                    log.event(
                        now(),
                        Event::Closed {
                            conn,
                            reason: &e.to_string(),
                        },
                    );
                    return;
                }
            }
        }
        // Every reply to what one read brought in goes out in one write.
        if flush(&shared, conn, &mut stream, &mut out).is_err() {
            break "write failed";
        }
    };
    log.event(now(), Event::Closed { conn, reason });
}

fn flush(shared: &Shared, conn: u64, stream: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    shared
        .server
        .log
        .event(now(), Event::Output { conn, bytes: out });
    stream.write_all(out)?;
    out.clear();
    Ok(())
}

/// One places request over a kept-alive connection, retried once on a fresh connection
/// when the core says a reused one may just have gone stale.
fn places_exchange(
    slot: &mut Option<TcpStream>,
    call: &PlacesCall,
) -> Result<HttpResponse, PlacesFailure> {
    loop {
        let reused = slot.is_some();
        let deadline = Instant::now() + call.timeout();
        let outcome = attempt(slot, call, deadline);
        if !matches!(&outcome, Ok(r) if r.keep_alive) {
            *slot = None;
        }
        match outcome {
            Err(e) if call.retry_on_fresh_connection(&e, reused) => continue,
            outcome => return outcome,
        }
    }
}

/// Blocking sockets have per-operation timeouts, so each one gets what is left of the
/// exchange's deadline.
fn attempt(
    slot: &mut Option<TcpStream>,
    call: &PlacesCall,
    deadline: Instant,
) -> Result<HttpResponse, PlacesFailure> {
    let timed_out = || PlacesFailure::Timeout(call.timeout());
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)
    };
    let io_failure = |e: io::Error| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => timed_out(),
        _ => PlacesFailure::from(e),
    };
    let stream = match slot {
        Some(stream) => stream,
        None => {
            let addr = call.authority().to_socket_addrs()?.next().ok_or_else(|| {
                PlacesFailure::Io(format!("{} resolves to no address", call.authority()))
            })?;
            let stream = TcpStream::connect_timeout(&addr, left()?).map_err(io_failure)?;
            let _ = stream.set_nodelay(true);
            slot.insert(stream)
        }
    };
    stream.set_write_timeout(Some(left()?))?;
    stream.write_all(call.request()).map_err(io_failure)?;
    let mut reader = ResponseReader::new();
    let mut buf = [0; READ_BUFFER];
    loop {
        stream.set_read_timeout(Some(left()?.max(Duration::from_millis(1))))?;
        let n = stream.read(&mut buf).map_err(io_failure)?;
        if n == 0 {
            return reader.finish_at_eof();
        }
        if let Some(response) = reader.feed(&buf[..n])? {
            return Ok(response);
        }
    }
}
