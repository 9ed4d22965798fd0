//! A places service that is slow, fails, resets, or answers with broken HTTP or JSON: every
//! WHATSAT still gets its stored AT line and well-framed JSON, within the timeout.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use herd_launcher::PlacesSpec;
use serde_json::Value;

use super::fake_places::{Behaviour, FakePlaces, http, nearby_json};
use super::{Bed, TARGET, rss_kib};
use crate::{Case, Ctx};

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        pub(crate) const CASES: &[Case] = &[$(Case { name: stringify!($name), run: $name }),*];
    };
}

cases!(
    places_slower_than_timeout,
    places_real_service_slower_than_timeout,
    places_real_service_fails_half_the_time,
    places_answers_500_html,
    places_answers_500_with_its_own_status,
    places_resets_the_connection,
    places_closes_without_answering,
    places_sends_malformed_json,
    places_sends_huge_json,
    places_sends_large_json_that_is_trimmed,
    places_truncates_the_body,
    places_content_length_too_short,
    places_content_length_too_long,
    places_chunked_body,
    places_malformed_chunks,
    places_200_with_html_body,
    places_200_without_results_array,
    places_garbage_status_line,
    places_blank_lines_in_json,
    places_closes_kept_alive_connection,
    places_keeps_connection_alive,
    places_body_until_close,
);

/// Checks the framing of a WHATSAT reply about `sentinel-S00`; returns its JSON.
fn check_reply(reply: &str, bound: usize) -> anyhow::Result<Value> {
    ensure!(
        reply.starts_with(&format!("AT {TARGET} ")) && reply.contains(" sentinel-S00 "),
        "a WHATSAT reply starts with the stored AT line: {:?}",
        &reply[..reply.len().min(200)]
    );
    check_json(reply, bound)
}

/// Checks the framing every WHATSAT reply must have; returns its JSON.
fn check_json(reply: &str, bound: usize) -> anyhow::Result<Value> {
    ensure!(
        reply.ends_with("}\n\n") && reply.matches("\n\n").count() == 1,
        "the reply's only blank line is its end: {:?}",
        &reply[reply.len().saturating_sub(200)..]
    );
    let json: Value = serde_json::from_str(reply.split_once('\n').context("no JSON")?.1)?;
    let results = json["results"].as_array().context("no results array")?;
    ensure!(
        results.len() <= bound,
        "{} results for bound {bound}",
        results.len()
    );
    ensure!(json["status"].is_string(), "no status: {json}");
    Ok(json)
}

fn unknown_error(json: &Value) -> anyhow::Result<()> {
    ensure!(
        json["status"] == "UNKNOWN_ERROR"
            && json["error_message"].is_string()
            && json["results"].as_array().is_some_and(Vec::is_empty),
        "want UNKNOWN_ERROR with a message and no results: {json}"
    );
    Ok(())
}

fn ok_filled(json: &Value) -> anyhow::Result<()> {
    ensure!(
        json["status"] == "OK" && json["results"].as_array().is_some_and(|r| !r.is_empty()),
        "want OK with results: {json}"
    );
    Ok(())
}

/// Two WHATSATs on one connection (the second may reuse the places connection) against a
/// fake service behaving so; each reply is checked by `check`.
fn against(
    ctx: &Ctx,
    behaviour: Behaviour,
    timeout_ms: u64,
    check: fn(&Value) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut bed = Bed::start(ctx, PlacesSpec::Unreachable, timeout_ms)?;
    let fake = FakePlaces::take_over(&bed.herd, behaviour)?;
    let mut c = bed.connect()?;
    c.set_timeout(Duration::from_millis(2 * timeout_ms + 5_000))?;
    for bound in [3, 1] {
        let started = Instant::now();
        let reply = c.whatsat("sentinel-S00", "10", bound)?;
        let elapsed = started.elapsed();
        check(&check_reply(&reply, bound as usize)?)?;
        // One attempt plus the one permitted retry, with slack for a loaded machine.
        let limit = Duration::from_millis(2 * timeout_ms + 3_000);
        ensure!(
            elapsed < limit,
            "took {elapsed:?}; the places timeout is {timeout_ms} ms"
        );
        bed.served()?;
    }
    ensure!(
        fake.requests() > 0,
        "the fake places service was never called"
    );
    drop(fake);
    bed.finish()
}

