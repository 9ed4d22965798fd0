//! The runtime-neutral half of every herd backend binary.
//!
//! Each backend ("shell") moves bytes with its own runtime; this crate holds what they must
//! all do identically but is not protocol: the command-line flags, loading the config, the
//! buffered per-server log, the shutdown signal, the connection limit, and the glue
//! ([`Hub`], [`Client`], [`PeerLink`], [`Dialer`]) between the protocol's sans-IO sessions
//! and the server's node and log, and [`drive`]: the loops that carry the sessions out (the
//! accept loop, a client connection, dialling, a link's reader and writer), written once
//! over [`drive::Runtime`], which the async shells implement. It is plain std code with no
//! runtime, so every backend pays the same for it. Protocol decisions live in
//! `herd-protocol`, never here.
//!
//! The shell binds its own listener(s) with [`Server::bind`], or, for a thread-per-core
//! runtime, one `SO_REUSEPORT` listener per thread with [`Server::bind_shared`]; readiness
//! (`listening on <addr>`) is announced on the first successful bind.

mod accept;
mod args;
pub mod blocking;
pub mod drive;
mod gate;
mod hub;
mod log;
mod server;
mod shutdown;
mod stall;

use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use accept::RESOURCE_PAUSE;
pub use args::{ServerArgs, SetupError};
pub use gate::{ConnectionGate, Permit};
pub use herd_protocol::HerdConfig;
pub use hub::{
    Client, Dialer, Hub, LinkHandle, LinkOutbox, Offer, OfferFn, PeerLink, THREAD_STACK_BYTES,
};
pub use log::{Event, Logger};
pub use server::{Server, now};
pub use shutdown::Shutdown;
pub use stall::{WRITE_STALL, write_all_within};

/// The whole life of a backend binary: parse flags, load the config, install signal
/// handlers, then hand over to `serve`, which builds the runtime, binds its listener(s)
/// with [`Server::bind`] or [`Server::bind_shared`] and runs until shutdown. Errors are
/// printed with what to do and give a non-zero exit: 2 for a setup or bind error.
pub fn run<F>(serve: F) -> ExitCode
where
    F: FnOnce(Server) -> io::Result<()>,
{
    let args = ServerArgs::parse_env();
    let server = match args.setup() {
        Ok(server) => server,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = server.shutdown.trigger_on_signals() {
        eprintln!("error: cannot install signal handlers: {e}");
        return ExitCode::FAILURE;
    }
    let (log, announced) = (server.log.clone(), Arc::clone(&server.announced));
    let result = serve(server);
    log.event(now(), Event::Stopped);
    log.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Never listened: the same exit as any other setup error.
        Err(e) if !announced.load(Ordering::SeqCst) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
