//! The server herd on plain std threads: the classic design, as a shell that only moves
//! bytes.
//!
//! Every decision is made by `herd-protocol`'s node and sessions, and every step of a
//! connection is sequenced by `herd_shell::blocking`; this crate has no runtime at all:
//! blocking `std::net` sockets that time out per call, one OS thread per client
//! connection, a reader and a writer thread per peer link, one thread per dialled
//! neighbour, `std::sync::mpsc` queues. It is the baseline an event loop has to beat.
//! Connections past the config's limit are refused before a thread is spawned.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread;
use std::time::Duration;

use herd_shell::blocking::{self, Blocking, HubOf};
use herd_shell::{Event, Offer, Server, now, write_all_within};

/// Plain std threads and sockets, as `herd_shell::blocking` needs them.
pub struct Threads;

impl Blocking for Threads {
    type Stream = TcpStream;
    type Link = SyncSender<Arc<[u8]>>;
    type Queue = Receiver<Arc<[u8]>>;

    fn connect(to: &str, within: Duration) -> io::Result<TcpStream> {
        let addr = to.to_socket_addrs()?.next().ok_or_else(|| {
            let message = format!("{to} resolves to no address");
            io::Error::new(io::ErrorKind::NotFound, message)
        })?;
        TcpStream::connect_timeout(&addr, within).inspect(Self::nodelay)
    }
    fn nodelay(stream: &TcpStream) {
        let _ = stream.set_nodelay(true);
    }
    fn read(s: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        s.read(buf)
    }
    fn read_within(s: &mut TcpStream, buf: &mut [u8], limit: Duration) -> io::Result<usize> {
        s.set_read_timeout(Some(limit))?;
        s.read(buf)
    }
    fn write_within(s: &mut TcpStream, bytes: &[u8], limit: Duration) -> io::Result<()> {
        write_all_within(s, bytes, limit)
    }
    fn write(s: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
        s.write_all(bytes)
    }
    fn split(stream: TcpStream) -> io::Result<(TcpStream, TcpStream)> {
        stream.set_read_timeout(None)?;
        stream.set_write_timeout(None)?;
        Ok((stream.try_clone()?, stream))
    }
    fn shutdown(stream: &TcpStream) {
        let _ = stream.shutdown(Shutdown::Both);
    }

    fn queue(capacity: usize) -> (Self::Link, Self::Queue) {
        sync_channel(capacity)
    }
    fn recv(q: &Self::Queue) -> Option<Arc<[u8]>> {
        q.recv().ok()
    }
    fn try_recv(q: &Self::Queue) -> Option<Arc<[u8]>> {
        q.try_recv().ok()
    }

    /// Every thread gets the shared, stated stack size (256 KiB).
    fn spawn(name: String, work: impl FnOnce() + Send + 'static) -> io::Result<()> {
        thread::Builder::new()
            .name(name)
            .stack_size(herd_shell::THREAD_STACK_BYTES)
            .spawn(work)
            .map(drop)
    }
}

/// The non-blocking send floods go through.
fn offer(link: &SyncSender<Arc<[u8]>>, wire: Arc<[u8]>) -> Offer {
    match link.try_send(wire) {
        Ok(()) => Offer::Queued,
        Err(TrySendError::Full(_)) => Offer::Full,
        Err(_) => Offer::Closed,
    }
}

/// Binds and serves `server` until its shutdown is triggered.
pub fn serve(server: Server) -> io::Result<()> {
    let listener: TcpListener = server.bind()?;
    let addr = listener.local_addr()?;
    let hub = HubOf::<Threads>::new(server, (), offer)?;
    for dialer in hub.dialers() {
        let hub = Arc::clone(&hub);
        let name = format!("dial-{}", dialer.dial.peer);
        Threads::spawn(name, move || blocking::dial::<Threads>(hub, dialer))?;
    }
    // `accept` blocks and has no timeout; a connection to ourselves wakes it at shutdown.
    let shutdown = hub.server.shutdown.clone();
    Threads::spawn("shutdown".into(), move || {
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
                    thread::sleep(pause);
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
        let work = move || blocking::client::<Threads>(client, stream);
        if let Err(e) = Threads::spawn(format!("conn-{conn}"), work) {
            let reason = format!("no thread for it: {e}");
            let event = Event::Closed {
                conn,
                reason: &reason,
            };
            hub.server.log.event(now(), event);
        }
    }
}
