//! Valid commands: reply formats, WHATSAT bodies, pipelining.

use anyhow::{Context, ensure};
use herd_launcher::Client;
use herd_protocol::client::Expect;
use herd_protocol::message::{iamat_line, whatsat_line};
use serde_json::Value;

use crate::{Case, Ctx, time_from_now};

pub(crate) const CASES: &[Case] = &[
    Case {
        name: "iamat_reply_fields_and_skew_sign",
        run: iamat_reply,
    },
    Case {
        name: "whatsat_bound_radius_and_framing",
        run: whatsat_reply,
    },
    Case {
        name: "pipelined_commands_answered_in_order",
        run: pipelined,
    },
];

/// Splits `AT server skew client location time` and checks the skew's shape.
pub(crate) fn at_fields(line: &str) -> anyhow::Result<Vec<&str>> {
    let f: Vec<&str> = line.split(' ').collect();
    ensure!(f.len() == 6 && f[0] == "AT", "not an AT line: {line:?}");
    let skew = f[2];
    let (int, frac) = skew[1..].split_once('.').context("skew has no fraction")?;
    ensure!(
        skew.starts_with(['+', '-'])
            && !int.is_empty()
            && frac.len() == 9
            && (int.to_owned() + frac).bytes().all(|b| b.is_ascii_digit()),
        "skew {skew:?} needs a sign and nine fractional digits"
    );
    Ok(f)
}

fn iamat_reply(ctx: &Ctx) -> anyhow::Result<()> {
    let herd = ctx.herd_with(herd_launcher::PlacesSpec::Unreachable, 1_000)?;
    let mut c = Client::connect(herd.addr("Clark")?)?;
    let past = time_from_now(-100);
    let reply = c.iamat("kiwi.cs.ucla.edu", "+34.068930-118.445127", &past)?;
    let f = at_fields(&reply)?;
    ensure!(
        f[1] == "Clark"
            && f[3] == "kiwi.cs.ucla.edu"
            && f[4] == "+34.068930-118.445127"
            && f[5] == past,
        "fields not echoed: {reply}"
    );
    ensure!(
        f[2].starts_with('+'),
        "a client time in the past gives a positive skew: {reply}"
    );
    let future = time_from_now(100);
    let reply = c.iamat("kiwi.cs.ucla.edu", "+34-118", &future)?;
    ensure!(
        at_fields(&reply)?[2].starts_with('-'),
        "a client time in the future gives a negative skew: {reply}"
    );
    Ok(())
}

fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let h = ((p2 - p1) / 2.0).sin().powi(2)
        + p1.cos() * p2.cos() * ((b.1 - a.1).to_radians() / 2.0).sin().powi(2);
    2.0 * 6371.0088 * h.sqrt().asin()
}

/// Checks a whole WHATSAT reply; returns its JSON.
pub(crate) fn check_whatsat(
    reply: &str,
    at_line: &str,
    centre: (f64, f64),
    radius_km: f64,
    bound: usize,
) -> anyhow::Result<Value> {
    ensure!(
        reply.ends_with("}\n\n") && reply.matches("\n\n").count() == 1,
        "reply must end with exactly one blank line: {reply:?}"
    );
    let (first, json) = reply.split_once('\n').context("no newline")?;
    ensure!(
        first == at_line,
        "reply starts with {first:?}, want the stored {at_line:?}"
    );
    let body: Value = serde_json::from_str(json).context("WHATSAT body is not JSON")?;
    let results = body["results"].as_array().context("no results array")?;
    ensure!(
        results.len() <= bound,
        "{} results for bound {bound}",
        results.len()
    );
    for r in results {
        let at = (
            r["geometry"]["location"]["lat"].as_f64(),
            r["geometry"]["location"]["lng"].as_f64(),
        );
        let (Some(lat), Some(lng)) = at else {
            anyhow::bail!("result without geometry: {r}")
        };
        let d = haversine_km(centre, (lat, lng));
        ensure!(
            d <= radius_km * 1.001 + 0.01,
            "{} is {d:.3} km away, radius {radius_km} km",
            r["name"]
        );
    }
    Ok(body)
}

fn whatsat_reply(ctx: &Ctx) -> anyhow::Result<()> {
    let herd = ctx.herd()?;
    let mut c = Client::connect(herd.addr("Bernard")?)?;
    let at = c.iamat("w1", "+48.8566+2.3522", &time_from_now(0))?;
    for (radius, bound) in [("10", 20), ("10", 1), ("0.5", 5), ("50", 20)] {
        let reply = c.whatsat("w1", radius, bound)?;
        let body = check_whatsat(
            &reply,
            &at,
            (48.8566, 2.3522),
            radius.parse()?,
            bound as usize,
        )?;
        ensure!(
            body["status"] == "OK",
            "Paris has places within {radius} km: {body}"
        );
        if radius == "50" {
            ensure!(
                body["results"].as_array().map(Vec::len) == Some(20),
                "bound 20 near Paris fills up"
            );
        }
    }
    Ok(())
}

fn pipelined(ctx: &Ctx) -> anyhow::Result<()> {
    let herd = ctx.herd()?;
    let mut c = Client::connect(herd.addr("Jaquez")?)?;
    let time = time_from_now(0);
    let mut batch = String::new();
    let mut expect = Vec::new();
    for i in 0..50 {
        match i % 3 {
            0 => {
                batch += &iamat_line(&format!("p{i}"), "+34-118", &time);
                expect.push((Expect::Line, "AT Jaquez".to_owned()));
            }
            1 => {
                batch += &whatsat_line(&format!("p{}", i - 1), "5", 2);
                expect.push((Expect::Whatsat, "AT Jaquez".to_owned()));
            }
            _ => {
                batch += &format!("BOGUS {i}\n");
                expect.push((Expect::Line, format!("? BOGUS {i}")));
            }
        }
    }
    c.send(batch.as_bytes())?;
    for (i, (kind, start)) in expect.into_iter().enumerate() {
        let reply = String::from_utf8(c.reply(kind)?)?;
        ensure!(
            reply.starts_with(&start),
            "reply {i} out of order: {reply:?}, want {start:?}..."
        );
        if i % 3 != 2 {
            ensure!(
                reply.contains(&format!(" p{} ", i - i % 3)),
                "reply {i} is for another client: {reply:?}"
            );
        }
    }
    Ok(())
}
