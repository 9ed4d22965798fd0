//! The server herd on smol: a shell that only moves bytes.
//!
//! Every decision is made by `herd-protocol`'s node and sessions, and every step of a
//! connection is sequenced by `herd_shell::drive`; this crate supplies an `async-executor`
//! `Executor` driven by as many threads as the other runtimes get, async-io's reactor and
//! timers, async-net sockets and async-channel queues. One task per client connection, two
//! per peer link (reader and writer), one per dialled neighbour.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herd_shell::drive::{self, Runtime};
use herd_shell::{Offer, Server};
use smol::channel::{self, Receiver, Sender, TrySendError};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use smol::{Executor, Timer, future};

/// smol, as `herd_shell::drive` needs it.
pub struct Smol;

impl Runtime for Smol {
    type Listener = TcpListener;
    type Stream = TcpStream;
    // async-net streams are handles to one socket: one clone reads, the other writes.
    type Reader = TcpStream;
    type Writer = TcpStream;
    type Link = Sender<Arc<[u8]>>;
    type Queue = Receiver<Arc<[u8]>>;
    type Handle = Arc<Executor<'static>>;

    async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        listener.accept().await
    }
    async fn connect(to: &str) -> io::Result<TcpStream> {
        TcpStream::connect(to).await.inspect(Self::nodelay)
    }
    fn nodelay(stream: &TcpStream) {
        let _ = stream.set_nodelay(true);
    }
    async fn read(s: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        s.read(buf).await
    }
    async fn write(s: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
        s.write_all(bytes).await
    }
    fn split(stream: TcpStream) -> (TcpStream, TcpStream) {
        (stream.clone(), stream)
    }
    async fn read_link(r: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        r.read(buf).await
    }
    async fn write_link(w: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
        w.write_all(bytes).await
    }

    async fn timed<T: Send>(
        limit: Duration,
        io: impl Future<Output = io::Result<T>> + Send,
    ) -> io::Result<T> {
        // The deadline is polled first: async-io tries the syscall on every poll, so a write
        // polled at its deadline would finish on what little room the kernel freed without
        // waking it, and a client that never reads would outlive WRITE_STALL.
        let deadline = async {
            Timer::after(limit).await;
            Err(io::ErrorKind::TimedOut.into())
        };
        future::or(deadline, io).await
    }
    async fn sleep(d: Duration) {
        Timer::after(d).await;
    }
    async fn race<T: Send>(
        a: impl Future<Output = T> + Send,
        b: impl Future<Output = T> + Send,
    ) -> T {
        future::or(a, b).await
    }

    fn queue(capacity: usize) -> (Self::Link, Self::Queue) {
        channel::bounded(capacity)
    }
    fn offer(link: &Self::Link, wire: Arc<[u8]>) -> Offer {
        match link.try_send(wire) {
            Ok(()) => Offer::Queued,
            Err(TrySendError::Full(_)) => Offer::Full,
            Err(_) => Offer::Closed,
        }
    }
    async fn recv(q: &mut Self::Queue) -> Option<Arc<[u8]>> {
        q.recv().await.ok()
    }
    fn try_recv(q: &mut Self::Queue) -> Option<Arc<[u8]>> {
        q.try_recv().ok()
    }

    fn spawn(ex: &Self::Handle, task: impl Future<Output = ()> + Send + 'static) {
        ex.spawn(task).detach();
    }
    // Dropping a smol task cancels it.
    async fn spawn_writer(ex: &Self::Handle, writer: impl Future<Output = ()> + Send + 'static) {
        ex.spawn(writer).await;
    }
}

/// Binds and serves `server` until its shutdown is triggered, spawning on `ex`.
pub async fn serve(ex: Arc<Executor<'static>>, server: Server) -> io::Result<()> {
    let listener = TcpListener::try_from(server.bind()?)?;
    drive::serve::<Smol>(server, ex, listener).await
}
