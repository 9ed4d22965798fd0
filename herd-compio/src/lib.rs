//! The server herd on compio: thread-per-core over io_uring, as a shell that only moves
//! bytes.
//!
//! Every decision is made by `herd-protocol`'s node and sessions, and every step of a
//! connection is sequenced by `herd_shell::drive::local` (the drivers for tasks that are not
//! `Send`); this crate starts `--threads` threads, each with its own compio runtime and its
//! own `SO_REUSEPORT` listener, and supplies compio's completion-based sockets and timers.
//! Tasks never leave their thread: one per client connection, two per peer link (reader and
//! writer), and one per dialled neighbour on the first thread. The links' queues are
//! async-channel queues, which work across threads, as a client on one thread floods to
//! links whose writers run on others.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::time::Duration;

use async_channel::{self as channel, Receiver, Sender, TrySendError};
use compio::BufResult;
use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};
use futures_lite::future;
use herd_shell::drive::local::{self, HubOf, Runtime};
use herd_shell::{Offer, Server};

/// compio, as `herd_shell::drive::local` needs it.
pub struct Compio;

/// A compio stream with the buffer it owns while the kernel works on it: reads and writes
/// copy between it and the room the sessions lend.
pub struct Owned(TcpStream, Vec<u8>);

impl Owned {
    /// A stream that owns no buffer yet: the first read or write makes one.
    pub fn new(stream: TcpStream) -> Owned {
        Owned(stream, Vec::new())
    }

    /// Reads into `room` through the owned buffer.
    async fn read(&mut self, room: &mut [u8]) -> io::Result<usize> {
        let mut buf = std::mem::take(&mut self.1);
        buf.clear();
        // The kernel fills the buffer's whole capacity: never more than `room`, or bytes past
        // it would be read and dropped (a write may have grown the buffer).
        if buf.capacity() > room.len() {
            buf = Vec::with_capacity(room.len());
        }
        buf.reserve(room.len());
        let BufResult(read, buf) = self.0.read(buf).await;
        self.1 = buf;
        let n = read?.min(room.len());
        room[..n].copy_from_slice(&self.1[..n]);
        Ok(n)
    }

    /// Writes all of `bytes` through the owned buffer.
    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.1);
        buf.clear();
        buf.extend_from_slice(bytes);
        let BufResult(written, buf) = self.0.write_all(buf).await;
        self.1 = buf;
        written
    }
}

impl Runtime for Compio {
    type Listener = TcpListener;
    type Stream = Owned;
    // compio streams are handles to one socket: one clone reads, the other writes.
    type Reader = Owned;
    type Writer = Owned;
    type Handle = ();

    async fn accept(listener: &TcpListener) -> io::Result<(Owned, SocketAddr)> {
        let (stream, from) = listener.accept().await?;
        Ok((Owned::new(stream), from))
    }
    async fn connect(to: &str) -> io::Result<Owned> {
        let stream = Owned::new(TcpStream::connect(to).await?);
        Self::nodelay(&stream);
        Ok(stream)
    }
    fn nodelay(stream: &Owned) {
        let _ = stream.0.set_nodelay(true);
    }
    async fn read(s: &mut Owned, buf: &mut [u8]) -> io::Result<usize> {
        s.read(buf).await
    }
    async fn write(s: &mut Owned, bytes: &[u8]) -> io::Result<()> {
        s.write(bytes).await
    }
    fn split(stream: Owned) -> (Owned, Owned) {
        let (rd, wr) = stream.0.into_split();
        (Owned(rd, stream.1), Owned(wr, Vec::new()))
    }
    async fn read_link(r: &mut Owned, buf: &mut [u8]) -> io::Result<usize> {
        r.read(buf).await
    }
    async fn write_link(w: &mut Owned, bytes: &[u8]) -> io::Result<()> {
        w.write(bytes).await
    }

    fn timed<T>(
        limit: Duration,
        io: impl Future<Output = io::Result<T>>,
    ) -> impl Future<Output = io::Result<T>> {
        // compio's own `time::timeout` wraps a write's future in about 1.1 KB of state (a
        // timed write: 1,560 bytes against 576 this way), and a client task keeps room for
        // its largest await for its whole life, idle or not: its sleep raced with the I/O,
        // which is what `timeout` does, is the same deadline in about a third of the memory.
        let expired = async move {
            compio::time::sleep(limit).await;
            Err(io::ErrorKind::TimedOut.into())
        };
        future::or(io, expired)
    }
    async fn sleep(d: Duration) {
        compio::time::sleep(d).await;
    }
    async fn race<T>(a: impl Future<Output = T>, b: impl Future<Output = T>) -> T {
        future::or(a, b).await
    }

    herd_shell::channel_queue!();

    fn spawn(_: &(), task: impl Future<Output = ()> + 'static) {
        compio::runtime::spawn(task).detach();
    }
    async fn spawn_writer(_: &(), writer: impl Future<Output = ()> + 'static) {
        // Dropping compio's task handle (when the reader ends first) cancels the writer.
        let _ = compio::runtime::spawn(writer).await;
    }
}

/// Binds one listener per thread and serves `server` until its shutdown is triggered.
pub fn serve(server: Server) -> io::Result<()> {
    let threads = server.threads;
    let wakeable = remote_wakeable(&server);
    let hub = HubOf::<Compio>::new(server, (), Compio::offer)?;
    let listeners = (0..threads)
        .map(|_| hub.server.bind_shared())
        .collect::<io::Result<Vec<_>>>()?;
    let workers = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let hub = Arc::clone(&hub);
            std::thread::Builder::new()
                .name(format!("compio-{i}"))
                .spawn(move || {
                    let runtime = compio::runtime::Runtime::builder()
                        .sync_queue_size(wakeable)
                        .build()?;
                    runtime.block_on(worker(hub, listener, i == 0))
                })
        })
        .collect::<io::Result<Vec<_>>>()?;
    let mut result = Ok(());
    for worker in workers {
        let outcome = worker
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("a thread panicked")));
        result = result.and(outcome);
    }
    result
}

/// How many of one thread's tasks can be woken from another thread at once: every client
/// (waiting for its floods to be written), every link writer (waiting on its queue) and
/// the accept loop (waiting on shutdown), with room to spare.
///
/// compio queues a wake from another thread in a fixed-size queue and, when it is full,
/// spins until the owning thread drains it. A link writer wakes every client waiting on
/// its floods while holding the wait list's lock; if the owning thread meanwhile blocks on
/// that lock (a client starting to wait), neither thread moves again: a crowd of 300
/// clients on one thread and the default queue of 64 hung a whole thread. A task sits in
/// the queue at most once, so a queue as long as the tasks that can be in it never fills.
fn remote_wakeable(server: &Server) -> usize {
    let neighbours = server
        .config
        .server(&server.name)
        .map_or(0, |s| s.neighbours.len());
    server.config.limits.max_connections + 4 * neighbours + 16
}

/// One thread: accept on its own listener until shutdown; the first also dials.
async fn worker(hub: Arc<HubOf<Compio>>, listener: StdListener, dials: bool) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    if dials {
        local::dial_all::<Compio>(&hub);
    }
    local::accept_all::<Compio>(hub, listener).await
}
