//! Hostile clients and a hostile upstream: every case ends in a defined reply or a clean
//! close, with other clients still served and no stored location lost.
//!
//! Each case runs on a [`Bed`]: a two-server line herd (`S00 - S01`; hostility is aimed at
//! `S00`) with a sentinel location stored at each server before the case starts. [`Bed::finish`]
//! then checks what "harmed no one" means: both processes alive, fresh connections served,
//! every sentinel still held by every server exactly as stored, and a new update at `S00`
//! still flooding to `S01`. Two servers keep the cost of a case low; the flooding cases of
//! the main suite cover the five-server shape.

mod bytes;
mod crowds;
mod fake_places;
mod slow;
mod upstream;

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, ensure};
use herd_launcher::{Client, Herd, HerdSpec, PlacesSpec, line};
use herd_protocol::client::Expect;

use crate::{Case, Ctx, eventually, time_from_now};

/// Every hostile case, in a stable order.
pub(crate) fn cases() -> Vec<Case> {
    [bytes::CASES, slow::CASES, crowds::CASES, upstream::CASES].concat()
}

/// Cases that fail today because of a server bug or a missing feature outside this suite:
/// (backend or `*` for all, case, how it fails, why). They still run every time: while they
/// fail they are reported as ignored with this reason and the failure. One that fails
/// [`Gap::Always`] fails the run once it passes, until its entry is removed here; one that
/// shows only [`Gap::UnderLoad`] may pass. docs/RELIABILITY.md tells each story.
const KNOWN_GAPS: &[(&str, &str, Gap, &str)] = &[];

/// How reliably a known gap shows. No case is a known gap today (every gap found so far is
/// fixed; docs/RELIABILITY.md keeps their stories); the runner keeps the rule for the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub(crate) enum Gap {
    /// Fails every run.
    Always,
    /// Fails in some runs, depending on timing and load.
    UnderLoad,
}

/// How and why `case` is a known gap for `backend`, if it is one.
pub(crate) fn known_gap(backend: &str, case: &str) -> Option<(Gap, &'static str)> {
    KNOWN_GAPS
        .iter()
        .find(|(b, c, _, _)| (*b == "*" || *b == backend) && *c == case)
        .map(|(_, _, gap, why)| (*gap, *why))
}

/// The server every case attacks, and its one neighbour.
pub(crate) const TARGET: &str = "S00";
pub(crate) const OTHER: &str = "S01";
const FLOOD_LIMIT: Duration = Duration::from_secs(10);

/// A two-server herd with sentinels stored, and a polite client kept connected to the target.
pub(crate) struct Bed {
    pub herd: Herd,
    /// (client id, the AT line stored for it).
    sentinels: Vec<(String, String)>,
    polite: Client,
    polite_count: u64,
}

impl Bed {
    /// Starts the herd with this places service (and timeout) and stores the sentinels.
    pub fn start(ctx: &Ctx, places: PlacesSpec, places_timeout_ms: u64) -> anyhow::Result<Bed> {
        Self::start_with(ctx, places, places_timeout_ms, |_| {})
    }

    /// Like [`Bed::start`], letting the caller adjust the spec (e.g. the launch command).
    pub fn start_with(
        ctx: &Ctx,
        places: PlacesSpec,
        places_timeout_ms: u64,
        adjust: impl FnOnce(&mut HerdSpec),
    ) -> anyhow::Result<Bed> {
        let mut spec = HerdSpec::new(ctx.manifest.clone(), line(2), ctx.profile);
        spec.places = places;
        spec.places_timeout_ms = places_timeout_ms;
        adjust(&mut spec);
        let herd = Herd::start(&ctx.root, spec)?;
        Self::around(herd)
    }

    /// Stores a sentinel at each server of a started herd and waits until both hold both.
    pub fn around(herd: Herd) -> anyhow::Result<Bed> {
        let time = time_from_now(-1);
        let mut sentinels = Vec::new();
        for server in [TARGET, OTHER] {
            let client = format!("sentinel-{server}");
            let at = Client::connect(herd.addr(server)?)?.iamat(&client, "+12.5-45.25", &time)?;
            sentinels.push((client, at));
        }
        let polite = Client::connect(herd.addr(TARGET)?)?;
        let bed = Bed {
            herd,
            sentinels,
            polite,
            polite_count: 0,
        };
        eventually(FLOOD_LIMIT, "both servers hold both sentinels", || {
            bed.sentinels_held()
        })?;
        Ok(bed)
    }

