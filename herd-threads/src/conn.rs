//! A client connection on its own thread: the protocol's client session and places
//! exchange, carried out with blocking sockets.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herd_protocol::{ClientAction, HttpResponse, PlacesCall, PlacesFailure, PlacesStep};
use herd_shell::Client;

use crate::Link;

pub(crate) fn client(mut client: Client<Link>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut places = None;
    loop {
        match client.poll() {
            ClientAction::Read(buf) => {
                let read = stream.read(buf);
                client.read(read);
            }
            ClientAction::Write(bytes) => {
                let written = stream.write_all(bytes);
                client.wrote(written);
            }
            ClientAction::Places(call) => {
                let outcome = places_call(&mut places, call);
                client.places_done(outcome);
            }
            ClientAction::Peer { peer, pending } => {
                let hub = Arc::clone(client.hub());
                return crate::link::run(&hub, stream, &peer, client.conn(), &pending);
            }
            ClientAction::Close(_) => return,
        }
    }
}

/// One places call over the kept-alive connection in `slot`. Blocking sockets time out
/// per operation, so each gets what is left of the call's time.
fn places_call(
    slot: &mut Option<TcpStream>,
    call: &PlacesCall,
) -> Result<HttpResponse, PlacesFailure> {
    let mut exchange = call.exchange(slot.is_some());
    loop {
        match exchange.poll(Instant::now()) {
            PlacesStep::Connect { authority, within } => {
                let connected = connect(authority, within);
                exchange.connected(connected.map(|stream| {
                    let _ = stream.set_nodelay(true);
                    *slot = Some(stream);
                }));
            }
            PlacesStep::Write { bytes, within } => {
                let written = stream(slot).and_then(|s| {
                    s.set_write_timeout(Some(within))?;
                    s.write_all(bytes)
                });
                exchange.wrote(written);
            }
            PlacesStep::Read { within } => {
                let read = stream(slot).and_then(|s| {
                    s.set_read_timeout(Some(within))?;
                    s.read(exchange.read_buf())
                });
                exchange.read(read);
            }
            PlacesStep::Done {
                outcome,
                keep_alive,
            } => {
                if !keep_alive {
                    *slot = None;
                }
                return outcome;
            }
        }
    }
}

fn connect(authority: &str, within: Duration) -> io::Result<TcpStream> {
    let addr = authority.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{authority} resolves to no address"),
        )
    })?;
    TcpStream::connect_timeout(&addr, within)
}

fn stream(slot: &mut Option<TcpStream>) -> io::Result<&mut TcpStream> {
    slot.as_mut()
        .ok_or_else(|| io::ErrorKind::NotConnected.into())
}
