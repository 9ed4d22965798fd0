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
    herd_shell::async_io_runtime!();
    type Handle = ();

    // A dropped async-std task runs on: shutting the socket down ends the writer's write.
    fn link_ended(reader: &TcpStream) {
        let _ = reader.shutdown(Shutdown::Both);
    }

    async fn sleep(d: Duration) {
        async_std::task::sleep(d).await;
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
