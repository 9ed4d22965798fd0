//! Flooding between servers, stale updates, and catching up after a restart.

use std::time::Duration;

use anyhow::ensure;
use herd_launcher::{Client, Herd, PlacesSpec};

use crate::{Case, Ctx, eventually, time_from_now};

pub(crate) const CASES: &[Case] = &[
    Case {
        name: "iamat_at_clark_visible_at_johnson",
        run: flood,
    },
    Case {
        name: "stale_iamat_does_not_replace_newer",
        run: stale,
    },
    Case {
        name: "restarted_server_catches_up",
        run: restart,
    },
];

const FLOOD_LIMIT: Duration = Duration::from_secs(10);

/// The AT line `server` holds for `client`, if any.
fn held(herd: &Herd, server: &str, client: &str) -> anyhow::Result<Option<String>> {
    let reply = Client::connect(herd.addr(server)?)?.whatsat(client, "1", 1)?;
    Ok(reply
        .starts_with("AT ")
        .then(|| reply.lines().next().unwrap_or_default().to_owned()))
}

fn holds_time(herd: &Herd, server: &str, client: &str, time: &str) -> anyhow::Result<bool> {
    Ok(held(herd, server, client)?.is_some_and(|line| line.ends_with(&format!(" {time}"))))
}

fn flood(ctx: &Ctx) -> anyhow::Result<()> {
    let herd = ctx.herd_with(PlacesSpec::Unreachable, 1_000)?;
    let time = time_from_now(0);
    let at =
        Client::connect(herd.addr("Clark")?)?.iamat("flooded", "+34.068930-118.445127", &time)?;
    eventually(
        FLOOD_LIMIT,
        "Johnson learns of an IAMAT made at Clark",
        || Ok(held(&herd, "Johnson", "flooded")?.as_deref() == Some(at.as_str())),
    )
}

fn stale(ctx: &Ctx) -> anyhow::Result<()> {
    let herd = ctx.herd_with(PlacesSpec::Unreachable, 1_000)?;
    let (newer, older) = (time_from_now(0), time_from_now(-60));
    Client::connect(herd.addr("Bernard")?)?.iamat("stale", "+10+10", &newer)?;
    eventually(FLOOD_LIMIT, "Clark learns the newer location", || {
        holds_time(&herd, "Clark", "stale", &newer)
    })?;
    let reply = Client::connect(herd.addr("Clark")?)?.iamat("stale", "+20+20", &older)?;
    ensure!(
        reply.starts_with("AT Clark "),
        "a stale IAMAT still gets its reply: {reply}"
    );
    // Give the stale update every chance to spread (it must not), then look everywhere.
    Client::connect(herd.addr("Juzang")?)?.iamat("marker", "+1+1", &time_from_now(0))?;
    eventually(FLOOD_LIMIT, "a later update reaches Johnson", || {
        Ok(held(&herd, "Johnson", "marker")?.is_some())
    })?;
    for server in herd.names() {
        ensure!(
            holds_time(&herd, server, "stale", &newer)?,
            "{server} replaced the newer location with a stale one"
        );
    }
    Ok(())
}

fn restart(ctx: &Ctx) -> anyhow::Result<()> {
    let mut herd = ctx.herd_with(PlacesSpec::Unreachable, 1_000)?;
    let first = time_from_now(-10);
    Client::connect(herd.addr("Clark")?)?.iamat("mover", "+1+1", &first)?;
    eventually(FLOOD_LIMIT, "Juzang learns the first location", || {
        holds_time(&herd, "Juzang", "mover", &first)
    })?;
    // Juzang links Bernard, Clark and Johnson; with it gone, the rest must keep serving.
    herd.kill("Juzang")?;
    let second = time_from_now(0);
    let reply = Client::connect(herd.addr("Clark")?)?.iamat("mover", "+2+2", &second)?;
    ensure!(
        reply.starts_with("AT Clark "),
        "Clark keeps serving with a neighbour down: {reply}"
    );
    Client::connect(herd.addr("Johnson")?)?.iamat("while-down", "+3+3", &second)?;
    eventually(
        FLOOD_LIMIT,
        "Bernard learns updates made while Juzang is down",
        || {
            Ok(holds_time(&herd, "Bernard", "mover", &second)?
                && holds_time(&herd, "Bernard", "while-down", &second)?)
        },
    )?;
    herd.restart("Juzang")?;
    let names: Vec<String> = herd.names().map(str::to_owned).collect();
    eventually(
        FLOOD_LIMIT,
        "every server holds the newest location of every client after the restart",
        || {
            for server in &names {
                if !holds_time(&herd, server, "mover", &second)?
                    || !holds_time(&herd, server, "while-down", &second)?
                {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )
}
