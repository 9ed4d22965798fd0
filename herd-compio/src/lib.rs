//! The server herd on compio: thread-per-core over io_uring, as a shell that only moves
//! bytes.
//!
//! Every decision is made by `herd-protocol`'s node and sessions, wired up by
//! `herd-shell`; this crate starts `--threads` threads, each with its own compio runtime
//! and its own `SO_REUSEPORT` listener, and carries out the sessions' actions with compio's
//! completion-based sockets and timers. Tasks never leave their thread: one per client
//! connection, two per peer link (reader and writer), and one per dialled neighbour on the
//! first thread. The links' queues are async-channel queues, which work across threads, as
//! a client on one thread floods to links whose writers run on others.

mod conn;
mod link;

use std::io;
use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::time::Duration;

use async_channel::{Sender, TrySendError};
use compio::net::TcpListener;
use compio::runtime::{Runtime, spawn};
use futures_lite::future;
use herd_shell::{Hub, Offer, Server};

/// How the node reaches a peer link: the queue its writer task drains.
type Link = Sender<Arc<[u8]>>;

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

/// `io` within `limit`, a timeout being an `io::ErrorKind::TimedOut` error.
async fn timed<T>(limit: Duration, io: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    compio::time::timeout(limit, io)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

/// Binds one listener per thread and serves `server` until its shutdown is triggered.
pub fn serve(server: Server) -> io::Result<()> {
    let threads = server.threads;
    let wakeable = remote_wakeable(&server);
    let hub = Shared::new(server, (), offer)?;
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
                    let runtime = Runtime::builder().sync_queue_size(wakeable).build()?;
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
async fn worker(hub: Arc<Shared>, listener: StdListener, dials: bool) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    if dials {
        for dialer in hub.dialers() {
            spawn(link::dial(Arc::clone(&hub), dialer)).detach();
        }
    }
    let shutdown = hub.server.shutdown.clone();
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            shutdown.wait().await;
            None
        });
        match accepted.await {
            Some(Ok((stream, from))) => {
                spawn(conn::client(Arc::clone(&hub), stream, from)).detach()
            }
            Some(Err(e)) => {
                if let Some(pause) = hub.accept_failed(&e) {
                    compio::time::sleep(pause).await;
                }
            }
            None => return Ok(()),
        }
    }
}
