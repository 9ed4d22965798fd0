//! A running herd: the places service and one process per server.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use herd_protocol::HerdConfig;

use crate::client::Client;
use crate::manifest::{Manifest, Profile, Vars, expand, target_dir};
use crate::topology::Topology;

/// How long a process may take to print `listening on`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long links may take to carry a probe update to every server.
const LINK_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a process whose stdout closed may take to be reaped.
const EXIT_GRACE: Duration = Duration::from_secs(5);
/// How long a restart waits for the killed server's port to be released.
const PORT_RELEASE_TIMEOUT: Duration = Duration::from_secs(10);
/// Times a whole start is retried when a server could not bind its (briefly free) port.
const START_ATTEMPTS: usize = 3;

/// The places service a herd talks to.
#[derive(Debug, Clone, PartialEq)]
pub enum PlacesSpec {
    /// A `places` process with this latency spec, error rate and seed.
    Service {
        latency: String,
        error_rate: f64,
        seed: u64,
    },
    /// The config names a loopback port nothing listens on.
    Unreachable,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct HerdSpec {
    pub manifest: Manifest,
    pub topology: Topology,
    /// `--threads` for every server.
    pub threads: usize,
    pub profile: Profile,
    pub places: PlacesSpec,
    pub places_timeout_ms: u64,
    /// Server logs go here; `None` runs them with `--no-log`.
    pub logs: Option<PathBuf>,
    /// Changes the config one server is started with; `None` starts all with the same.
    pub per_server: Option<PerServerConfig>,
}

/// Rewrites the herd's config for one server before it starts (called with the server's
/// name and a copy of the config holding the real addresses, on every start and restart).
/// For example, neighbours seen at the address of a proxy in between. The result is
/// validated like any config file.
#[derive(Clone)]
pub struct PerServerConfig(pub std::sync::Arc<Rewrite>);

/// The function inside a [`PerServerConfig`].
pub type Rewrite = dyn Fn(&str, &mut HerdConfig) + Send + Sync;

impl std::fmt::Debug for PerServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PerServerConfig(..)")
    }
}

impl HerdSpec {
    /// The default herd shape for `manifest`, places answering at once, logs off.
    pub fn new(manifest: Manifest, topology: Topology, profile: Profile) -> HerdSpec {
        HerdSpec {
            manifest,
            topology,
            threads: 2,
            profile,
            places: PlacesSpec::Service {
                latency: "0".into(),
                error_rate: 0.0,
                seed: 1,
            },
            places_timeout_ms: 5_000,
            logs: None,
            per_server: None,
        }
    }
}

struct Server {
    child: Child,
    stderr: PathBuf,
}

/// A started herd. Dropping it kills every process.
pub struct Herd {
    spec: HerdSpec,
    root: PathBuf,
    dir: tempfile::TempDir,
    config: HerdConfig,
    config_path: PathBuf,
    places: Option<Child>,
    servers: BTreeMap<String, Server>,
}

impl std::fmt::Debug for Herd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Herd")
            .field("backend", &self.spec.manifest.name)
            .field("config", &self.config_path)
            .finish()
    }
}

