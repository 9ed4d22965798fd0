//! Clients that do not keep up or do not stay: never reading, leaving mid-reply, half-closing.

use std::io::ErrorKind;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use herd_launcher::{Client, PlacesSpec};
use herd_protocol::client::Expect;

use super::fake_places::{Behaviour, FakePlaces};
use super::{Bed, TARGET, read_to_close, rss_kib};
use crate::{Case, Ctx, eventually, time_from_now};

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        pub(crate) const CASES: &[Case] = &[$(Case { name: stringify!($name), run: $name }),*];
    };
}

cases!(
    non_reader_of_echoes_is_bounded,
    non_reader_of_at_replies_is_bounded,
    non_reader_is_dropped,
    leaves_mid_whatsat_reply,
    leaves_while_places_call_is_pending,
    leaves_mid_pipeline,
    half_close_still_gets_every_reply,
);

/// Most a client may push at a server that stopped reading before the test calls it unbounded.
const PUSH_CAP: usize = 256 << 20;

/// Writes `unit` over and over without reading, until a write stalls. Returns the bytes
/// written. A server that queued without bound would let this run to [`PUSH_CAP`].
fn push_until_stalled(c: &Client, unit: &[u8]) -> anyhow::Result<usize> {
    c.set_timeout(Duration::from_millis(1_500))?;
    let batch = unit.repeat((64 * 1024 / unit.len()).max(1));
    let mut sent = 0;
    let mut stream = c.stream();
    while sent < PUSH_CAP {
        match std::io::Write::write(&mut stream, &batch) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(sent);
            }
            Err(e) => return Err(e).context("the non-reading client's connection failed"),
        }
    }
    anyhow::bail!("the server kept reading {PUSH_CAP} bytes from a client that never reads")
}

fn non_reader(ctx: &Ctx, unit: &[u8]) -> anyhow::Result<()> {
    let mut bed = Bed::start(ctx, PlacesSpec::Unreachable, 1_000)?;
    let before = rss_kib(&bed.herd, TARGET)?;
    let hog = bed.connect()?;
    push_until_stalled(&hog, unit)?;
    bed.served()?;
    let after = rss_kib(&bed.herd, TARGET)?;
    ensure!(
        after < before + 64 * 1024,
        "resident memory grew from {before} KiB to {after} KiB for one client that never reads"
    );
    drop(hog);
    bed.finish()
}

fn non_reader_of_echoes_is_bounded(ctx: &Ctx) -> anyhow::Result<()> {
    let mut unit = b"BOGUS ".to_vec();
    unit.resize(1_000, b'q');
    unit.push(b'\n');
    non_reader(ctx, &unit)
}

fn non_reader_of_at_replies_is_bounded(ctx: &Ctx) -> anyhow::Result<()> {
    non_reader(
        ctx,
        format!("IAMAT hog +1+1 {}\n", time_from_now(0)).as_bytes(),
    )
}

/// How long a server may keep a connection whose replies nobody reads.
const DROP_LIMIT: Duration = Duration::from_secs(15);

/// Whether the server still holds its end of the connection `client` has open to it:
/// its socket in the kernel's TCP table is still ESTABLISHED (a server that closed it
/// leaves it in a FIN state, or gone).
/// `ends` is (the client's address, the server's), taken while connected: once the server
/// resets the connection the client's socket no longer knows its peer.
fn server_end_open(ends: (std::net::SocketAddr, std::net::SocketAddr)) -> anyhow::Result<bool> {
    let (ours, theirs) = ends;
    let hex = |a: std::net::SocketAddr| match a {
        std::net::SocketAddr::V4(v4) => {
            format!(
                "{:08X}:{:04X}",
                u32::from_le_bytes(v4.ip().octets()),
                v4.port()
            )
        }
        std::net::SocketAddr::V6(_) => String::new(),
    };
    let (local, remote) = (hex(theirs), hex(ours));
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    Ok(table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1] == local && f[2] == remote && f[3] == "01"
    }))
}

