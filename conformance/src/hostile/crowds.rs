//! Many connections: thousands at once, past `limits.max_connections`, past the
//! file-descriptor limit.
//!
//! The launcher cannot set limits, so cases that need one either rewrite the target's
//! config and restart it (`max_connections`) or wrap its launch command in `sh -c 'ulimit
//! -n N; exec ...'` (the descriptor limit): both through the launcher's public API.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use herd_launcher::{Client, Herd, HerdSpec, PlacesSpec, line};
use herd_protocol::client::Expect;
use herd_protocol::message::{BUSY_REPLY, iamat_line};

use super::{Bed, OTHER, TARGET, held, open_fds, read_to_close};
use crate::{Case, Ctx, eventually, time_from_now};

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        pub(crate) const CASES: &[Case] = &[$(Case { name: stringify!($name), run: $name }),*];
    };
}

cases!(
    two_thousand_connections_at_once,
    connection_storm_that_vanishes_leaks_nothing,
    past_max_connections_gets_busy_line,
    served_again_once_connections_close,
    refusals_do_not_leak_slots,
    past_fd_limit_then_served_again,
    at_fd_limit_links_keep_flooding,
    at_fd_limit_server_does_not_spin,
);

fn two_thousand_connections_at_once(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = Bed::start(ctx, PlacesSpec::Unreachable, 1_000)?;
    let time = time_from_now(0);
    let mut crowd = Vec::with_capacity(2_000);
    for i in 0..2_000 {
        let mut c = bed.connect().with_context(|| format!("connection {i}"))?;
        c.send(iamat_line(&format!("crowd{i}"), "+1+1", &time).as_bytes())?;
        crowd.push(c);
    }
    bed.served()?;
    for (i, c) in crowd.iter_mut().enumerate() {
        let reply = String::from_utf8(c.reply(Expect::Line)?)?;
        ensure!(
            reply.contains(&format!(" crowd{i} ")),
            "connection {i}: {reply:?}"
        );
    }
    drop(crowd);
    bed.finish()
}

fn connection_storm_that_vanishes_leaks_nothing(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = Bed::start(ctx, PlacesSpec::Unreachable, 1_000)?;
    let baseline = open_fds(&bed.herd, TARGET)?;
    for i in 0..1_000 {
        let mut c = bed.connect()?;
        match i % 3 {
            0 => {}
            1 => c.send(b"IAMAT half-a-li")?,
            _ => c.send(format!("IAMAT gone{i} +1+1 {}\n", time_from_now(0)).as_bytes())?,
        }
    }
    bed.served()?;
    eventually(
        Duration::from_secs(10),
        "the server closes every vanished connection",
        || Ok(open_fds(&bed.herd, TARGET)? <= baseline + 2),
    )?;
    bed.finish()
}

/// A herd whose target allows `max` connections.
fn limited(ctx: &Ctx, max: usize) -> anyhow::Result<Bed> {
    let spec = HerdSpec {
        places: PlacesSpec::Unreachable,
        places_timeout_ms: 1_000,
        ..HerdSpec::new(ctx.manifest.clone(), line(2), ctx.profile)
    };
    let mut herd = Herd::start(&ctx.root, spec)?;
    let mut config = herd.config().clone();
    config.limits.max_connections = max;
    herd.kill(TARGET)?;
    std::fs::write(herd.config_path(), config.to_toml())?;
    herd.restart(TARGET)?;
    Bed::around(herd)
}

enum Admission {
    Served(Client),
    Busy,
}

/// Opens one connection: served (it answers an IAMAT) or refused with the busy line.
fn admit(bed: &Bed, i: usize) -> anyhow::Result<Admission> {
    let mut c = bed.connect()?;
    c.send(iamat_line(&format!("held{i}"), "+1+1", &time_from_now(0)).as_bytes())?;
    let reply = c.reply(Expect::Line)?;
    if reply == BUSY_REPLY {
        let rest = read_to_close(&c).unwrap_or_default();
        ensure!(
            rest.is_empty(),
            "the busy line is followed by a close, got {rest:?}"
        );
        return Ok(Admission::Busy);
    }
    ensure!(
        reply.starts_with(b"AT "),
        "want an AT reply or the busy line: {:?}",
        String::from_utf8_lossy(&reply)
    );
    Ok(Admission::Served(c))
}

