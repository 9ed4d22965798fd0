//! The sequencing of an async shell, written once: the accept loop, a client connection,
//! dialling a neighbour and a running link's reader and writer, over [`Runtime`], the few
//! calls a runtime must supply. A shell implements [`Runtime`] and calls [`serve`].
//!
//! The calls are plain associated functions on a marker type (no trait objects): each driver
//! is monomorphised for its runtime, so the shells pay nothing for sharing. Only a client's
//! two rare steps (a places connect, a peer link) are boxed, so that their state is not in
//! every idle client's task.

/// The trait and drivers, written once for both kinds of runtime: `$send` is `+ Send` on
/// every future, stream and queue for a work-stealing runtime, or nothing for a
/// thread-per-core one whose tasks never leave their thread (`$sync` is `$send` with `+ Sync`
/// for the listener).
macro_rules! driver {
    (($($send:tt)*) ($($sync:tt)*)) => {
        use std::io;
        use std::net::SocketAddr;
        use std::sync::Arc;
        use std::time::Duration;

        use herd_protocol::node::HANDSHAKE_TIMEOUT;
        use herd_protocol::{ClientAction, DialError, LinkEnd};

        use crate::{Dialer, Hub, LinkOutbox, Offer, PeerLink, WRITE_STALL};

        /// A server's hub as the drivers of runtime `R` see it.
        pub type HubOf<R> = Hub<<R as Runtime>::Link, <R as Runtime>::Handle>;

        /// What an async runtime supplies: sockets, timers, a queue per link and tasks.
        pub trait Runtime: Sized + 'static {
            /// A listening socket.
            type Listener: 'static $($sync)*;
            /// A TCP connection: a client's, a places call's, a dialled link's.
            type Stream: 'static $($send)*;
            /// A running link's read side (the stream's half, or a second handle to it).
            type Reader: 'static $($send)*;
            /// A running link's write side.
            type Writer: 'static $($send)*;
            /// How the node reaches a peer link: the sending end of its writer's queue.
            type Link: Clone + Send + Sync + 'static;
            /// The receiving end of that queue.
            type Queue: 'static $($send)*;
            /// What spawning needs, kept in the hub (`()` for a runtime with a global spawner).
            type Handle: Send + Sync + 'static;

            fn accept(
                listener: &Self::Listener,
            ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> $($send)*;
            /// Connects to `to` (`host:port`) with Nagle's algorithm off.
            fn connect(to: &str) -> impl Future<Output = io::Result<Self::Stream>> $($send)*;
            fn nodelay(stream: &Self::Stream);
            fn read(
                s: &mut Self::Stream,
                buf: &mut [u8],
            ) -> impl Future<Output = io::Result<usize>> $($send)*;
            fn write(
                s: &mut Self::Stream,
                bytes: &[u8],
            ) -> impl Future<Output = io::Result<()>> $($send)*;
            /// The stream as a link's two sides.
            fn split(stream: Self::Stream) -> (Self::Reader, Self::Writer);
            fn read_link(
                r: &mut Self::Reader,
                buf: &mut [u8],
            ) -> impl Future<Output = io::Result<usize>> $($send)*;
            fn write_link(
                w: &mut Self::Writer,
                bytes: &[u8],
            ) -> impl Future<Output = io::Result<()>> $($send)*;
            /// Called once a link's reader has ended, before the link is forgotten.
            fn link_ended(_reader: &Self::Reader) {}

            /// `io` within `limit`, a timeout being an `io::ErrorKind::TimedOut` error.
            fn timed<T: Sized $($send)*>(
                limit: Duration,
                io: impl Future<Output = io::Result<T>> $($send)*,
            ) -> impl Future<Output = io::Result<T>> $($send)*;
            fn sleep(d: Duration) -> impl Future<Output = ()> $($send)*;
            /// Whichever of `a` and `b` finishes first.
            fn race<T: Sized $($send)*>(
                a: impl Future<Output = T> $($send)*,
                b: impl Future<Output = T> $($send)*,
            ) -> impl Future<Output = T> $($send)*;

            /// A bounded queue for a link's writer.
            fn queue(capacity: usize) -> (Self::Link, Self::Queue);
            /// The non-blocking send floods go through.
            fn offer(link: &Self::Link, wire: Arc<[u8]>) -> Offer;
            /// The next line queued, or `None` once every sender is gone.
            fn recv(q: &mut Self::Queue) -> impl Future<Output = Option<Arc<[u8]>>> $($send)*;
            fn try_recv(q: &mut Self::Queue) -> Option<Arc<[u8]>>;

            /// Runs `task` on its own, detached.
            fn spawn(handle: &Self::Handle, task: impl Future<Output = ()> $($send)* + 'static);
            /// Runs a link's writer as its own task: the future returned ends when the writer does,
            /// and dropping it stops the writer.
            fn spawn_writer(
                handle: &Self::Handle,
                writer: impl Future<Output = ()> $($send)* + 'static,
            ) -> impl Future<Output = ()> $($send)*;
        }

        /// Builds the hub, keeps a link to every neighbour this server dials, and accepts clients
        /// from `listener` until shutdown.
        pub async fn serve<R: Runtime>(
            server: crate::Server,
            handle: R::Handle,
            listener: R::Listener,
        ) -> io::Result<()> {
            let hub = HubOf::<R>::new(server, handle, R::offer)?;
            dial_all::<R>(&hub);
            accept_all::<R>(hub, listener).await
        }

        /// Spawns a task for every neighbour this server dials, to keep its link up.
        pub fn dial_all<R: Runtime>(hub: &Arc<HubOf<R>>) {
            for dialer in hub.dialers() {
                R::spawn(&hub.handle, dial::<R>(Arc::clone(hub), dialer));
            }
        }

        /// Accepts clients from `listener` until shutdown, pausing as the accept policy says
        /// after an error.
        pub async fn accept_all<R: Runtime>(
            hub: Arc<HubOf<R>>,
            listener: R::Listener,
        ) -> io::Result<()> {
            let shutdown = hub.server.shutdown.clone();
            loop {
                let accepted = R::race(async { Some(R::accept(&listener).await) }, async {
                    shutdown.wait().await;
                    None
                });
                match accepted.await {
                    Some(Ok((stream, from))) => {
                        R::spawn(&hub.handle, client::<R>(Arc::clone(&hub), stream, from));
                    }
                    Some(Err(e)) => {
                        if let Some(pause) = hub.accept_failed(&e) {
                            R::sleep(pause).await;
                        }
                    }
                    None => return Ok(()),
                }
            }
        }

        /// A client connection: the protocol's client session (with its places calls), carried out.
        pub async fn client<R: Runtime>(
            hub: Arc<HubOf<R>>,
            mut stream: R::Stream,
            from: SocketAddr,
        ) {
            let mut client = match hub.accept::<R::Stream>(from) {
                Ok(client) => client,
                Err(busy) => return drop(R::write(&mut stream, busy).await),
            };
            R::nodelay(&stream);
            loop {
                match client.poll() {
                    ClientAction::Read(buf) => {
                        let read = R::read(&mut stream, buf).await;
                        client.read(read);
                    }
                    ClientAction::Write(bytes) => {
                        let written = R::timed(WRITE_STALL, R::write(&mut stream, bytes)).await;
                        client.wrote(written);
                    }
                    ClientAction::AwaitFloods { within } => {
                        let written = async {
                            client.floods_written().await;
                            Ok(())
                        };
                        let _ = R::timed(within, written).await;
                    }
                    ClientAction::Connect { authority, within } => {
                        // Boxed, as the link below: a rare step's state would otherwise sit in
                        // every client task for the connection's whole life.
                        let connected = Box::pin(R::timed(within, R::connect(authority))).await;
                        client.connected(connected);
                    }
                    ClientAction::PlacesWrite {
                        stream,
                        bytes,
                        within,
                    } => {
                        let written = R::timed(within, R::write(stream, bytes)).await;
                        client.wrote(written);
                    }
                    ClientAction::PlacesRead {
                        stream,
                        buf,
                        within,
                    } => {
                        let read = R::timed(within, R::read(stream, buf)).await;
                        client.read(read);
                    }
                    ClientAction::Peer { peer, pending } => {
                        let conn = client.conn();
                        let link = run_link::<R>(&hub, stream, &peer, conn, &pending);
                        return Box::pin(link).await;
                    }
                    ClientAction::Close(_) => return,
                }
            }
        }

        /// Keeps the link to a neighbour this server dials up, for as long as the server runs.
        pub async fn dial<R: Runtime>(hub: Arc<HubOf<R>>, mut dialer: Dialer) {
            let to = dialer.dial.addr.to_string();
            while !hub.server.shutdown.is_triggered() {
                let attempt = R::race(handshake::<R>(&hub, &dialer, &to), async {
                    R::sleep(HANDSHAKE_TIMEOUT).await;
                    Err(DialError::TimedOut)
                });
                match attempt.await {
                    Ok((stream, pending)) => {
                        dialer.linked();
                        let (peer, conn) = (&dialer.dial.peer, hub.conn_id());
                        run_link::<R>(&hub, stream, peer, conn, &pending).await;
                    }
                    Err(e) => R::sleep(dialer.failed(&hub, &e)).await,
                }
            }
        }

        async fn handshake<R: Runtime>(
            hub: &HubOf<R>,
            dialer: &Dialer,
            to: &str,
        ) -> Result<(R::Stream, Vec<u8>), DialError> {
            let mut handshake = dialer.handshake(hub);
            let mut stream = R::connect(to).await?;
            R::write(&mut stream, handshake.hello()).await?;
            loop {
                let read = R::read(&mut stream, handshake.read_buf()).await;
                if let Some(done) = handshake.read(read, &hub.node()) {
                    return done.map(|pending| (stream, pending));
                }
            }
        }

        /// Runs an established link until either direction ends: the reader here, the writer as a
        /// task of its own.
        pub async fn run_link<R: Runtime>(
            hub: &Arc<HubOf<R>>,
            stream: R::Stream,
            peer: &str,
            conn: u64,
            pending: &[u8],
        ) {
            let (tx, rx) = R::queue(hub.server.config.limits.peer_queue);
            let Some((mut link, out)) = hub.link_up(peer, conn, tx, pending) else {
                return;
            };
            let (mut rd, wr) = R::split(stream);
            let writer = R::spawn_writer(&hub.handle, write_link::<R>(wr, out, rx));
            let end = R::race(read_link::<R>(&mut link, &mut rd), async {
                writer.await;
                LinkEnd::WriterEnded
            })
            .await;
            R::link_ended(&rd);
            link.end(end);
        }

        async fn read_link<R: Runtime>(
            link: &mut PeerLink<R::Link, R::Handle>,
            rd: &mut R::Reader,
        ) -> LinkEnd {
            loop {
                let buf = match link.poll() {
                    Ok(buf) => buf,
                    Err(end) => return end,
                };
                let read = R::read_link(rd, buf).await;
                link.read(read);
            }
        }

        /// A link's writer: writes what is due, then waits for the next line and takes every line
        /// queued behind it, so a burst of floods goes out in one write.
        async fn write_link<R: Runtime>(mut wr: R::Writer, mut out: LinkOutbox, mut rx: R::Queue) {
            while R::write_link(&mut wr, out.bytes()).await.is_ok() {
                out.written();
                let Some(first) = R::recv(&mut rx).await else {
                    return;
                };
                out.extend([first]);
                out.extend(std::iter::from_fn(|| R::try_recv(&mut rx)));
            }
        }
    };
}

driver!((+ Send) (+ Send + Sync));

/// The same trait and drivers for a thread-per-core runtime (compio, monoio): nothing need be
/// `Send`, as tasks never leave the thread that spawned them. Only the hub (links and
/// handle) is shared between threads.
pub mod local {
    driver!(()());
}

/// The items of a [`Runtime`] impl that are the same for every runtime built on async-io's
/// reactor, with futures-io streams that are handles to one socket and async-channel
/// queues (async-std, smol): expand it inside the `impl Runtime` (which supplies `sleep`,
/// the `Handle` and the spawns) with, in scope, `io`, `Arc`, `Duration`, `SocketAddr`,
/// `Offer`, the runtime's `TcpListener` and `TcpStream`, its async-channel `Sender`,
/// `Receiver`, `TrySendError` and `channel`, `future::or`, and its
/// `AsyncReadExt`/`AsyncWriteExt` traits. It includes [`stream_io!`] and [`channel_queue!`].
#[macro_export]
macro_rules! async_io_runtime {
    () => {
        type Listener = TcpListener;
        type Stream = TcpStream;
        // One clone of the stream reads, the other writes.
        type Reader = TcpStream;
        type Writer = TcpStream;

        $crate::stream_io!();
        fn split(stream: TcpStream) -> (TcpStream, TcpStream) {
            (stream.clone(), stream)
        }
        async fn timed<T: Send>(
            limit: Duration,
            io: impl Future<Output = io::Result<T>> + Send,
        ) -> io::Result<T> {
            // The deadline is polled first: async-io tries the syscall on every poll, so a
            // write polled at its deadline would finish on what little room the kernel
            // freed without signalling it writable, the deadline would be lost, and a
            // client that never reads would outlive WRITE_STALL.
            let deadline = async {
                Self::sleep(limit).await;
                Err(io::ErrorKind::TimedOut.into())
            };
            future::or(deadline, io).await
        }
        async fn race<T: Send>(
            a: impl Future<Output = T> + Send,
            b: impl Future<Output = T> + Send,
        ) -> T {
            future::or(a, b).await
        }
        $crate::channel_queue!();
    };
}

/// The stream items of a [`Runtime`] impl, the same text for tokio's streams and
/// futures-io's: `accept`, `connect`, `nodelay`, `read`, `write`, `read_link` and
/// `write_link`, as the runtime's `accept`, `connect`, `set_nodelay`, `read` and
/// `write_all`. Expand it inside the `impl Runtime` with, in scope, `io`, `SocketAddr`, the
/// runtime's `TcpStream` and its read and write extension traits.
#[macro_export]
macro_rules! stream_io {
    () => {
        async fn accept(listener: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
            listener.accept().await
        }
        async fn connect(to: &str) -> io::Result<Self::Stream> {
            TcpStream::connect(to).await.inspect(Self::nodelay)
        }
        fn nodelay(stream: &Self::Stream) {
            let _ = stream.set_nodelay(true);
        }
        async fn read(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize> {
            s.read(buf).await
        }
        async fn write(s: &mut Self::Stream, bytes: &[u8]) -> io::Result<()> {
            s.write_all(bytes).await
        }
        async fn read_link(r: &mut Self::Reader, buf: &mut [u8]) -> io::Result<usize> {
            r.read(buf).await
        }
        async fn write_link(w: &mut Self::Writer, bytes: &[u8]) -> io::Result<()> {
            w.write_all(bytes).await
        }
    };
}

/// The queue items of a [`Runtime`] impl whose links are async-channel queues (async-std,
/// smol, compio): `Link`, `Queue`, `queue`, `offer`, `recv` and `try_recv`. Expand it inside
/// the `impl Runtime` with, in scope, `Arc`, `Offer`, and async-channel's `Sender`,
/// `Receiver`, `TrySendError` and the crate itself as `channel`.
#[macro_export]
macro_rules! channel_queue {
    () => {
        type Link = Sender<Arc<[u8]>>;
        type Queue = Receiver<Arc<[u8]>>;

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
    };
}
