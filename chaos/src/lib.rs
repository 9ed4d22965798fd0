//! A chaos TCP proxy for one link between two processes on loopback.
//!
//! A [`Proxy`] listens on a free loopback port and forwards every connection it accepts to
//! its target, byte for byte, until told otherwise: [`Proxy::set_delay`] holds each chunk
//! back for a while, [`Proxy::drop_link`] resets every connection and refuses new ones,
//! [`Proxy::cut`] silently discards one direction while the connection stays open (a
//! half-dead link neither end can see), and [`Proxy::heal`] forwards normally again. The
//! fault runner (`herd-faults`) puts one between every pair of neighbouring servers.
//!
//! It is deliberately plain std code with threads (four per connection: a reader and a
//! writer each way), sized for a handful of long-lived server links, not for client load.
//! It refuses any target outside 127.0.0.0/8: fault traffic stays on this machine.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest a proxy waits to connect to its target.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections open at once through one proxy; past it, new ones are closed at once.
const MAX_CONNECTIONS: usize = 64;
/// Chunks queued between a direction's reader and writer (back-pressure past it).
const QUEUE_CHUNKS: usize = 256;
const CHUNK: usize = 16 * 1024;

/// Which way bytes flow through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the side that connected to the proxy towards the target.
    ToTarget,
    /// From the target back to the side that connected.
    FromTarget,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ToTarget => 0,
            Direction::FromTarget => 1,
        }
    }
}

/// The faults in force; the default forwards everything at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Extra time each chunk waits before it is passed on.
    pub delay: Duration,
    /// Every connection is reset and new ones are closed as soon as they are accepted.
    pub dropped: bool,
    /// Bytes read in this direction are discarded (indexed by [`Direction`]).
    pub cut: [bool; 2],
}

/// What passed through a proxy so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections forwarded to the target.
    pub forwarded: u64,
    /// Connections closed at once (dropped link, no target, target down, too many).
    pub refused: u64,
    /// Bytes passed on (handed to the receiving socket), per [`Direction`].
    pub bytes: [u64; 2],
    /// Bytes discarded by a cut, per [`Direction`].
    pub discarded: [u64; 2],
}

#[derive(Default)]
struct Counters {
    forwarded: AtomicU64,
    refused: AtomicU64,
    bytes: [AtomicU64; 2],
    discarded: [AtomicU64; 2],
}

struct Conn {
    id: u64,
    /// Clones of both sockets, so a drop can shut them down from outside.
    sockets: [TcpStream; 2],
}

#[derive(Default)]
struct Shared {
    target: Mutex<Option<SocketAddr>>,
    faults: Mutex<Faults>,
    conns: Mutex<Vec<Conn>>,
    next_id: AtomicU64,
    stopping: AtomicBool,
    counters: Counters,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn faults(&self) -> Faults {
        *lock(&self.faults)
    }