/// Fills the target to its limit: holds connections until the next is refused with exactly
/// `max - 1` held (the polite client has the last slot). Slots of connections the case
/// closed just before may take a moment to free, hence the retry.
fn fill(bed: &Bed, max: usize, held: &mut Vec<Client>) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match admit(bed, held.len())? {
            Admission::Served(c) => {
                ensure!(
                    held.len() + 1 < max,
                    "served a connection past max_connections = {max}"
                );
                held.push(c);
            }
            Admission::Busy if held.len() + 1 == max => return Ok(()),
            Admission::Busy => ensure!(
                Instant::now() < deadline,
                "refused at {} open connections, the limit is {max}",
                held.len() + 1
            ),
        }
    }
}

const MAX: usize = 24;

fn past_max_connections_gets_busy_line(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = limited(ctx, MAX)?;
    let mut held = Vec::new();
    fill(&bed, MAX, &mut held)?;
    for i in 0..20 {
        ensure!(
            matches!(admit(&bed, 100 + i)?, Admission::Busy),
            "refused again"
        );
    }
    bed.served()?;
    for (i, c) in held.iter_mut().enumerate() {
        let reply = c.iamat(&format!("held{i}"), "+2+2", &time_from_now(0))?;
        ensure!(
            reply.starts_with("AT "),
            "held connection {i} still served: {reply:?}"
        );
    }
    drop(held);
    bed.finish()
}

fn served_again_once_connections_close(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = limited(ctx, MAX)?;
    let mut held = Vec::new();
    fill(&bed, MAX, &mut held)?;
    held.truncate(held.len() - 5);
    // Exactly the five freed slots come back.
    fill(&bed, MAX, &mut held)?;
    bed.served()?;
    drop(held);
    bed.finish()
}

fn refusals_do_not_leak_slots(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = limited(ctx, MAX)?;
    let mut held = Vec::new();
    fill(&bed, MAX, &mut held)?;
    for i in 0..300 {
        // Refused connections that also send a line, or leave at once.
        let mut c = bed.connect()?;
        if i % 2 == 0 {
            let _ = c.send(b"IAMAT x +1+1 1\n");
        }
    }
    held.clear();
    fill(&bed, MAX, &mut held)?;
    drop(held);
    bed.finish()
}

/// Open descriptors allowed to each server in the fd-limit cases.
const NOFILE: usize = 64;

/// A herd whose servers run with `ulimit -n NOFILE`, and a crowd of connections to the
/// target far past it.
struct AtLimit {
    bed: Bed,
    /// Accepted and answered.
    served: Vec<Client>,
    /// Queued in the kernel's backlog for want of a descriptor, with their index.
    pending: Vec<(usize, Client)>,
}

fn at_fd_limit(ctx: &Ctx) -> anyhow::Result<AtLimit> {
    let bed = Bed::start_with(
        ctx,
        PlacesSpec::Unreachable,
        1_000,
        |spec: &mut HerdSpec| {
            let script = format!("ulimit -n {NOFILE} && exec \"$0\" \"$@\"");
            let mut launch = vec!["sh".to_owned(), "-c".to_owned(), script];
            launch.append(&mut spec.manifest.launch);
            spec.manifest.launch = launch;
        },
    )?;
    let time = time_from_now(0);
    let mut crowd = Vec::new();
    for i in 0..NOFILE + 40 {
        let mut c = bed.connect()?;
        c.send(iamat_line(&format!("fd{i}"), "+1+1", &time).as_bytes())?;
        crowd.push((i, c));
    }
    // Accepted connections answer at once; the first that does not is waiting for a slot.
    let mut served = Vec::new();
    let mut rest = crowd.into_iter();
    let mut pending = Vec::new();
    for (i, c) in rest.by_ref() {
        c.set_timeout(Duration::from_millis(2_000))?;
        let mut c = c;
        match c.reply(Expect::Line) {
            Ok(reply) => {
                ensure!(
                    reply.starts_with(b"AT "),
                    "fd{i}: {:?}",
                    String::from_utf8_lossy(&reply)
                );
                served.push(c);
            }
            Err(_) => {
                pending.push((i, c));
                break;
            }
        }
    }
    pending.extend(rest);
    ensure!(
        !served.is_empty(),
        "with `ulimit -n {NOFILE}` not even the first new connection was served"
    );
    ensure!(
        !pending.is_empty(),
        "with `ulimit -n {NOFILE}`, {} of {} connections were served: the limit did not bite",
        served.len(),
        NOFILE + 40
    );
    Ok(AtLimit {
        bed,
        served,
        pending,
    })
}

