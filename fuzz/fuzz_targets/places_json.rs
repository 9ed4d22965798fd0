//! Turning a places answer into a WHATSAT reply (`PlacesCall::finish`): JSON trimming.
//!
//! Input: one byte for the bound, one for the HTTP status, the rest is the body. Every
//! reply must be the stored AT line, then JSON that parses, holds a `results` array of at
//! most `bound` entries and a string `status`, and ends the reply with its only blank line.
//! A non-200 answer never yields "OK".
#![no_main]

use herd_protocol::message::{Command, Record, parse_line};
use herd_protocol::places::Endpoint;
use herd_protocol::{HttpResponse, Nanos, PlacesConfig, PlacesFailure, PlacesUrl};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const STATUSES: [u16; 8] = [200, 200, 200, 500, 404, 403, 204, 302];

fuzz_target!(|data: &[u8]| {
    let [bound, status, body @ ..] = data else {
        return;
    };
    let bound = u32::from(*bound % 20) + 1;
    let status = STATUSES[usize::from(*status) % STATUSES.len()];
    let endpoint = Endpoint::new(&PlacesConfig {
        base_url: PlacesUrl::parse("http://127.0.0.1:9/prefix").expect("a valid URL"),
        key: "k".into(),
        timeout_ms: 1_000,
    });
    let Ok(Some(Command::Whatsat { radius, .. })) = parse_line(b"WHATSAT c 10 5") else {
        panic!("fixed WHATSAT");
    };
    let Ok(Some(Command::Iamat {
        client,
        location,
        time,
    })) = parse_line(b"IAMAT c +34.068930-118.445127 1621464827.959498503")
    else {
        panic!("fixed IAMAT");
    };
    let record = Record::from_iamat("S", Nanos(0), client, location, time);
    let call = endpoint.call(&record, &radius, bound);
    assert!(
        call.request()
            .starts_with(b"GET /prefix/maps/api/place/nearbysearch/json?")
    );

    let ok = call.finish(Ok(HttpResponse {
        status,
        body: body.to_vec(),
        keep_alive: true,
    }));
    let json = check_reply(&ok, &record, bound);
    if status != 200 {
        assert_ne!(json["status"], "OK", "HTTP {status} must not read as OK");
    }
    let message = String::from_utf8_lossy(body).into_owned();
    let failed = call.finish(Err(PlacesFailure::Malformed(message)));
    let json = check_reply(&failed, &record, bound);
    assert_eq!(json["status"], "UNKNOWN_ERROR");
});

fn check_reply(reply: &[u8], record: &Record, bound: u32) -> Value {
    let rest = reply
        .strip_prefix(&record.wire()[..])
        .expect("the reply starts with the stored AT line");
    assert!(rest.ends_with(b"}\n\n"), "reply ends with a blank line");
    let blank = rest.windows(2).filter(|w| w == b"\n\n").count();
    assert_eq!(blank, 1, "exactly one blank line, at the end");
    let json: Value = serde_json::from_slice(rest).expect("reply JSON parses");
    let results = json["results"].as_array().expect("a results array");
    assert!(results.len() <= bound as usize, "bound {bound} exceeded");
    assert!(json["status"].is_string(), "a string status");
    json
}