    fn close_all(&self) {
        for conn in lock(&self.conns).drain(..) {
            for s in &conn.sockets {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    fn forget(&self, id: u64) {
        lock(&self.conns).retain(|c| c.id != id);
    }
}

/// One proxied link. Dropping it stops the proxy and closes its connections.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("target", &*lock(&self.shared.target))
            .field("faults", &self.shared.faults())
            .finish()
    }
}

fn check_loopback(addr: SocketAddr) -> io::Result<()> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr} is not a loopback address: chaos proxies stay on this machine"),
        ))
    }
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1. With no target yet, connections are closed at
    /// once until [`Proxy::set_target`] names one.
    pub fn start(target: Option<SocketAddr>) -> io::Result<Proxy> {
        Self::start_on("127.0.0.1:0".parse().map_err(io::Error::other)?, target)
    }

    /// Listens on `listen` (a loopback address; port 0 picks a free one).
    pub fn start_on(listen: SocketAddr, target: Option<SocketAddr>) -> io::Result<Proxy> {
        check_loopback(listen)?;
        if let Some(t) = target {
            check_loopback(t)?;
        }
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            ..Shared::default()
        });
        let accept = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("chaos-accept-{}", addr.port()))
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(Proxy {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// Where to connect to this proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where new connections go (open ones keep their target).
    pub fn set_target(&self, target: SocketAddr) -> io::Result<()> {
        check_loopback(target)?;
        *lock(&self.shared.target) = Some(target);
        Ok(())
    }

    pub fn target(&self) -> Option<SocketAddr> {
        *lock(&self.shared.target)
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    /// Holds every chunk back by `delay` from the time it was read (order is kept).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.shared.faults).delay = delay;
    }

    /// Resets every open connection and closes new ones until [`Proxy::heal`].
    pub fn drop_link(&self) {
        lock(&self.shared.faults).dropped = true;
        self.shared.close_all();
    }

    /// Discards bytes flowing in `direction` from now on; connections stay open.
    pub fn cut(&self, direction: Direction) {
        lock(&self.shared.faults).cut[direction.index()] = true;
    }

    /// Forwards normally again: no delay, no drop, no cut. Bytes discarded meanwhile stay
    /// lost; connections reset by a drop stay closed (the ends reconnect).
    pub fn heal(&self) {
        *lock(&self.shared.faults) = Faults::default();
    }

    /// Connections open through the proxy now.
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            forwarded: load(&c.forwarded),
            refused: load(&c.refused),
            bytes: [load(&c.bytes[0]), load(&c.bytes[1])],
            discarded: [load(&c.discarded[0]), load(&c.discarded[1])],
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        self.shared.close_all();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = incoming else { continue };
        if open(&client, shared).is_err() {
            // Counted before the close, so whoever sees the close sees the count.
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}

/// Connects `client` to the target and starts its four pumps; an error closes `client`.
fn open(client: &TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    let target = *lock(&shared.target);
    let Some(target) = target.filter(|_| !shared.faults().dropped) else {
        return Err(io::Error::other("link dropped or no target"));
    };
    if lock(&shared.conns).len() >= MAX_CONNECTIONS {
        return Err(io::Error::other("too many connections"));
    }
    let upstream = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
    for s in [client, &upstream] {
        s.set_nodelay(true)?;
    }
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    {
        let mut conns = lock(&shared.conns);
        // A drop that raced with this accept wins.
        if shared.faults().dropped {
            return Err(io::Error::other("link dropped"));
        }
        conns.push(Conn {
            id,
            sockets: [client.try_clone()?, upstream.try_clone()?],
        });
    }
    shared.counters.forwarded.fetch_add(1, Ordering::Relaxed);
    let pumps = [
        (
            Direction::ToTarget,
            client.try_clone()?,
            upstream.try_clone()?,
        ),
        (Direction::FromTarget, upstream, client.try_clone()?),
    ];
    for (direction, from, to) in pumps {
        let (tx, rx) = sync_channel(QUEUE_CHUNKS);
        let reader_shared = Arc::clone(shared);
        let writer_shared = Arc::clone(shared);
        let from_clone = from.try_clone()?;
        std::thread::Builder::new()
            .name("chaos-read".into())
            .spawn(move || read_side(from, &tx, direction, &reader_shared))?;
        std::thread::Builder::new()
            .name("chaos-write".into())
            .spawn(move || write_side(to, from_clone, &rx, direction, id, &writer_shared))?;
    }
    Ok(())
}

/// Reads chunks and queues them with the time they are due, or discards them under a cut.
fn read_side(
    mut from: TcpStream,
    tx: &SyncSender<(Instant, Vec<u8>)>,
    direction: Direction,
    shared: &Shared,
) {
    let mut buf = vec![0; CHUNK];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let faults = shared.faults();
        if faults.cut[direction.index()] {
            shared.counters.discarded[direction.index()].fetch_add(n as u64, Ordering::Relaxed);
            continue;
        }
        if tx
            .send((Instant::now() + faults.delay, buf[..n].to_vec()))
            .is_err()
        {
            return;
        }
    }
}

/// Writes queued chunks when due. When either side ends, both sockets are shut down so the
/// whole connection ends (server links have no use for half-closed connections).
fn write_side(
    mut to: TcpStream,
    from: TcpStream,
    rx: &Receiver<(Instant, Vec<u8>)>,
    direction: Direction,
    id: u64,
    shared: &Shared,
) {
    while let Ok((due, chunk)) = rx.recv() {
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            // The delay fault itself: this thread exists to hold chunks back.
            std::thread::sleep(wait);
        }
        // Counted before the write, so a reader that got the bytes sees them counted.
        shared.counters.bytes[direction.index()].fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if to.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
    shared.forget(id);
}

#[cfg(test)]
mod tests;