fn past_fd_limit_then_served_again(ctx: &Ctx) -> anyhow::Result<()> {
    let AtLimit {
        mut bed,
        served,
        pending,
    } = at_fd_limit(ctx)?;
    bed.served().context("at the limit")?;
    drop(served);
    // Once descriptors are free, a connection that waited is either served or was refused
    // with a clean close (libuv, for one, sheds connections it cannot accept); none hangs.
    let mut answered = 0;
    for (i, mut c) in pending {
        c.set_timeout(Duration::from_secs(10))?;
        match c.reply(Expect::Line) {
            Ok(reply) => {
                let reply = String::from_utf8(reply)?;
                ensure!(reply.contains(&format!(" fd{i} ")), "fd{i}: {reply:?}");
                answered += 1;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
                ) => {}
            Err(e) => anyhow::bail!("fd{i} was left hanging after the others closed: {e}"),
        }
    }
    // And new connections are served again, once the server has seen the others close
    // (until then a refusal is fine, as above).
    let time = time_from_now(0);
    eventually(
        Duration::from_secs(10),
        "a new connection is served again",
        || {
            Ok(bed
                .connect()?
                .iamat("again", "+1+1", &time)
                .is_ok_and(|r| r.starts_with("AT ")))
        },
    )?;
    for i in 0..NOFILE {
        let reply = bed
            .connect()?
            .iamat(&format!("again{i}"), "+1+1", &time)
            .with_context(|| format!("new connection again{i}, after the crowd left"))?;
        ensure!(
            reply.starts_with("AT "),
            "again{i} after {answered} waiting ones were served: {reply:?}"
        );
    }
    bed.finish()
}

fn at_fd_limit_links_keep_flooding(ctx: &Ctx) -> anyhow::Result<()> {
    let AtLimit {
        mut bed,
        mut served,
        pending,
    } = at_fd_limit(ctx)?;
    // Updates cross the existing link in both directions while the target is out of
    // descriptors: at the target over a held connection, at the neighbour directly.
    let time = time_from_now(0);
    let at_target = served[0].iamat("from-target", "+4+4", &time)?;
    let at_other = Client::connect(bed.herd.addr(OTHER)?)?.iamat("from-other", "+5+5", &time)?;
    eventually(
        Duration::from_secs(10),
        "the neighbour learns the update",
        || Ok(held(&bed.herd, OTHER, "from-target")?.as_deref() == Some(at_target.as_str())),
    )?;
    // The target's own view can only be asked over a held connection.
    eventually(
        Duration::from_secs(10),
        "the target learns the neighbour's update",
        || {
            let reply = served[0].whatsat("from-other", "1", 1)?;
            Ok(reply.lines().next() == Some(at_other.as_str()))
        },
    )?;
    bed.served()?;
    drop((served, pending));
    bed.finish()
}

/// CPU time (user + system) of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').context("bad stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); index from the state field (3).
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

fn at_fd_limit_server_does_not_spin(ctx: &Ctx) -> anyhow::Result<()> {
    let AtLimit {
        mut bed,
        served,
        pending,
    } = at_fd_limit(ctx)?;
    bed.served()?;
    let pid = bed.herd.pids()[TARGET];
    let (start, ticks) = (Instant::now(), cpu_ticks(pid)?);
    // A measuring window, not synchronisation: nothing is asked of the server meanwhile,
    // so the CPU it uses is what waiting for descriptors costs.
    std::thread::sleep(Duration::from_secs(1));
    let used = (cpu_ticks(pid)? - ticks) as f64 / 100.0;
    let share = used / start.elapsed().as_secs_f64();
    ensure!(
        share < 0.25,
        "idle with connections waiting for a descriptor, the server used {:.0}% of a core ({used:.2} s CPU in {:.2} s): it retries accept in a busy loop",
        share * 100.0,
        start.elapsed().as_secs_f64()
    );
    bed.served()?;
    drop((served, pending));
    bed.finish()
}
