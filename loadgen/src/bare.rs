//! The bare client: the least a closed-loop client can do, to measure the instrument by.
//!
//! One thread, one epoll loop (mio), the same fixed IAMAT line sent over and over, and for
//! every reply line that comes back one more line sent. No clock read per command, no
//! histogram, no check of what came back: whatever rate it reaches against the `ceiling`
//! responder is what loopback and the responder allow, so the load generator's rate over
//! it is the share of that the instrument keeps (issue 11 asks for at least 90%).

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use herd_protocol::Nanos;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::workload;

struct Conn {
    stream: TcpStream,
    /// Lines owed to the responder that the socket did not take yet.
    pending: Vec<u8>,
    writable_interest: bool,
}

/// Replies per second over `duration`, after `warmup`, with `pipeline` lines in flight on
/// each of `connections` connections to `addr`.
pub fn run(
    addr: SocketAddr,
    connections: usize,
    pipeline: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<f64> {
    let mut poll = Poll::new()?;
    let mut line = Vec::new();
    let _ = workload::iamat(0, 0, Nanos::from_system_time(SystemTime::now()), &mut line);
    let pipeline = pipeline.max(1);
    let mut conns = Vec::with_capacity(connections);
    for i in 0..connections {
        let std = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .with_context(|| format!("bare client: connection {i} of {connections} to {addr}"))?;
        std.set_nodelay(true)?;
        std.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(std);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)?;
        conns.push(Conn {
            stream,
            pending: line.repeat(pipeline),
            writable_interest: false,
        });
    }
    for (i, conn) in conns.iter_mut().enumerate() {
        send(&mut poll, conn, i)?;
    }
    let start = Instant::now();
    let (from, to) = (start + warmup, start + warmup + duration);
    let mut counted = 0u64;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let now = Instant::now();
        if now >= to {
            break;
        }
        let measuring = now >= from;
        poll.poll(&mut events, Some(to - now))?;
        for event in &events {
            let i = event.token().0;
            let conn = &mut conns[i];
            if event.is_readable() {
                loop {
                    match conn.stream.read(&mut buf) {
                        Ok(0) => anyhow::bail!("bare client: {addr} closed connection {i}"),
                        Ok(n) => {
                            let replies = buf[..n].iter().filter(|&&b| b == b'\n').count();
                            if measuring {
                                counted += replies as u64;
                            }
                            for _ in 0..replies {
                                conn.pending.extend_from_slice(&line);
                            }
                            // The same rule as the driver's: a short read drained the
                            // socket, and later bytes raise a new edge.
                            if n < buf.len() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e).context("bare client: reading"),
                    }
                }
            }
            send(&mut poll, conn, i)?;
        }
    }
    Ok(counted as f64 / duration.as_secs_f64().max(1e-9))
}

/// Writes what the connection owes; write interest only while the socket is full.
fn send(poll: &mut Poll, conn: &mut Conn, i: usize) -> anyhow::Result<()> {
    let mut written = 0;
    while written < conn.pending.len() {
        match conn.stream.write(&conn.pending[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("bare client: writing"),
        }
    }
    conn.pending.drain(..written);
    let want = !conn.pending.is_empty();
    if want != conn.writable_interest {
        conn.writable_interest = want;
        let interest = if want {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        poll.registry()
            .reregister(&mut conn.stream, Token(i), interest)?;
    }
    Ok(())
}
