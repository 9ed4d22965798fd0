//! One server of the herd as a backend sees it: its config, log, shutdown signal and
//! thread count, and the binding of its listener(s).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use herd_protocol::{HerdConfig, Nanos};

use crate::args::SetupError;
use crate::log::{Event, Logger};
use crate::shutdown::Shutdown;

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
    pub(crate) announced: Arc<AtomicBool>,
}

impl Server {
    /// The server `name` of `config` (read from `path`, which errors name), with `threads`
    /// worker threads (at least one) and its log off: set `log` to keep one, once the name
    /// is known to be right (so a wrong name leaves no log file behind).
    pub fn new(
        config: HerdConfig,
        path: &str,
        name: &str,
        threads: usize,
    ) -> Result<Server, SetupError> {
        let addr = match config.server(name) {
            Some(me) => me.addr,
            None => {
                return Err(SetupError::UnknownServer {
                    path: path.to_owned(),
                    name: name.to_owned(),
                    known: config.names().collect::<Vec<_>>().join(", "),
                });
            }
        };
        Ok(Server {
            addr,
            config,
            name: name.to_owned(),
            log: Logger::disabled(name),
            shutdown: Shutdown::new(),
            threads: threads.max(1),
            announced: Default::default(),
        })
    }

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
