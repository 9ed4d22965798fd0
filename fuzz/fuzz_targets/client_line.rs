//! The client line path: framing (`LineBuffer`) then parsing (`message::parse_line`).
//!
//! The first byte sets the size of the pieces the rest arrives in, as a socket would split
//! it. Beyond "never panics" it checks what the servers rely on: framed lines hold no `\n`
//! and respect the cap; a valid IAMAT survives formatting and reparsing, and the AT line a
//! server stores for it is one its peers accept; an invalid line is echoed exactly.
#![no_main]

use herd_protocol::message::{Command, Location, Record, iamat_line, invalid_reply, parse_line};
use herd_protocol::{LineBuffer, MAX_LINE_BYTES, Nanos};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    // A small cap as well as the real one, so the cap's edges are reachable by short inputs.
    for limit in [MAX_LINE_BYTES, 16] {
        let mut lines = LineBuffer::with_limit(limit);
        for chunk in stream.chunks(piece) {
            lines.extend(chunk);
            while let Some(line) = lines.next_line() {
                let Ok(line) = line else {
                    // The connection is closed at this point; nothing more is framed.
                    return;
                };
                assert!(!line.contains(&b'\n'), "a framed line holds a newline");
                assert!(line.len() <= limit, "a framed line is over the cap");
                check_line(line);
            }
        }
    }
    // Whatever the framing, the parser must also cope with the raw bytes.
    let _ = parse_line(stream);
});

fn check_line(line: &[u8]) {
    match parse_line(line) {
        Ok(None) => assert!(
            line.iter().all(|&b| b == b' ' || b == b'\t'),
            "only blank lines are silent"
        ),
        Ok(Some(Command::Iamat {
            client,
            location,
            time,
        })) => {
            assert!(!client.is_empty() && !client.contains([' ', '\t']));
            let again = iamat_line(client, location.as_str(), time.as_str());
            let again = again.trim_end_matches('\n');
            match parse_line(again.as_bytes()) {
                Ok(Some(Command::Iamat {
                    client: c,
                    location: l,
                    time: t,
                })) => assert_eq!(
                    (c, l.as_str(), t.nanos()),
                    (client, location.as_str(), time.nanos())
                ),
                other => panic!("canonical IAMAT {again:?} reparsed as {other:?}"),
            }
            // What a server stores and floods must be accepted by its peers, unchanged.
            let stored = Record::from_iamat("Fuzz", Nanos(0), client, location, time);
            let flooded = Record::parse(stored.line().as_bytes())
                .unwrap_or_else(|e| panic!("peers reject {:?}: {e:?}", stored.line()));
            assert_eq!(flooded, stored);
            assert_eq!(flooded.client(), client);
            assert!(Location::parse(flooded.location().as_str()).is_ok());
        }
        Ok(Some(Command::Whatsat { client, bound, .. })) => {
            assert!(!client.is_empty() && (1..=20).contains(&bound));
        }
        Ok(Some(Command::Hello { server, key })) => {
            assert!(!server.is_empty() && !key.is_empty());
        }
        Err(_) => {
            let reply = invalid_reply(line);
            assert_eq!(&reply[..2], b"? ");
            assert_eq!(&reply[2..reply.len() - 1], line);
            assert_eq!(reply.last(), Some(&b'\n'));
        }
    }
}
