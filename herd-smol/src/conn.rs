//! A client connection: the protocol's client session and places exchange, carried out
//! with async-net sockets.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use herd_protocol::{ClientAction, HttpResponse, PlacesCall, PlacesFailure, PlacesStep};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;

use crate::{Shared, timed};

pub(crate) async fn client(hub: Arc<Shared>, mut stream: TcpStream, from: SocketAddr) {
    let mut client = match hub.accept(from) {
        Ok(client) => client,
        Err(busy) => return drop(stream.write_all(busy).await),
    };
    let _ = stream.set_nodelay(true);
    let mut places = None;
    loop {
        match client.poll() {
            ClientAction::Read(buf) => {
                let read = stream.read(buf).await;
                client.read(read);
            }
            ClientAction::Write(bytes) => {
                let written = stream.write_all(bytes).await;
                client.wrote(written);
            }
            ClientAction::Places(call) => {
                let outcome = places_call(&mut places, call).await;
                client.places_done(outcome);
            }
            ClientAction::Peer { peer, pending } => {
                let conn = client.conn();
                return crate::link::run(&hub, stream, &peer, conn, &pending).await;
            }
            ClientAction::Close(_) => return,
        }
    }
}

/// One places call over the kept-alive connection in `slot`.
async fn places_call(
    slot: &mut Option<TcpStream>,
    call: &PlacesCall,
) -> Result<HttpResponse, PlacesFailure> {
    let mut exchange = call.exchange(slot.is_some());
    loop {
        match exchange.poll(Instant::now()) {
            PlacesStep::Connect { authority, within } => {
                let connected = timed(within, TcpStream::connect(authority)).await;
                exchange.connected(connected.map(|stream| {
                    let _ = stream.set_nodelay(true);
                    *slot = Some(stream);
                }));
            }
            PlacesStep::Write { bytes, within } => {
                let written = async { timed(within, stream(slot)?.write_all(bytes)).await };
                exchange.wrote(written.await);
            }
            PlacesStep::Read { within } => {
                let read = async { timed(within, stream(slot)?.read(exchange.read_buf())).await };
                let read = read.await;
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

fn stream(slot: &mut Option<TcpStream>) -> io::Result<&mut TcpStream> {
    slot.as_mut()
        .ok_or_else(|| io::ErrorKind::NotConnected.into())
}