/// Ports that were free a moment ago: all bound at once so they differ, then released.
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// A loopback port for [`PlacesSpec::Unreachable`]: free now, and below the kernel's
/// ephemeral range, so no `connect` and no bind to port 0 (a parallel hostile suite makes
/// thousands) can be handed it before a test takes it over with a fake places service.
fn unreachable_port() -> anyhow::Result<u16> {
    use std::hash::{BuildHasher, RandomState};
    let low = ephemeral_low().unwrap_or(32_768);
    // The upper half below the range; a random start so concurrent herds rarely try the
    // same port first.
    let span = u64::from(low / 2);
    if span >= 1_024 {
        let start = RandomState::new().hash_one(std::process::id());
        for i in 0..256 {
            let port = (low / 2) + ((start.wrapping_add(i * 7_919)) % span) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    Ok(free_ports(1)?[0])
}

/// The first port of the kernel's ephemeral range, where it can read it.
fn ephemeral_low() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

/// Waits for the `listening on ADDR` line; keeps draining stdout afterwards so the child
/// never blocks on a full pipe.
fn wait_ready(child: &mut Child, what: &str) -> anyhow::Result<SocketAddr> {
    let stdout = child.stdout.take().context("stdout not piped")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(addr) => {
                return addr
                    .parse()
                    .with_context(|| format!("{what} printed a bad address {addr:?}"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                if let Some(status) = child.try_wait()? {
                    bail!("{what} exited with {status} before it was ready");
                }
            }
            // Stdout closed without the line: the process is exiting (or has closed its
            // stdout, which a server never does); say how it ended, not that it was slow.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = wait_exit(child, EXIT_GRACE)?;
                match status {
                    Some(status) => bail!("{what} exited with {status} before it was ready"),
                    None => bail!("{what} closed its stdout without printing `listening on`"),
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("{what} did not print `listening on` within {READY_TIMEOUT:?}")
            }
        }
    }
}

/// Waits up to `limit` for `child` to exit.
fn wait_exit(child: &mut Child, limit: Duration) -> anyhow::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `addr` can be bound again. A killed server's listening socket is released
/// by the kernel asynchronously (with io_uring, up to ~50 ms after the process is reaped),
/// so a restart straight after a kill may find its port still taken.
fn wait_port_free(addr: SocketAddr, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        match TcpListener::bind(addr) {
            Ok(probe) => {
                drop(probe);
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                bail!("port {addr} is still not free {limit:?} after its server was stopped: {e}")
            }
        }
    }
}

fn tail_of(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Herd {
    /// Starts the places service and every server, and waits until the herd is linked.
    pub fn start(root: &Path, spec: HerdSpec) -> anyhow::Result<Herd> {
        let mut last = anyhow!("no attempt made");
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(root, spec.clone()) {
                Ok(herd) => return Ok(herd),
                // A port taken between allocation and bind shows as a server exiting early.
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn start_once(root: &Path, spec: HerdSpec) -> anyhow::Result<Herd> {
        // Setup (a virtual environment, installed packages) is needed to launch at all,
        // even by callers that built everything beforehand; it runs once per process.
        crate::manifest::setup(root, &spec.manifest)?;
        let dir = tempfile::Builder::new().prefix("herd-").tempdir()?;
        let bin_dir = target_dir(root).join(spec.profile.dir());
        let (places, places_url) = match &spec.places {
            PlacesSpec::Service {
                latency,
                error_rate,
                seed,
            } => {
                let mut child = Command::new(bin_dir.join("places"))
                    .args([
                        "--listen",
                        "127.0.0.1:0",
                        "--latency",
                        latency,
                        "--error-rate",
                    ])
                    .arg(error_rate.to_string())
                    .args([
                        "--seed",
                        &seed.to_string(),
                        "--require-key",
                        "launcher-places-key",
                    ])
                    .stdout(Stdio::piped())
                    .stderr(File::create(dir.path().join("places.stderr"))?)
                    .spawn()
                    .with_context(|| {
                        format!(
                            "cannot start {} (build it with `cargo build -p places`)",
                            bin_dir.join("places").display()
                        )
                    })?;
                let addr = wait_ready(&mut child, "places service")?;
                (Some(child), format!("http://{addr}"))
            }
            PlacesSpec::Unreachable => (None, format!("http://127.0.0.1:{}", unreachable_port()?)),
        };
        let ports = free_ports(spec.topology.servers.len())?;
        let config = spec
            .topology
            .config(&ports, &places_url, spec.places_timeout_ms)?;
        let config_path = dir.path().join("herd.toml");
        std::fs::write(&config_path, config.to_toml())?;
        let mut herd = Herd {
            spec,
            root: root.to_path_buf(),
            dir,
            config,
            config_path,
            places,
            servers: BTreeMap::new(),
        };
        let names: Vec<String> = herd.names().map(str::to_owned).collect();
        for name in &names {
            herd.launch(name)?;
        }
        herd.wait_linked()?;
        Ok(herd)
    }

    fn launch(&mut self, name: &str) -> anyhow::Result<()> {
        let bin_dir = target_dir(&self.root).join(self.spec.profile.dir());
        let config = self.server_config_path(name)?;
        let vars = Vars {
            profile: self.spec.profile,
            bin_dir: &bin_dir,
            config: &config,
            server: name,
            threads: self.spec.threads,
            log_dir: self.spec.logs.as_deref(),
        };
        let argv = expand(&self.spec.manifest.launch, &vars);
        let stderr = self.dir.path().join(format!("{name}.stderr"));
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(&self.root)
            .stdout(Stdio::piped())
            .stderr(File::options().create(true).append(true).open(&stderr)?)
            .spawn()
            .with_context(|| format!("cannot start {} (was the backend built?)", argv[0]))?;
        let ready = wait_ready(
            &mut child,
            &format!("{} server {name}", self.spec.manifest.name),
        );
        self.servers.insert(
            name.to_owned(),
            Server {
                child,
                stderr: stderr.clone(),
            },
        );
        ready
            .map(drop)
            .map_err(|e| anyhow!("{e}\n--- stderr of {name} ---\n{}", tail_of(&stderr, 20)))
    }

    /// Waits until a probe update made at the first server is visible at every other.
    fn wait_linked(&mut self) -> anyhow::Result<()> {
        let names: Vec<String> = self.names().map(str::to_owned).collect();
        let Some(first) = names.first() else {
            return Ok(());
        };
        let probe = format!("launcher-probe-{}", std::process::id());
        let deadline = Instant::now() + LINK_TIMEOUT;
        let mut waiting: Vec<&String> = names.iter().skip(1).collect();
        while !waiting.is_empty() {
            // Sent again every round: a herd without anti-entropy only floods it over links
            // that are already up.
            let now = herd_protocol::Nanos::from_system_time(std::time::SystemTime::now());
            Client::connect(self.addr(first)?)?.iamat(
                &probe,
                "+0+0",
                &herd_protocol::message::format_client_time(now),
            )?;
            let mut still = Vec::new();
            for name in waiting {
                let reply =
                    Client::connect(self.addr(name)?).and_then(|mut c| c.whatsat(&probe, "1", 1));
                if !matches!(reply, Ok(ref r) if r.starts_with("AT ")) {
                    still.push(name);
                }
            }
            waiting = still;
            if !waiting.is_empty() {
                self.check_alive()?;
                if Instant::now() > deadline {
                    bail!(
                        "links not up after {LINK_TIMEOUT:?}: {waiting:?} never saw the probe update"
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> &Manifest {
        &self.spec.manifest
    }

    pub fn config(&self) -> &HerdConfig {
        &self.config
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The config file `name` is started with: the herd's, or its own rewritten copy when
    /// the spec has a [`PerServerConfig`] (written here, again at every restart).
    pub fn server_config_path(&self, name: &str) -> anyhow::Result<PathBuf> {
        let Some(rewrite) = &self.spec.per_server else {
            return Ok(self.config_path.clone());
        };
        let mut config = self.config.clone();
        (rewrite.0)(name, &mut config);
        let label = format!("config for {name}");
        let config = HerdConfig::parse(&config.to_toml(), &label)?;
        let path = self.dir.path().join(format!("herd-{name}.toml"));
        std::fs::write(&path, config.to_toml())?;
        Ok(path)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.config.names()
    }

    pub fn addr(&self, name: &str) -> anyhow::Result<SocketAddr> {
        self.config
            .server(name)
            .map(|s| s.addr)
            .with_context(|| format!("no server {name:?} in this herd"))
    }

    /// Process ids of the running servers.
    pub fn pids(&self) -> BTreeMap<String, u32> {
        self.servers
            .iter()
            .map(|(n, s)| (n.clone(), s.child.id()))
            .collect()
    }

    pub fn places_pid(&self) -> Option<u32> {
        self.places.as_ref().map(Child::id)
    }

    /// Errors if any server has exited, naming it with the tail of its stderr.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for (name, server) in &mut self.servers {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "server {name} exited ({status})\n--- stderr ---\n{}",
                    tail_of(&server.stderr, 20)
                );
            }
        }
        Ok(())
    }

    /// SIGKILLs one server (it keeps its port for [`Herd::restart`]).
    pub fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let server = self
            .servers
            .get_mut(name)
            .with_context(|| format!("no server {name:?}"))?;
        server.child.kill()?;
        server.child.wait()?;
        Ok(())
    }

    /// Starts a killed server again on the same port and waits until it is listening.
    pub fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        if let Some(server) = self.servers.get_mut(name)
            && server.child.try_wait()?.is_none()
        {
            bail!("server {name} is still running; kill it first");
        }
        wait_port_free(self.addr(name)?, PORT_RELEASE_TIMEOUT)?;
        self.launch(name)
    }

    /// Stops every process: SIGTERM, a bounded wait, then SIGKILL.
    pub fn stop(&mut self) {
        let pids: Vec<String> = self
            .servers
            .values()
            .map(|s| s.child.id().to_string())
            .chain(self.places.iter().map(|c| c.id().to_string()))
            .collect();
        let _ = Command::new("kill")
            .arg("-TERM")
            .args(&pids)
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        let children = self
            .servers
            .values_mut()
            .map(|s| &mut s.child)
            .chain(self.places.as_mut());
        for child in children {
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last `lines` lines of a server's stderr and of its log file (if logs are on).
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        let stderr = self
            .servers
            .get(name)
            .map(|s| tail_of(&s.stderr, lines))
            .unwrap_or_default();
        let log = self
            .spec
            .logs
            .as_ref()
            .map(|d| tail_of(&d.join(format!("{name}.log")), lines))
            .unwrap_or_default();
        format!("--- {name} stderr ---\n{stderr}\n--- {name} log ---\n{log}")
    }
}

impl Drop for Herd {
    fn drop(&mut self) {
        for server in self.servers.values_mut() {
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
        if let Some(places) = &mut self.places {
            let _ = places.kill();
            let _ = places.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_exits_at_once_is_reported_as_exited_not_as_slow() {
        let mut child = Command::new("sh")
            .args(["-c", "exit 3"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh");
        let e = wait_ready(&mut child, "test server").expect_err("it exits");
        let text = e.to_string();
        assert!(text.contains("test server exited with"), "{text}");
        assert!(text.contains('3'), "{text}");
        assert!(!text.contains("within"), "{text}");
    }

    #[test]
    fn a_restart_waits_for_the_port_and_says_when_it_never_frees() {
        let held = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = held.local_addr().expect("addr");
        let e = wait_port_free(addr, Duration::from_millis(50)).expect_err("still held");
        assert!(e.to_string().contains("still not free"), "{e}");
        drop(held);
        wait_port_free(addr, Duration::from_secs(5)).expect("free once released");
    }

    #[test]
    fn the_unreachable_places_port_is_free_and_below_the_ephemeral_range() {
        let port = unreachable_port().expect("a port");
        let low = ephemeral_low().expect("linux names its ephemeral range");
        assert!(
            port < low,
            "{port} is inside the ephemeral range from {low}"
        );
        // Nothing holds it: a fake places service can take it over.
        TcpListener::bind(("127.0.0.1", port)).expect("free");
    }
}
