//! A client connection on its own thread: the protocol's client session (with its places
//! calls), carried out with blocking sockets. They time out per operation, so each places
//! step gets what is left of the call's time.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use herd_protocol::ClientAction;
use herd_shell::{Client, WRITE_STALL, write_all_within};

use crate::Link;

pub(crate) fn client(mut client: Client<Link, TcpStream>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    loop {
        match client.poll() {
            ClientAction::Read(buf) => {
                let read = stream.read(buf);
                client.read(read);
            }
            ClientAction::Write(bytes) => {
                let written = write_all_within(&mut stream, bytes, WRITE_STALL);
                client.wrote(written);
            }
            ClientAction::AwaitFloods { within } => client.floods_written_blocking(within),
            ClientAction::Connect { authority, within } => {
                let connected = connect(authority, within);
                client.connected(connected.inspect(|s| drop(s.set_nodelay(true))));
            }
            ClientAction::PlacesWrite {
                stream,
                bytes,
                within,
            } => {
                let timeout = stream.set_write_timeout(Some(within));
                let written = timeout.and_then(|()| stream.write_all(bytes));
                client.wrote(written);
            }
            ClientAction::PlacesRead {
                stream,
                buf,
                within,
            } => {
                let timeout = stream.set_read_timeout(Some(within));
                let read = timeout.and_then(|()| stream.read(buf));
                client.read(read);
            }
            ClientAction::Peer { peer, pending } => {
                let _ = stream.set_write_timeout(None);
                let hub = Arc::clone(client.hub());
                return crate::link::run(&hub, stream, &peer, client.conn(), &pending);
            }
            ClientAction::Close(_) => return,
        }
    }
}

fn connect(authority: &str, within: Duration) -> io::Result<TcpStream> {
    let addr = authority.to_socket_addrs()?.next().ok_or_else(|| {
        let message = format!("{authority} resolves to no address");
        io::Error::new(io::ErrorKind::NotFound, message)
    })?;
    TcpStream::connect_timeout(&addr, within)
}
