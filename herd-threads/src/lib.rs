//! The server herd on plain std threads: the classic design, as a shell that only moves
//! bytes.
//!
//! Every decision is made by `herd-protocol`'s node and sessions, wired up by
//! `herd-shell`; this crate has no runtime at all: blocking `std::net` sockets, one OS
//! thread per client connection, a reader and a writer thread per peer link, one thread per
//! dialled neighbour, `std::sync::mpsc` queues. It is the baseline an event loop has to
//! beat. Connections past the config's limit are refused before a thread is spawned.

mod conn;
mod link;

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread;

use herd_shell::{Event, Hub, Offer, Server, now};

/// How the node reaches a peer link: the queue its writer thread drains.
type Link = SyncSender<Arc<[u8]>>;

/// Stack size of every thread this backend starts: the shared, stated size (256 KiB).
const STACK_BYTES: usize = herd_shell::THREAD_STACK_BYTES;

/// What every thread of this server shares.
type Shared = Hub<Link>;

/// The non-blocking send floods go through.
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

/// Binds and serves `server` until its shutdown is triggered.
pub fn serve(server: Server) -> io::Result<()> {
    let listener: TcpListener = server.bind()?;
    let addr = listener.local_addr()?;
    let hub = Shared::new(server, (), offer)?;
    for dialer in hub.dialers() {
        let hub = Arc::clone(&hub);
        spawn(format!("dial-{}", dialer.dial.peer), move || {
            link::dial(hub, dialer)
        })?;
    }
    // `accept` blocks and has no timeout; a connection to ourselves wakes it at shutdown.
    let shutdown = hub.server.shutdown.clone();
    spawn("shutdown".into(), move || {
        shutdown.wait_blocking();
        let _ = TcpStream::connect(addr);
    })?;
    loop {
        let accepted = listener.accept();
        if hub.server.shutdown.is_triggered() {
            return Ok(());
        }
        let (mut stream, from) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                if let Some(pause) = hub.accept_failed(&e) {
                    std::thread::sleep(pause);
                }
                continue;
            }
        };
        let client = match hub.accept(from) {
            Ok(client) => client,
            Err(busy) => {
                let _ = stream.write_all(busy);
                continue;
            }
        };
        let conn = client.conn();
        if let Err(e) = spawn(format!("conn-{conn}"), move || conn::client(client, stream)) {
            let reason = format!("no thread for it: {e}");
            let event = Event::Closed {
                conn,
                reason: &reason,
            };
            hub.server.log.event(now(), event);
        }
    }
}
