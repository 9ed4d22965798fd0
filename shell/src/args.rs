//! The flags every backend binary takes, defined once so they cannot drift apart.

use std::path::PathBuf;

use clap::Parser;
use herd_protocol::HerdConfig;

use crate::log::Logger;
use crate::server::Server;

/// Why a server could not start. Each is the operator's to fix, as the message says.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read config {path}: {error}")]
    ReadConfig { path: String, error: std::io::Error },
    #[error(transparent)]
    Config(#[from] herd_protocol::ConfigError),
    #[error("{path}: no server named {name:?}; pass --name with one of: {known}")]
    UnknownServer {
        path: String,
        name: String,
        known: String,
    },
    #[error("cannot open log in {dir}: {error} (use --no-log to run without)")]
    Log { dir: String, error: std::io::Error },
}

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

    /// Loads the config and opens the log. Errors say what to fix.
    pub fn setup(&self) -> Result<Server, SetupError> {
        let path = self.config.display().to_string();
        let text =
            std::fs::read_to_string(&self.config).map_err(|error| SetupError::ReadConfig {
                path: path.clone(),
                error,
            })?;
        let config = HerdConfig::parse(&text, &path)?;
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let mut server = Server::new(config, &path, &self.name, threads)?;
        if !self.no_log {
            server.log =
                Logger::to_dir(&self.log_dir, &self.name).map_err(|error| SetupError::Log {
                    dir: self.log_dir.display().to_string(),
                    error,
                })?;
        }
        Ok(server)
    }
}
