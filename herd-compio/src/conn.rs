//! A client connection: the protocol's client session (with its places calls), carried out
//! with compio's sockets. compio reads into and writes from buffers it owns while the
//! kernel works on them, so each connection keeps one owned buffer and copies between it
//! and the room the session lends.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use compio::BufResult;
use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::TcpStream;
use herd_protocol::ClientAction;
use herd_shell::WRITE_STALL;

use crate::{Shared, timed};

pub(crate) async fn client(hub: Arc<Shared>, mut stream: TcpStream, from: SocketAddr) {
    let mut client = match hub.accept(from) {
        Ok(client) => client,
        Err(busy) => return drop(stream.write_all(busy).await),
    };
    let _ = stream.set_nodelay(true);
    let mut owned = Vec::new();
    loop {
        match client.poll() {
            ClientAction::Read(buf) => {
                let read = read_into(&mut stream, &mut owned, buf).await;
                client.read(read);
            }
            ClientAction::Write(bytes) => {
                let written = timed(WRITE_STALL, write_from(&mut stream, &mut owned, bytes)).await;
                client.wrote(written);
            }
            ClientAction::AwaitFloods { within } => {
                let written = async {
                    client.floods_written().await;
                    Ok(())
                };
                let _ = timed(within, written).await;
            }
            ClientAction::Connect { authority, within } => {
                let connected = timed(within, TcpStream::connect(authority)).await;
                client.connected(connected.inspect(|s| drop(s.set_nodelay(true))));
            }
            ClientAction::PlacesWrite {
                stream,
                bytes,
                within,
            } => {
                let written = timed(within, write_from(stream, &mut owned, bytes)).await;
                client.wrote(written);
            }
            ClientAction::PlacesRead {
                stream,
                buf,
                within,
            } => {
                let read = timed(within, read_into(stream, &mut owned, buf)).await;
                client.read(read);
            }
            ClientAction::Peer { peer, pending } => {
                let conn = client.conn();
                return crate::link::run(&hub, stream, &peer, conn, &pending).await;
            }
            ClientAction::Close(_) => return,
        }
    }
}

/// Reads through the owned buffer `owned` into `room`.
pub(crate) async fn read_into(
    stream: &mut TcpStream,
    owned: &mut Vec<u8>,
    room: &mut [u8],
) -> io::Result<usize> {
    let mut buf = std::mem::take(owned);
    buf.clear();
    // The kernel fills the buffer's whole capacity: never more than `room`, or bytes past
    // it would be read and dropped (a write may have grown the buffer).
    if buf.capacity() > room.len() {
        buf = Vec::with_capacity(room.len());
    }
    buf.reserve(room.len());
    let BufResult(read, buf) = stream.read(buf).await;
    *owned = buf;
    let n = read?.min(room.len());
    room[..n].copy_from_slice(&owned[..n]);
    Ok(n)
}

/// Writes all of `bytes` through the owned buffer `owned`.
pub(crate) async fn write_from(
    stream: &mut TcpStream,
    owned: &mut Vec<u8>,
    bytes: &[u8],
) -> io::Result<()> {
    let mut buf = std::mem::take(owned);
    buf.clear();
    buf.extend_from_slice(bytes);
    let BufResult(written, buf) = stream.write_all(buf).await;
    *owned = buf;
    written
}
