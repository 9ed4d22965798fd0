//! The runtime-neutral half of every herd backend binary.
//!
//! Each backend ("shell") moves bytes with its own runtime; this crate holds what they must
//! all do identically but is not protocol: the command-line flags, loading the config, the
//! buffered per-server log, the shutdown signal, the connection limit, and the glue
//! ([`Hub`], [`Client`], [`PeerLink`], [`Dialer`]) between the protocol's sans-IO sessions
//! and the server's node and log. It is plain std code with no runtime, so every backend
//! pays the same for it. Protocol decisions live in `herd-protocol`, never here.
//!
//! The shell binds its own listener(s) with [`Server::bind`], or, for a thread-per-core
//! runtime, one `SO_REUSEPORT` listener per thread with [`Server::bind_shared`]; readiness
//! (`listening on <addr>`) is announced on the first successful bind.

mod args;
mod gate;
mod hub;
mod log;
mod shutdown;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

pub use args::{ServerArgs, SetupError};
pub use gate::{ConnectionGate, Permit};
pub use herd_protocol::HerdConfig;
use herd_protocol::Nanos;
pub use hub::{Client, Dialer, Hub, Offer, OfferFn, PeerLink};
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
    /// Where this server listens (from the config).
    pub addr: SocketAddr,
    announced: Arc<AtomicBool>,
}

impl Server {
    /// Binds this server's listener (the one listener of a work-stealing runtime).
    pub fn bind(&self) -> io::Result<TcpListener> {
        let listener = TcpListener::bind(self.addr).map_err(|e| self.bind_error(e))?;
        self.announce(&listener);
        Ok(listener)
    }

    /// Binds one of several listeners on this server's address with `SO_REUSEPORT`: a
    /// thread-per-core runtime calls it once per thread and the kernel spreads new
    /// connections over them.
    pub fn bind_shared(&self) -> io::Result<TcpListener> {
        use socket2::{Domain, Socket, Type};
        let bind = || {
            let socket = Socket::new(Domain::for_address(self.addr), Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            socket.set_reuse_port(true)?;
            socket.bind(&self.addr.into())?;
            socket.listen(1024)?;
            Ok(TcpListener::from(socket))
        };
        let listener = bind().map_err(|e| self.bind_error(e))?;
        self.announce(&listener);
        Ok(listener)
    }

    fn bind_error(&self, e: io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!(
                "cannot listen on {} for {}: {e} (is another server already using it?)",
                self.addr, self.name
            ),
        )
    }

    /// Tools wait for `listening on <addr>` on stdout before using the server: printed once,
    /// when the first listener is bound.
    fn announce(&self, listener: &TcpListener) {
        if let Ok(addr) = listener.local_addr()
            && !self.announced.swap(true, Ordering::SeqCst)
        {
            self.log.event(now(), Event::Listening(addr));
            println!("listening on {addr}");
        }
    }
}

/// The wall clock, read in one place so every backend stamps times the same way.
pub fn now() -> Nanos {
    Nanos::from_system_time(SystemTime::now())
}

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
