//! A failing places service, clients that misbehave, and many connections at once.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use herd_launcher::{Client, PlacesSpec};
use herd_protocol::message::whatsat_line;

use crate::{Case, Ctx, time_from_now};

pub(crate) const CASES: &[Case] = &[
    Case {
        name: "places_unreachable_gives_unknown_error",
        run: places_unreachable,
    },
    Case {
        name: "places_slow_times_out_as_unknown_error",
        run: places_slow,
    },
    Case {
        name: "places_errors_give_non_ok_status",
        run: places_failing,
    },
    Case {
        name: "abandoning_and_non_reading_clients_harm_no_one",
        run: rude_clients,
    },
    Case {
        name: "hundreds_of_connections_at_once",
        run: many_connections,
    },
];

fn status_of(reply: &str) -> anyhow::Result<String> {
    ensure!(
        reply.ends_with("}\n\n"),
        "WHATSAT reply must end with a blank line even on failure: {reply:?}"
    );
    let json: serde_json::Value =
        serde_json::from_str(reply.split_once('\n').context("no JSON")?.1)?;
    ensure!(
        json["results"].as_array().is_some(),
        "results array missing: {json}"
    );
    Ok(json["status"].as_str().unwrap_or_default().to_owned())
}

fn places_failure(
    ctx: &Ctx,
    places: PlacesSpec,
    timeout_ms: u64,
    within: Duration,
) -> anyhow::Result<()> {
    let herd = ctx.herd_with(places, timeout_ms)?;
    let mut c = Client::connect(herd.addr("Clark")?)?;
    c.iamat("fails", "+34-118", &time_from_now(0))?;
    let started = Instant::now();
    let status = status_of(&c.whatsat("fails", "10", 5)?)?;
    ensure!(
        status != "OK" && !status.is_empty(),
        "a failed places call must give a non-OK status, got {status:?}"
    );
    ensure!(
        started.elapsed() < within,
        "took {:?}; the places timeout is {timeout_ms} ms",
        started.elapsed()
    );
    let reply = c.iamat("fails", "+1+1", &time_from_now(0))?;
    ensure!(
        reply.starts_with("AT Clark "),
        "the server keeps serving: {reply}"
    );
    Ok(())
}

fn places_unreachable(ctx: &Ctx) -> anyhow::Result<()> {
    places_failure(ctx, PlacesSpec::Unreachable, 1_000, Duration::from_secs(5))
}

fn places_slow(ctx: &Ctx) -> anyhow::Result<()> {
    let slow = PlacesSpec::Service {
        latency: "3s".into(),
        error_rate: 0.0,
        seed: 1,
    };
    // The launcher's own link probe goes through the slow service too, hence its timeout.
    places_failure(ctx, slow, 300, Duration::from_millis(2_500))
}

fn places_failing(ctx: &Ctx) -> anyhow::Result<()> {
    places_failure(
        ctx,
        PlacesSpec::Service {
            latency: "0".into(),
            error_rate: 1.0,
            seed: 1,
        },
        1_000,
        Duration::from_secs(5),
    )
}

fn rude_clients(ctx: &Ctx) -> anyhow::Result<()> {
    let herd = ctx.herd()?;
    let addr = herd.addr("Bernard")?;
    Client::connect(addr)?.iamat("rude", "+48.8566+2.3522", &time_from_now(0))?;
    let burst = whatsat_line("rude", "50", 20).repeat(2_000);
    // One asks for a lot and hangs up at once; one asks for a lot and never reads.
    let mut abandoner = Client::connect(addr)?;
    abandoner.send(burst.as_bytes())?;
    drop(abandoner);
    let silent = Client::connect(addr)?;
    silent.set_timeout(Duration::from_secs(2))?;
    let mut silent = silent;
    let _ = silent.send(burst.as_bytes());
    for i in 0..5 {
        let reply =
            Client::connect(addr)?.iamat(&format!("polite{i}"), "+1+1", &time_from_now(0))?;
        ensure!(
            reply.starts_with("AT Bernard "),
            "others are still served: {reply}"
        );
    }
    drop(silent);
    Ok(())
}

fn many_connections(ctx: &Ctx) -> anyhow::Result<()> {
    let herd = ctx.herd_with(PlacesSpec::Unreachable, 1_000)?;
    let addr = herd.addr("Jaquez")?;
    let mut open: Vec<Client> = (0..300)
        .map(|_| Client::connect(addr))
        .collect::<Result<_, _>>()?;
    let time = time_from_now(0);
    for (i, c) in open.iter_mut().enumerate() {
        c.send(herd_protocol::message::iamat_line(&format!("crowd{i}"), "+1+1", &time).as_bytes())?;
    }
    for (i, c) in open.iter_mut().enumerate() {
        let reply = String::from_utf8(c.reply(herd_protocol::client::Expect::Line)?)?;
        ensure!(
            reply.starts_with("AT Jaquez ") && reply.contains(&format!(" crowd{i} ")),
            "connection {i}: {reply:?}"
        );
    }
    // Still accepting after all of that.
    ensure!(TcpStream::connect(addr).is_ok(), "server stopped accepting");
    Ok(())
}