fn places_slower_than_timeout(ctx: &Ctx) -> anyhow::Result<()> {
    against(ctx, Behaviour::Hang, 300, unknown_error)
}

fn real_service(ctx: &Ctx, latency: &str, error_rate: f64, timeout_ms: u64) -> anyhow::Result<Bed> {
    Bed::start(
        ctx,
        PlacesSpec::Service {
            latency: latency.into(),
            error_rate,
            seed: 7,
        },
        timeout_ms,
    )
}

fn places_real_service_slower_than_timeout(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = real_service(ctx, "2s", 0.0, 300)?;
    let mut c = bed.connect()?;
    let started = Instant::now();
    unknown_error(&check_reply(&c.whatsat("sentinel-S00", "10", 5)?, 5)?)?;
    ensure!(
        started.elapsed() < Duration::from_millis(1_800),
        "took {:?}",
        started.elapsed()
    );
    bed.served()?;
    bed.finish()
}

fn places_real_service_fails_half_the_time(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = real_service(ctx, "0", 0.5, 2_000)?;
    let mut c = bed.connect()?;
    // Paris, where a working service always finds places.
    let at = c.iamat("paris", "+48.8566+2.3522", &crate::time_from_now(0))?;
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..24 {
        let reply = c.whatsat("paris", "50", 4)?;
        ensure!(
            reply.starts_with(&format!("{at}\n")),
            "stored line first: {reply:?}"
        );
        let json = check_json(&reply, 4)?;
        if json["status"] == "OK" {
            ok_filled(&json)?;
            ok += 1;
        } else {
            unknown_error(&json)?;
            failed += 1;
        }
    }
    ensure!(
        ok > 0 && failed > 0,
        "{ok} OK and {failed} failed of 24 at error rate 0.5"
    );
    bed.served()?;
    bed.finish()
}

fn places_answers_500_html(ctx: &Ctx) -> anyhow::Result<()> {
    let answer = http("500 Internal Server Error", "<html>oops</html>", "");
    against(ctx, Behaviour::Answer(answer), 1_000, unknown_error)
}

fn places_answers_500_with_its_own_status(ctx: &Ctx) -> anyhow::Result<()> {
    let body = r#"{"html_attributions": [], "results": [], "status": "OVER_QUERY_LIMIT", "error_message": "slow down"}"#;
    let answer = http("500 Internal Server Error", body, "");
    against(ctx, Behaviour::Answer(answer), 1_000, |json| {
        ensure!(
            json["status"] == "OVER_QUERY_LIMIT" && json["error_message"] == "slow down",
            "the upstream's own status is passed on: {json}"
        );
        Ok(())
    })
}

fn places_resets_the_connection(ctx: &Ctx) -> anyhow::Result<()> {
    against(ctx, Behaviour::Reset, 1_000, unknown_error)
}

fn places_closes_without_answering(ctx: &Ctx) -> anyhow::Result<()> {
    against(ctx, Behaviour::Answer(Vec::new()), 1_000, unknown_error)
}

