//! The server herd on plain std threads: the classic design, as a shell that only moves
//! bytes.
//!
//! Every decision is made by `herd_protocol::Node`; this crate has no runtime at all:
//! blocking `std::net` sockets, one OS thread per client connection, a reader and a writer
//! thread per peer link, one thread per dialled neighbour, `std::sync::mpsc` queues. It is
//! the baseline an event loop has to beat. Connections past the config's limit are refused
//! before a thread is spawned for them.

mod conn;
mod link;

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread;

use herd_protocol::message::BUSY_REPLY;
use herd_shell::{Event, Hub, Offer, Server, now};

/// How the node reaches a peer link: the queue its writer thread drains.
type Link = SyncSender<Arc<[u8]>>;

/// Stack size of every connection thread: replies are built on the heap, so a small stack
/// keeps thousands of idle connections cheap without risking overflow.
const STACK_BYTES: usize = 256 * 1024;

/// What every task of this server shares.
type Shared = Hub<Link>;

/// The non-blocking send `Hub::send` floods through.
fn offer(link: &Link, wire: Arc<[u8]>) -> Offer {
    match link.try_send(wire) {
        Ok(()) => Offer::Queued,
        Err(TrySendError::Full(_)) => Offer::Full,
        Err(_) => Offer::Closed,
    }
}

fn spawn(name: String, work: impl FnOnce() + Send + 'static) -> io::Result<()> {
    thread::Builder::new()
        .name(name)
        .stack_size(STACK_BYTES)
        .spawn(work)
        .map(drop)
}

/// Serves `server` on `listener` until its shutdown is triggered.
pub fn serve(listener: TcpListener, server: Server) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let shared = Shared::new(server, ())?;
    let dials = shared.node().dials();
    for dial in dials {
        let shared = Arc::clone(&shared);
        spawn(format!("dial-{}", dial.peer), move || {
            link::dial(shared, dial)
        })?;
    }
    // `accept` blocks and has no timeout; a connection to ourselves wakes it at shutdown.
    let shutdown = shared.server.shutdown.clone();
    spawn("shutdown".into(), move || {
        shutdown.wait_blocking();
        let _ = TcpStream::connect(addr);
    })?;
    let log = &shared.server.log;
    for accepted in listener.incoming() {
        if shared.server.shutdown.is_triggered() {
            return Ok(());
        }
        let mut stream = match accepted {
            Ok(stream) => stream,
            // Out of descriptors and the like: the next accept may succeed.
            Err(e) => {
                log.event(
                    now(),
                    Event::Closed {
                        conn: 0,
                        reason: &e.to_string(),
                    },
                );
                continue;
            }
        };
        let from = stream.peer_addr().unwrap_or(addr);
        let Some(permit) = shared.gate.try_enter() else {
            log.event(
                now(),
                Event::Refused {
                    from,
                    limit: shared.gate.limit(),
                },
            );
            let _ = io::Write::write_all(&mut stream, BUSY_REPLY);
            continue;
        };
        let conn = shared.conn_id();
        let worker = Arc::clone(&shared);
        if let Err(e) = spawn(format!("conn-{conn}"), move || {
            conn::client(worker, stream, from, conn, permit)
        }) {
            log.event(
                now(),
                Event::Closed {
                    conn,
                    reason: &format!("no thread for it: {e}"),
                },
            );
        }
    }
    Ok(())
}