    pub fn addr(&self) -> anyhow::Result<SocketAddr> {
        self.herd.addr(TARGET)
    }

    /// A fresh connection to the target.
    pub fn connect(&self) -> anyhow::Result<Client> {
        Ok(Client::connect(self.addr()?)?)
    }

    /// The polite client, connected before the case began, must get its reply now.
    pub fn served(&mut self) -> anyhow::Result<()> {
        self.polite_count += 1;
        let client = format!("polite{}", self.polite_count);
        let reply = self
            .polite
            .iamat(&client, "+1+1", &time_from_now(0))
            .context("the polite client was not served")?;
        ensure!(
            reply.starts_with(&format!("AT {TARGET} ")) && reply.contains(&client),
            "the polite client got {reply:?}"
        );
        Ok(())
    }

    fn sentinels_held(&self) -> anyhow::Result<bool> {
        for server in [TARGET, OTHER] {
            for (client, at) in &self.sentinels {
                if held(&self.herd, server, client)?.as_deref() != Some(at.as_str()) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The case's epilogue: nobody else was harmed and nothing stored was lost.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.herd.check_alive()?;
        self.served()?;
        for server in [TARGET, OTHER] {
            let reply = Client::connect(self.herd.addr(server)?)?.iamat(
                "newcomer",
                "+2+2",
                &time_from_now(0),
            )?;
            ensure!(
                reply.starts_with(&format!("AT {server} ")),
                "a new connection to {server} got {reply:?}"
            );
            for (client, at) in &self.sentinels {
                let now = held(&self.herd, server, client)?;
                ensure!(
                    now.as_deref() == Some(at.as_str()),
                    "{server} lost the stored location of {client}: holds {now:?}, stored {at:?}"
                );
            }
        }
        let time = time_from_now(0);
        let at = self.connect()?.iamat("after", "+3+3", &time)?;
        eventually(FLOOD_LIMIT, "an update after the case still floods", || {
            Ok(held(&self.herd, OTHER, "after")?.as_deref() == Some(at.as_str()))
        })?;
        self.herd.check_alive()
    }
}

/// The AT line `server` holds for `client`, if any (the first line of a WHATSAT reply).
pub(crate) fn held(herd: &Herd, server: &str, client: &str) -> anyhow::Result<Option<String>> {
    let reply = Client::connect(herd.addr(server)?)?.whatsat(client, "1", 1)?;
    Ok(reply
        .starts_with("AT ")
        .then(|| reply.lines().next().unwrap_or_default().to_owned()))
}

/// Writes `bytes` one byte per write, checking between bytes that the polite client is
/// served: a half-sent line must hold up no one else.
pub(crate) fn trickle(bed: &mut Bed, c: &mut Client, bytes: &[u8]) -> anyhow::Result<()> {
    for (i, b) in bytes.iter().enumerate() {
        c.send(std::slice::from_ref(b))?;
        if i % 8 == 0 {
            bed.served()?;
        }
    }
    Ok(())
}

/// The next reply line, newline included.
pub(crate) fn line_reply(c: &mut Client) -> anyhow::Result<Vec<u8>> {
    Ok(c.reply(Expect::Line)?)
}

/// Checks `reply` is `? <line>\n`.
pub(crate) fn ensure_echo(reply: &[u8], line: &[u8]) -> anyhow::Result<()> {
    let mut want = b"? ".to_vec();
    want.extend_from_slice(line);
    want.push(b'\n');
    ensure!(
        reply == want,
        "for {:?} got {:?}",
        String::from_utf8_lossy(&line[..line.len().min(200)]),
        String::from_utf8_lossy(&reply[..reply.len().min(200)])
    );
    Ok(())
}

/// Resident memory of the target server, in KiB.
pub(crate) fn rss_kib(herd: &Herd, server: &str) -> anyhow::Result<u64> {
    let pid = herd.pids()[server];
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

/// Open file descriptors of a server process.
pub(crate) fn open_fds(herd: &Herd, server: &str) -> anyhow::Result<usize> {
    let pid = herd.pids()[server];
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// Reads until the server closes; errors if it does not within the client's timeout.
pub(crate) fn ensure_closed(c: &mut Client, what: &str) -> anyhow::Result<()> {
    ensure!(
        c.is_closed(),
        "{what}: the server must close the connection"
    );
    Ok(())
}

/// Drains whatever is readable until end of stream, returning it.
pub(crate) fn read_to_close(c: &Client) -> anyhow::Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut stream = c.stream();
    stream.read_to_end(&mut all)?;
    Ok(all)
}