fn non_reader_is_dropped(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = Bed::start(ctx, PlacesSpec::Unreachable, 1_000)?;
    let hog = bed.connect()?;
    let ends = (hog.stream().local_addr()?, hog.stream().peer_addr()?);
    push_until_stalled(&hog, b"BOGUS never-read\n")?;
    ensure!(
        server_end_open(ends)?,
        "test setup: the server's end is not found"
    );
    bed.served()?;
    eventually(
        DROP_LIMIT,
        "the server drops a client that never reads",
        || Ok(!server_end_open(ends)?),
    )?;
    drop(hog);
    bed.finish()
}

fn leaves_mid_whatsat_reply(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = Bed::start(
        ctx,
        PlacesSpec::Service {
            latency: "0".into(),
            error_rate: 0.0,
            seed: 1,
        },
        5_000,
    )?;
    let mut first = bed.connect()?;
    first.iamat("paris", "+48.8566+2.3522", &time_from_now(0))?;
    for _ in 0..20 {
        let mut c = bed.connect()?;
        c.send(b"WHATSAT paris 50 20\nWHATSAT paris 50 20\n")?;
        // Wait for the reply to start, take a little of it, and leave with the rest unread
        // (the kernel answers the rest with a reset).
        let mut some = [0; 64];
        ensure!(
            std::io::Read::read(&mut c.stream(), &mut some)? > 0,
            "no reply started"
        );
        drop(c);
        bed.served()?;
    }
    let reply = first.whatsat("paris", "50", 20)?;
    ensure!(
        reply.ends_with("}\n\n"),
        "a full reply still arrives: {reply:?}"
    );
    bed.finish()
}

fn leaves_while_places_call_is_pending(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = Bed::start(ctx, PlacesSpec::Unreachable, 500)?;
    let fake = FakePlaces::take_over(&bed.herd, Behaviour::Hang)?;
    for i in 0..10 {
        let mut c = bed.connect()?;
        c.send(b"WHATSAT sentinel-S00 10 5\n")?;
        // Leave only once the call is under way.
        eventually(Duration::from_secs(5), "the places call starts", || {
            Ok(fake.requests() > i)
        })?;
        drop(c);
        bed.served()?;
    }
    bed.finish()
}

fn leaves_mid_pipeline(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = Bed::start(ctx, PlacesSpec::Unreachable, 1_000)?;
    let time = time_from_now(0);
    for round in 0..20 {
        let c = bed.connect()?;
        let mut batch = String::new();
        for i in 0..200 {
            batch +=
                &format!("IAMAT pipe{round}-{i} +1+1 {time}\nWHATSAT sentinel-S01 5 2\nBOGUS\n");
        }
        std::io::Write::write_all(&mut c.stream(), batch.as_bytes())?;
        if round % 2 == 0 {
            c.stream().shutdown(Shutdown::Both)?;
        }
        drop(c);
        bed.served()?;
    }
    bed.finish()
}

fn half_close_still_gets_every_reply(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = Bed::start(ctx, PlacesSpec::Unreachable, 1_000)?;
    let mut c = bed.connect()?;
    let time = time_from_now(0);
    let mut batch = String::new();
    for i in 0..20 {
        batch += &format!("IAMAT half{i} +1+1 {time}\n");
    }
    batch += "WHATSAT half19 1 1\n";
    c.send(batch.as_bytes())?;
    c.stream().shutdown(Shutdown::Write)?;
    let started = Instant::now();
    for i in 0..20 {
        let reply = String::from_utf8(c.reply(Expect::Line)?)?;
        ensure!(
            reply.contains(&format!(" half{i} ")),
            "reply {i}: {reply:?}"
        );
    }
    let last = String::from_utf8(c.reply(Expect::Whatsat)?)?;
    ensure!(
        last.ends_with("}\n\n"),
        "the WHATSAT is answered after the half-close: {last:?}"
    );
    let rest = read_to_close(&c)?;
    ensure!(rest.is_empty(), "nothing after the last reply: {rest:?}");
    ensure!(
        started.elapsed() < Duration::from_secs(10),
        "the server closed its side"
    );
    bed.finish()
}
