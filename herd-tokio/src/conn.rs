//! A client connection: read, hand lines to the node, write replies in order.

use std::net::SocketAddr;
use std::sync::Arc;

use herd_protocol::message::BUSY_REPLY;
use herd_protocol::{
    ClientStep, HttpResponse, LineBuffer, PlacesCall, PlacesFailure, ResponseReader,
};
use herd_shell::{Event, now};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Shared;

const READ_BUFFER: usize = 16 * 1024;

pub(crate) async fn client(shared: Arc<Shared>, mut stream: TcpStream, from: SocketAddr) {
    let log = &shared.server.log;
    let Some(_permit) = shared.gate.try_enter() else {
        log.event(
            now(),
            Event::Refused {
                from,
                limit: shared.gate.limit(),
            },
        );
        let _ = stream.write_all(BUSY_REPLY).await;
        return;
    };
    let conn = shared.conn_id();
    log.event(now(), Event::Accepted { conn, from });
    let _ = stream.set_nodelay(true);
    let mut lines = LineBuffer::new();
    let mut buf = vec![0; READ_BUFFER];
    let mut out = Vec::new();
    let mut places = None;
    let reason = 'conn: loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) => break "client closed",
            Ok(n) => n,
            Err(_) => break "read failed",
        };
        lines.extend(&buf[..n]);
        while let Some(line) = lines.next_line() {
            let Ok(line) = line else {
                let _ = flush(&shared, conn, &mut stream, &mut out).await;
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
                    if flush(&shared, conn, &mut stream, &mut out).await.is_err() {
                        break 'conn "write failed";
                    }
                    let outcome = places_exchange(&mut places, &call).await;
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
                    if flush(&shared, conn, &mut stream, &mut out).await.is_err() {
                        break 'conn "write failed";
                    }
                    let pending = lines.take_pending();
                    crate::link::run(&shared, stream, &peer, conn, pending).await;
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
        if flush(&shared, conn, &mut stream, &mut out).await.is_err() {
            break "write failed";
        }
    };
    log.event(now(), Event::Closed { conn, reason });
}

async fn flush(
    shared: &Shared,
    conn: u64,
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    shared
        .server
        .log
        .event(now(), Event::Output { conn, bytes: out });
    stream.write_all(out).await?;
    out.clear();
    Ok(())
}

/// One places request over a kept-alive connection, retried once on a fresh connection
/// when the core says a reused one may just have gone stale.
async fn places_exchange(
    slot: &mut Option<TcpStream>,
    call: &PlacesCall,
) -> Result<HttpResponse, PlacesFailure> {
    loop {
        let reused = slot.is_some();
        let outcome = tokio::time::timeout(call.timeout(), attempt(slot, call))
            .await
            .unwrap_or(Err(PlacesFailure::Timeout(call.timeout())));
        if !matches!(&outcome, Ok(r) if r.keep_alive) {
            *slot = None;
        }
        match outcome {
            Err(e) if call.retry_on_fresh_connection(&e, reused) => continue,
            outcome => return outcome,
        }
    }
}

async fn attempt(
    slot: &mut Option<TcpStream>,
    call: &PlacesCall,
) -> Result<HttpResponse, PlacesFailure> {
    let stream = match slot {
        Some(stream) => stream,
        None => {
            let stream = TcpStream::connect(call.authority()).await?;
            let _ = stream.set_nodelay(true);
            slot.insert(stream)
        }
    };
    stream.write_all(call.request()).await?;
    let mut reader = ResponseReader::new();
    let mut buf = [0; READ_BUFFER];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return reader.finish_at_eof();
        }
        if let Some(response) = reader.feed(&buf[..n])? {
            return Ok(response);
        }
    }
}
