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
    herd_shell::async_io_runtime!();
    type Handle = Arc<Executor<'static>>;

    async fn sleep(d: Duration) {
        Timer::after(d).await;
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
