//! The ceiling: answers every IAMAT with a canned AT line and does nothing else.
//!
//! One thread, one epoll loop (mio), no runtime, no locks, no parsing beyond finding line
//! ends: for each read it writes all the replies that read earned in one write. Whatever
//! rate the load generator reaches against it is the most this machine's loopback and the
//! load generator can do, so a herd result near it says more about the instrument than
//! about the herd. It prints `listening on <addr>` when ready and runs until killed.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use herd_protocol::framing::LineBuffer;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    lines: LineBuffer,
    out: Vec<u8>,
}

/// The reply an IAMAT gets: an AT line naming its client, as a real server's would.
fn answer(line: &[u8], out: &mut Vec<u8>) {
    let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
    match (fields.next(), fields.next(), fields.next(), fields.next()) {
        (Some(b"IAMAT"), Some(client), Some(location), Some(time)) => {
            out.extend_from_slice(b"AT Ceiling +0.000000000 ");
            for (i, part) in [client, location, time].into_iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(part);
            }
            out.push(b'\n');
        }
        _ => {
            out.extend_from_slice(b"? ");
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .map_err(std::io::Error::other)?;
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("listening on {}", listener.local_addr()?);
    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut next = 0;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        poll.poll(&mut events, None)?;
        for event in &events {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    let token = Token(next);
                    next += 1;
                    let _ = stream.set_nodelay(true);
                    poll.registry()
                        .register(&mut stream, token, Interest::READABLE)?;
                    conns.insert(
                        token,
                        Conn {
                            stream,
                            lines: LineBuffer::new(),
                            out: Vec::new(),
                        },
                    );
                }
                continue;
            }
            let Some(conn) = conns.get_mut(&event.token()) else {
                continue;
            };
            let mut closed = false;
            loop {
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => conn.lines.extend(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            while let Some(Ok(line)) = conn.lines.next_line() {
                answer(line, &mut conn.out);
            }
            // Loopback replies are small; a short write is finished with a blocking-style
            // retry rather than write interest, which keeps this loop minimal.
            let mut written = 0;
            while written < conn.out.len() && !closed {
                match conn.stream.write(&conn.out[written..]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
                    Err(_) => closed = true,
                }
            }
            conn.out.clear();
            if closed && let Some(mut c) = conns.remove(&event.token()) {
                let _ = poll.registry().deregister(&mut c.stream);
            }
        }
    }
}