fn places_sends_malformed_json(ctx: &Ctx) -> anyhow::Result<()> {
    let answer = http("200 OK", r#"{"results": [1, 2"#, "");
    against(ctx, Behaviour::Answer(answer), 1_000, unknown_error)
}

fn places_sends_huge_json(ctx: &Ctx) -> anyhow::Result<()> {
    // About 5 MiB: over the 4 MiB body cap.
    let answer = http("200 OK", &nearby_json(30_000), "");
    ensure!(
        answer.len() > 4_500_000,
        "test setup: {} bytes",
        answer.len()
    );
    let mut bed = Bed::start(ctx, PlacesSpec::Unreachable, 2_000)?;
    let before = rss_kib(&bed.herd, TARGET)?;
    let fake = FakePlaces::take_over(&bed.herd, Behaviour::Answer(answer))?;
    let mut c = bed.connect()?;
    for _ in 0..3 {
        unknown_error(&check_reply(&c.whatsat("sentinel-S00", "10", 5)?, 5)?)?;
    }
    let after = rss_kib(&bed.herd, TARGET)?;
    ensure!(
        after < before + 64 * 1024,
        "resident memory grew from {before} KiB to {after} KiB for oversized answers"
    );
    bed.served()?;
    drop(fake);
    bed.finish()
}

fn places_sends_large_json_that_is_trimmed(ctx: &Ctx) -> anyhow::Result<()> {
    // About 1.7 MiB: under the cap, so it is parsed and cut to the bound. A debug build on
    // a loaded machine parses it slowly, hence the generous timeout.
    let answer = http("200 OK", &nearby_json(10_000), "");
    against(ctx, Behaviour::KeepAlive(answer), 10_000, ok_filled)
}

fn places_truncates_the_body(ctx: &Ctx) -> anyhow::Result<()> {
    let body = nearby_json(5);
    let mut answer = http("200 OK", &body, "");
    answer.truncate(answer.len() - body.len() / 2);
    against(ctx, Behaviour::Answer(answer), 1_000, unknown_error)
}

fn places_content_length_too_short(ctx: &Ctx) -> anyhow::Result<()> {
    let body = nearby_json(5);
    let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{body}");
    against(
        ctx,
        Behaviour::Answer(answer.into_bytes()),
        1_000,
        unknown_error,
    )
}

fn places_content_length_too_long(ctx: &Ctx) -> anyhow::Result<()> {
    let body = nearby_json(5);
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len() + 500
    );
    against(
        ctx,
        Behaviour::AnswerThenHang(answer.into_bytes()),
        400,
        unknown_error,
    )
}

fn chunked(body: &str, pieces: usize) -> String {
    let mut out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned();
    let size = body.len().div_ceil(pieces);
    for piece in body.as_bytes().chunks(size) {
        out += &format!(
            "{:x}\r\n{}\r\n",
            piece.len(),
            String::from_utf8_lossy(piece)
        );
    }
    out + "0\r\n\r\n"
}

fn places_chunked_body(ctx: &Ctx) -> anyhow::Result<()> {
    let answer = chunked(&nearby_json(8), 5);
    against(
        ctx,
        Behaviour::KeepAlive(answer.into_bytes()),
        1_000,
        ok_filled,
    )
}

fn places_malformed_chunks(ctx: &Ctx) -> anyhow::Result<()> {
    let answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n";
    against(ctx, Behaviour::Answer(answer.into()), 1_000, unknown_error)
}

fn places_200_with_html_body(ctx: &Ctx) -> anyhow::Result<()> {
    let answer = http("200 OK", "<!doctype html><p>maintenance</p>", "");
    against(ctx, Behaviour::Answer(answer), 1_000, unknown_error)
}

fn places_200_without_results_array(ctx: &Ctx) -> anyhow::Result<()> {
    let answer = http(
        "200 OK",
        r#"{"status": "OK", "results": {"not": "an array"}}"#,
        "",
    );
    against(ctx, Behaviour::Answer(answer), 1_000, unknown_error)
}

fn places_garbage_status_line(ctx: &Ctx) -> anyhow::Result<()> {
    let answer = b"HTCPCP/1.0 418 I'm a teapot\r\n\r\n{}".to_vec();
    against(ctx, Behaviour::Answer(answer), 1_000, unknown_error)
}

fn places_blank_lines_in_json(ctx: &Ctx) -> anyhow::Result<()> {
    let body = nearby_json(4)
        .replace(", ", ",\n\n\n  ")
        .replace("Somewhere", "Some\\n\\nwhere");
    let answer = http("200 OK", &body, "");
    against(ctx, Behaviour::KeepAlive(answer), 1_000, ok_filled)
}

fn places_closes_kept_alive_connection(ctx: &Ctx) -> anyhow::Result<()> {
    // Each answer leaves the connection looking kept alive, then closes it: the second
    // call must notice and retry once on a fresh connection.
    let answer = http("200 OK", &nearby_json(4), "");
    against(ctx, Behaviour::Answer(answer), 1_000, ok_filled)
}

fn places_keeps_connection_alive(ctx: &Ctx) -> anyhow::Result<()> {
    let answer = http("200 OK", &nearby_json(4), "Connection: keep-alive\r\n");
    against(ctx, Behaviour::KeepAlive(answer), 1_000, ok_filled)
}

fn places_body_until_close(ctx: &Ctx) -> anyhow::Result<()> {
    let answer = format!(
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}",
        nearby_json(4)
    );
    against(
        ctx,
        Behaviour::Answer(answer.into_bytes()),
        1_000,
        ok_filled,
    )
}
