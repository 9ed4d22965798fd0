//! The server herd on smol: a shell that only moves bytes.
//!
//! Every decision is made by `herd-protocol`'s node and sessions, wired up by
//! `herd-shell`; this crate owns an `async-executor` `Executor` driven by as many threads
//! as the other runtimes get, async-io's reactor, async-net sockets and async-channel
//! queues, and carries out the sessions' actions with them. One task per client
//! connection, two per peer link (reader and writer), one per dialled neighbour.

mod conn;
mod link;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use herd_shell::{Hub, Offer, Server};
use smol::channel::{Sender, TrySendError};
use smol::net::TcpListener;
use smol::{Executor, Timer, future};

/// How the node reaches a peer link: the queue its writer task drains.
type Link = Sender<Arc<[u8]>>;

/// What every task of this server shares.
type Shared = Hub<Link, Arc<Executor<'static>>>;

/// The non-blocking send floods go through.
fn offer(link: &Link, wire: Arc<[u8]>) -> Offer {
    match link.try_send(wire) {
        Ok(()) => Offer::Queued,
        Err(TrySendError::Full(_)) => Offer::Full,
        Err(_) => Offer::Closed,
    }
}

/// `io` within `limit`, a timeout being an `io::ErrorKind::TimedOut` error.
async fn timed<T>(limit: Duration, io: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    future::or(io, async {
        Timer::after(limit).await;
        Err(io::ErrorKind::TimedOut.into())
    })
    .await
}

/// Binds and serves `server` until its shutdown is triggered, spawning on `ex`.
pub async fn serve(ex: Arc<Executor<'static>>, server: Server) -> io::Result<()> {
    let listener = TcpListener::try_from(server.bind()?)?;
    let hub = Shared::new(server, ex, offer)?;
    for dialer in hub.dialers() {
        let dial = link::dial(Arc::clone(&hub), dialer);
        hub.handle.spawn(dial).detach();
    }
    let shutdown = hub.server.shutdown.clone();
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            shutdown.wait().await;
            None
        });
        match accepted.await {
            Some(Ok((stream, from))) => {
                let client = conn::client(Arc::clone(&hub), stream, from);
                hub.handle.spawn(client).detach();
            }
            Some(Err(e)) => {
                if let Some(pause) = hub.accept_failed(&e) {
                    smol::Timer::after(pause).await;
                }
            }
            None => return Ok(()),
        }
    }
}
