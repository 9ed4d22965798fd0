//! A client connection: the protocol's client session (with its places calls), carried out
//! with async-std sockets.

use std::net::SocketAddr;
use std::sync::Arc;

use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;
use herd_protocol::ClientAction;
use herd_shell::WRITE_STALL;

use crate::{Shared, timed};

pub(crate) async fn client(hub: Arc<Shared>, mut stream: TcpStream, from: SocketAddr) {
    let mut client = match hub.accept(from) {
        Ok(client) => client,
        Err(busy) => return drop(stream.write_all(busy).await),
    };
    let _ = stream.set_nodelay(true);
    loop {
        match client.poll() {
            ClientAction::Read(buf) => {
                let read = stream.read(buf).await;
                client.read(read);
            }
            ClientAction::Write(bytes) => {
                let written = timed(WRITE_STALL, stream.write_all(bytes)).await;
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
                let written = timed(within, stream.write_all(bytes)).await;
                client.wrote(written);
            }
            ClientAction::PlacesRead {
                stream,
                buf,
                within,
            } => {
                let read = timed(within, stream.read(buf)).await;
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
