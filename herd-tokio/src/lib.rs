//! The server herd on tokio: a shell that only moves bytes.
//!
//! Every decision (what a line means, what to reply, what to flood, when to write, what to
//! ask the places service, when to retry) is made by `herd-protocol`'s node and sessions,
//! and every step of a connection is sequenced by `herd_shell::drive`; this crate supplies
//! tokio's multi-threaded runtime, sockets, timers, queues and tasks. One task per client
//! connection, two per peer link (reader and writer), one per dialled neighbour.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herd_shell::drive::{self, Runtime};
use herd_shell::{Offer, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// tokio, as `herd_shell::drive` needs it.
pub struct Tokio;

impl Runtime for Tokio {
    type Listener = TcpListener;
    type Stream = TcpStream;
    type Reader = OwnedReadHalf;
    type Writer = OwnedWriteHalf;
    type Link = mpsc::Sender<Arc<[u8]>>;
    type Queue = mpsc::Receiver<Arc<[u8]>>;
    type Handle = ();

    herd_shell::stream_io!();
    fn split(stream: TcpStream) -> (OwnedReadHalf, OwnedWriteHalf) {
        stream.into_split()
    }

    async fn timed<T: Send>(
        limit: Duration,
        io: impl Future<Output = io::Result<T>> + Send,
    ) -> io::Result<T> {
        tokio::time::timeout(limit, io)
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }
    async fn sleep(d: Duration) {
        tokio::time::sleep(d).await;
    }
    async fn race<T: Send>(
        a: impl Future<Output = T> + Send,
        b: impl Future<Output = T> + Send,
    ) -> T {
        tokio::select! { t = a => t, t = b => t }
    }

    fn queue(capacity: usize) -> (Self::Link, Self::Queue) {
        mpsc::channel(capacity)
    }
    fn offer(link: &Self::Link, wire: Arc<[u8]>) -> Offer {
        match link.try_send(wire) {
            Ok(()) => Offer::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
            Err(_) => Offer::Closed,
        }
    }
    async fn recv(q: &mut Self::Queue) -> Option<Arc<[u8]>> {
        q.recv().await
    }
    fn try_recv(q: &mut Self::Queue) -> Option<Arc<[u8]>> {
        q.try_recv().ok()
    }

    fn spawn(_: &(), task: impl Future<Output = ()> + Send + 'static) {
        drop(tokio::spawn(task));
    }
    async fn spawn_writer(_: &(), writer: impl Future<Output = ()> + Send + 'static) {
        let mut task = Aborting(tokio::spawn(writer));
        let _ = (&mut task.0).await;
    }
}

/// A task aborted when its handle is dropped (tokio's handles detach instead).
struct Aborting(JoinHandle<()>);

impl Drop for Aborting {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Binds and serves `server` until its shutdown is triggered.
pub async fn serve(server: Server) -> io::Result<()> {
    let listener = server.bind()?;
    listener.set_nonblocking(true)?;
    drive::serve::<Tokio>(server, (), TcpListener::from_std(listener)?).await
}
