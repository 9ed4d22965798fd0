//! The runtime-neutral half of every herd backend binary.
//!
//! Each backend ("shell") moves bytes with its own runtime; this crate holds what they must
//! all do identically but is not protocol: the command-line flags, loading the config and
//! binding the listening socket, the buffered per-server log, the shutdown signal, and the
//! connection limit. It is plain std code with no runtime, so every backend pays the same
//! for it. Protocol decisions live in `herd-protocol`, never here.

mod args;
mod gate;
mod hub;
mod log;
mod shutdown;

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::SystemTime;

pub use args::ServerArgs;
pub use gate::{ConnectionGate, Permit};
pub use herd_protocol::HerdConfig;
use herd_protocol::Nanos;
pub use hub::{Hub, Offer};
pub use log::{Event, Logger};
pub use shutdown::Shutdown;

/// Everything a backend's `serve` needs besides its listener.
#[derive(Debug, Clone)]
pub struct Server {
    pub config: HerdConfig,
    pub name: String,
    pub log: Logger,
    pub shutdown: Shutdown,
    /// Worker threads the runtime was asked for (`--threads`).
    pub threads: usize,
}

/// The wall clock, read in one place so every backend stamps times the same way.
pub fn now() -> Nanos {
    Nanos::from_system_time(SystemTime::now())
}

/// The whole life of a backend binary: parse flags, load the config, bind, install signal
/// handlers, announce readiness, then hand over to `serve` (which builds the runtime and
/// runs until shutdown). Errors are printed with what to do and give a non-zero exit.
pub fn run<F>(serve: F) -> ExitCode
where
    F: FnOnce(TcpListener, Server) -> std::io::Result<()>,
{
    let args = ServerArgs::parse_env();
    let (listener, server) = match args.setup() {
        Ok(ready) => ready,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = server.shutdown.trigger_on_signals() {
        eprintln!("error: cannot install signal handlers: {e}");
        return ExitCode::FAILURE;
    }
    let addr = listener.local_addr().ok();
    if let Some(addr) = addr {
        server.log.event(now(), Event::Listening(addr));
        // Tools wait for this exact line on stdout before using the server.
        println!("listening on {addr}");
    }
    let log = server.log.clone();
    let result = serve(listener, server);
    log.event(now(), Event::Stopped);
    log.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
