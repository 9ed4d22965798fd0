//! The server herd on async-std: a shell that only moves bytes.
//!
//! Every decision is made by `herd-protocol`'s node and sessions, and every step of a
//! connection is sequenced by `herd_shell::drive`; this crate supplies async-std's global
//! executor, sockets, timers, channels and tasks. One task per client connection, two per
//! peer link (reader and writer), one per dialled neighbour.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_std::channel::{self, Receiver, Sender, TrySendError};
use async_std::io::{ReadExt, WriteExt};
use async_std::net::{Shutdown, TcpListener, TcpStream};
use futures_lite::future;
use herd_shell::drive::{self, Runtime};
use herd_shell::{Offer, Server};

/// async-std, as `herd_shell::drive` needs it.
pub struct AsyncStd;

impl Runtime for AsyncStd {
    type Listener = TcpListener;
    type Stream = TcpStream;
    // async-std streams are handles to one socket: one clone reads, the other writes.
    type Reader = TcpStream;
    type Writer = TcpStream;
    type Link = Sender<Arc<[u8]>>;
    type Queue = Receiver<Arc<[u8]>>;
    type Handle = ();

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
    // A dropped async-std task runs on: shutting the socket down ends the writer's write.
    fn link_ended(reader: &TcpStream) {
        let _ = reader.shutdown(Shutdown::Both);
    }

    async fn timed<T: Send>(
        limit: Duration,
        io: impl Future<Output = io::Result<T>> + Send,
    ) -> io::Result<T> {
        // The deadline is polled first (async_std::io::timeout polls `io` first): async-io
        // tries the syscall on every poll, so a write polled at its deadline would finish on
        // what little room the kernel freed without waking it, and a client that never reads
        // would outlive WRITE_STALL.
        let deadline = async {
            async_std::task::sleep(limit).await;
            Err(io::ErrorKind::TimedOut.into())
        };
        future::or(deadline, io).await
    }
    async fn sleep(d: Duration) {
        async_std::task::sleep(d).await;
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

    fn spawn(_: &(), task: impl Future<Output = ()> + Send + 'static) {
        drop(async_std::task::spawn(task));
    }
    async fn spawn_writer(_: &(), writer: impl Future<Output = ()> + Send + 'static) {
        async_std::task::spawn(writer).await;
    }
}

/// Binds and serves `server` until its shutdown is triggered.
pub async fn serve(server: Server) -> io::Result<()> {
    let listener = TcpListener::from(server.bind()?);
    drive::serve::<AsyncStd>(server, (), listener).await
}
