//! The flags every backend binary takes, defined once so they cannot drift apart.

use std::net::TcpListener;
use std::path::PathBuf;

use clap::Parser;
use herd_protocol::HerdConfig;

use crate::{Logger, Server, Shutdown};

/// One server of a herd.
///
/// Reads the herd config, listens on this server's address from it, keeps a link to each
/// neighbour (the lower name of a pair dials, retrying with back-off), and serves IAMAT and
/// WHATSAT clients. Prints `listening on <addr>` on stdout once ready. Stops cleanly on
/// SIGINT or SIGTERM.
#[derive(Debug, Clone, Parser)]
#[command(version)]
pub struct ServerArgs {
    /// Herd config file (TOML), e.g. config/herd.toml.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Which server of the config to run, e.g. Clark.
    #[arg(long, value_name = "SERVER")]
    pub name: String,
    /// Worker threads for the runtime [default: the number of CPUs]. The std-threads
    /// backend has one thread per connection and ignores this beyond recording it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Directory for the log file, named after the server (<DIR>/<SERVER>.log).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "logs",
        conflicts_with = "no_log"
    )]
    pub log_dir: PathBuf,
    /// Turn logging off (benchmarks record whether logs were on).
    #[arg(long)]
    pub no_log: bool,
}

impl ServerArgs {
    pub fn parse_env() -> Self {
        Self::parse()
    }

    /// Loads the config, binds the listener and opens the log. Errors say what to fix.
    pub fn setup(&self) -> Result<(TcpListener, Server), String> {
        let text = std::fs::read_to_string(&self.config)
            .map_err(|e| format!("cannot read config {}: {e}", self.config.display()))?;
        let config = HerdConfig::parse(&text, &self.config.display().to_string())
            .map_err(|e| e.to_string())?;
        let me = config.server(&self.name).ok_or_else(|| {
            let names: Vec<&str> = config.names().collect();
            format!(
                "{}: no server named {:?}; pass --name with one of: {}",
                self.config.display(),
                self.name,
                names.join(", ")
            )
        })?;
        let listener = TcpListener::bind(me.addr).map_err(|e| {
            format!(
                "cannot listen on {} for {}: {e} (is another server already using it?)",
                me.addr, self.name
            )
        })?;
        let log = if self.no_log {
            Logger::disabled(&self.name)
        } else {
            Logger::to_dir(&self.log_dir, &self.name).map_err(|e| {
                format!(
                    "cannot open log in {}: {e} (use --no-log to run without)",
                    self.log_dir.display()
                )
            })?
        };
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        Ok((
            listener,
            Server {
                config,
                name: self.name.clone(),
                log,
                shutdown: Shutdown::new(),
                threads,
            },
        ))
    }
}
