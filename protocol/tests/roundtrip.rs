//! Properties of parsing and formatting: what is built parses back to the same thing, exact
//! numbers stay exact, and no input makes a parser panic. Inputs are generated from the
//! lexical rules of SPEC.md §2, so the valid side covers leading zeros, bounds, every
//! fraction length and non-ASCII ids, not just the handful of examples in the unit tests.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use herd_protocol::message::{Radius, iamat_line, invalid_reply, parse_line};
use herd_protocol::{
    ClientStep, Command, HerdConfig, LineBuffer, LineTooLong, MAX_LINE_BYTES, Nanos, Node, Record,
    Skew,
};
use proptest::prelude::*;

/// Modest case counts keep the whole suite within a few seconds in debug builds.
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig::with_cases(n)
}

/// A client id: any non-empty text without whitespace or control characters.
fn client_id() -> impl Strategy<Value = String> {
    prop_oneof!["[!-~]{1,16}", "[^\\s\\p{Cc}]{1,8}"]
}

/// A signed coordinate with 1..=`width` integer digits (leading zeros allowed) and 0-8
/// fraction digits, within [-max, max].
fn coordinate(width: usize, max: u32) -> impl Strategy<Value = String> {
    (any::<bool>(), 1..=width, 0..=max, "([0-9]{1,8})?").prop_map(
        move |(negative, digits, value, frac)| {
            let sign = if negative { '-' } else { '+' };
            // At the bound only a zero fraction stays in range (`+90.000` is fine).
            let frac = if value == max {
                "0".repeat(frac.len())
            } else {
                frac
            };
            let int = format!("{value:0digits$}");
            if frac.is_empty() {
                format!("{sign}{int}")
            } else {
                format!("{sign}{int}.{frac}")
            }
        },
    )
}

/// Seconds (leading zeros allowed, within u64) with 0-9 fraction digits.
fn client_time() -> impl Strategy<Value = String> {
    ("[0-9]{1,19}", "(\\.[0-9]{1,9})?").prop_map(|(secs, frac)| secs + &frac)
}

/// Exact nanoseconds of a time's text, by digit arithmetic.
fn nanos_of(text: &str) -> i128 {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: i128 = secs.parse().expect("digits");
    secs * Nanos::NANOS_PER_SEC + format!("{frac:0<9}").parse::<i128>().expect("digits")
}

/// A run of spaces and tabs; `at_least_one` for separators between fields.
fn blanks(at_least_one: bool) -> impl Strategy<Value = String> {
    let min = usize::from(at_least_one);
    proptest::collection::vec(prop_oneof![Just(' '), Just('\t')], min..4)
        .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn iamat_lines_parse_back(
        client in client_id(),
        lat in coordinate(2, 90),
        lng in coordinate(3, 180),
        time in client_time(),
    ) {
        let location = format!("{lat}{lng}");
        let line = iamat_line(&client, &location, &time);
        let parsed = parse_line(line.strip_suffix('\n').expect("newline").as_bytes());
        let Ok(Some(Command::Iamat { client: c, location: l, time: t })) = parsed else {
            panic!("{line:?} did not parse: {parsed:?}");
        };
        prop_assert_eq!((c, l.as_str(), t.as_str()), (&*client, &*location, &*time));
        prop_assert_eq!(t.nanos(), Nanos(nanos_of(&time)));
        let unsigned = |s: &str| s.strip_prefix('+').unwrap_or(s).to_owned();
        prop_assert_eq!(l.query_value(), format!("{},{}", unsigned(&lat), unsigned(&lng)));
    }

    /// Any runs of spaces and tabs between, before and after fields give the same command.
    #[test]
    fn whitespace_does_not_change_a_command(
        client in client_id(),
        time in client_time(),
        gaps in proptest::collection::vec(blanks(true), 3),
        ends in (blanks(false), blanks(false)),
    ) {
        let line = format!(
            "{}IAMAT{}{client}{}+1.5-2{}{time}{}",
            ends.0, gaps[0], gaps[1], gaps[2], ends.1
        );
        let plain = iamat_line(&client, "+1.5-2", &time);
        let plain = parse_line(plain.trim_end().as_bytes());
        prop_assert_eq!(parse_line(line.as_bytes()), plain);
    }

    #[test]
    fn records_parse_back(
        server in "[^\\s\\p{Cc}]{1,10}",
        received in any::<i64>(),
        client in client_id(),
        lat in coordinate(2, 90),
        lng in coordinate(3, 180),
        time in client_time(),
    ) {
        let location = format!("{lat}{lng}");
        let line = iamat_line(&client, &location, &time);
        let Ok(Some(Command::Iamat { client: c, location: l, time: t })) =
            parse_line(line.trim_end().as_bytes())
        else {
            panic!("{line:?} is valid");
        };
        let record = Record::from_iamat(&server, Nanos(i128::from(received)), c, l, t);
        prop_assert_eq!(Record::parse(record.line().as_bytes()), Ok(record.clone()));
        prop_assert_eq!(
            (record.server(), record.client(), record.location().as_str(), record.time()),
            (&*server, &*client, &*location, t.nanos())
        );
    }

    #[test]
    fn invalid_reply_echoes_the_exact_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let reply = invalid_reply(&bytes);
        prop_assert!(reply.starts_with(b"? "));
        prop_assert_eq!(&reply[2..], &[&bytes[..], &b"\n"[..]].concat()[..]);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_line(&bytes);
        let _ = Record::parse(&bytes);
    }

    /// Lines shaped like commands reach the field parsers, which random bytes rarely do.
    #[test]
    fn parsers_never_panic_on_command_shaped_ascii(
        verb in "IAMAT|WHATSAT|HELLO|AT|[A-Z]{1,7}",
        fields in proptest::collection::vec("[+\\-.0-9a-z]{0,12}|[!-~]{0,12}", 0..7),
    ) {
        let line = format!("{verb} {}", fields.join(" "));
        let _ = parse_line(line.as_bytes());
        let _ = Record::parse(line.as_bytes());
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// Multi-byte characters where a sign is expected once made `Location::parse` panic.
    #[test]
    fn parsers_never_panic_on_command_shaped_unicode(
        verb in "IAMAT|AT",
        fields in proptest::collection::vec("[+\\-.0-9é東]{0,8}", 0..7),
    ) {
        let line = format!("{verb} {}", fields.join(" "));
        let _ = parse_line(line.as_bytes());
        let _ = Record::parse(line.as_bytes());
    }
}

#[test]
fn a_location_starting_with_a_multibyte_character_is_invalid_not_a_panic() {
    // Through a server, as a client would send it: the reply should be `? <line>`.
    let config = HerdConfig::parse(
        "[herd]\nkey = \"k\"\n[places]\nbase_url = \"http://127.0.0.1:9\"\nkey = \"p\"\n\
         [[server]]\nname = \"A\"\naddr = \"127.0.0.1:12000\"\n",
        "one.toml",
    )
    .expect("valid");
    let mut node = Node::<()>::new(&config, "A").expect("A is in the herd");
    let line = "IAMAT kiwi é+1+1 1";
    let step = node.client_line(line.as_bytes(), Nanos(0), &mut Vec::new());
    assert!(matches!(step, ClientStep::Reply(r) if r == invalid_reply(line.as_bytes())));
    assert!(parse_line(line.as_bytes()).is_err());
    assert!(Record::parse("AT Clark +0.000000000 kiwi é+1+1 1".as_bytes()).is_err());
}

/// Lines as SPEC.md §2 and §5 define them: split at `\n`, one `\r` before it dropped, and a
/// line (without its terminator) longer than `cap` is an error that ends the stream. An
/// unterminated tail errs once it can no longer fit (`cap` bytes plus a possible `\r`).
fn spec_lines(bytes: &[u8], cap: usize) -> Vec<Result<Vec<u8>, LineTooLong>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
        if line.len() > cap {
            out.push(Err(LineTooLong { limit: cap }));
            return out;
        }
        out.push(Ok(line.to_vec()));
        rest = &rest[end + 1..];
    }
    if rest.len() > cap + 1 {
        out.push(Err(LineTooLong { limit: cap }));
    }
    out
}

/// Feeds `pieces` in turn, taking every line after each, until the first error.
fn framed<'a>(
    cap: usize,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<Result<Vec<u8>, LineTooLong>> {
    let mut buf = LineBuffer::with_limit(cap);
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend(piece);
        while let Some(line) = buf.next_line() {
            let failed = line.is_err();
            out.push(line.map(<[u8]>::to_vec));
            if failed {
                return out;
            }
        }
        // Memory stays bounded: with no error, at most a line's worth (and a `\r`) waits.
        assert!(
            buf.pending().len() <= cap + 1,
            "{} bytes held",
            buf.pending().len()
        );
    }
    out
}

/// Bytes rich in terminators, so lines of every length around a small cap appear. (Mapped
/// from plain bytes: a vector of `prop_oneof!` is many times slower to generate in debug.)
fn stream() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..300).prop_map(|bytes| {
        (bytes.into_iter())
            .map(|b| match b % 11 {
                0..=2 => b'\n',
                3 | 4 => b'\r',
                5..=8 => b'a',
                _ => b,
            })
            .collect()
    })
}

/// Lines of lengths around `cap` (CRLF or LF, any bytes but `\n`), then an unterminated
/// tail: unlike [`stream`], whose first over-long line usually ends the test early, this
/// reaches the cap check on a tail that has no newline yet.
fn lines_near_cap() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (1usize..24).prop_flat_map(|cap| {
        let line = (
            proptest::collection::vec(any::<u8>(), 0..=cap + 2),
            any::<bool>(),
        );
        let lines = proptest::collection::vec(line, 0..6);
        let tail = proptest::collection::vec(any::<u8>(), 0..=cap + 3);
        (Just(cap), lines, tail).prop_map(|(cap, lines, tail)| {
            let no_newline = |b: u8| if b == b'\n' { b'a' } else { b };
            let mut bytes = Vec::new();
            for (line, crlf) in lines {
                bytes.extend(line.into_iter().map(no_newline));
                bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
            bytes.extend(tail.into_iter().map(no_newline));
            (cap, bytes)
        })
    })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn line_buffer_frames_lines_near_the_cap_as_the_spec_says((cap, bytes) in lines_near_cap()) {
        prop_assert_eq!(framed(cap, [&bytes[..]]), spec_lines(&bytes, cap));
        // Byte by byte is the harshest split.
        prop_assert_eq!(framed(cap, bytes.chunks(1)), spec_lines(&bytes, cap));
    }

    #[test]
    fn line_buffer_ignores_how_bytes_are_split(
        bytes in stream(),
        cap in 1usize..24,
        cuts in proptest::collection::vec(0usize..300, 0..12),
    ) {
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        points.sort_unstable();
        points.push(bytes.len());
        let pieces = points.iter().scan(0, |last, &p| {
            let piece = &bytes[*last..p];
            *last = p;
            Some(piece)
        });
        prop_assert_eq!(framed(cap, pieces), framed(cap, [&bytes[..]]));
    }

    #[test]
    fn line_buffer_frames_as_the_spec_says(bytes in stream(), cap in 1usize..24) {
        prop_assert_eq!(framed(cap, [&bytes[..]]), spec_lines(&bytes, cap));
    }
}

#[test]
fn a_crlf_line_of_exactly_the_cap_is_accepted() {
    for cap in [1, 8, MAX_LINE_BYTES] {
        let line = vec![b'x'; cap];
        let mut buf = LineBuffer::with_limit(cap);
        buf.extend(&[&line[..], b"\r\n"].concat());
        assert_eq!(buf.next_line(), Some(Ok(&line[..])), "cap {cap}");
    }
}

/// Canonical decimal text: no leading zeros in the integer part (but at least `0`), no
/// trailing zeros in the fraction, no point without a fraction.
fn canonical(int: &str, frac: &str) -> String {
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    match frac.trim_end_matches('0') {
        "" => int.to_owned(),
        frac => format!("{int}.{frac}"),
    }
}

/// Generated Skew text back to nanoseconds: sign, seconds, point, nine digits.
fn parse_skew(text: &str) -> Option<i128> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'+' => (false, &text[1..]),
        b'-' => (true, &text[1..]),
        _ => return None,
    };
    let (secs, nanos) = rest.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || nanos.len() != 9 || !digits(nanos) {
        return None;
    }
    let magnitude = secs.parse::<u128>().ok()? * 1_000_000_000 + nanos.parse::<u128>().ok()?;
    // i128::MIN's magnitude does not fit an i128; wrapping negation maps it back exactly.
    let value = magnitude as i128;
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

proptest! {
    #![proptest_config(cases(256))]

    /// Radii of 0-60 km with leading zeros and up to 8 fraction digits: accepted exactly
    /// when 0 < r <= 50, and then metres are r * 1000 exactly, compared as digit strings.
    #[test]
    fn radius_in_metres_is_exactly_a_thousand_times_the_km(
        value in 0u32..=60,
        zeros in 0usize..3,
        frac in "([0-9]{1,8})?",
    ) {
        let int = format!("{}{value}", "0".repeat(zeros));
        let km = if frac.is_empty() { int.clone() } else { format!("{int}.{frac}") };
        let positive = value > 0 || frac.bytes().any(|b| b != b'0');
        let at_most_50 = value < 50 || (value == 50 && frac.bytes().all(|b| b == b'0'));
        match Radius::parse(&km) {
            Ok(radius) => {
                prop_assert!(positive && at_most_50, "{km} accepted");
                // Multiplying by 1000 moves the point three digits right.
                let padded = format!("{frac:0<3}");
                let want = canonical(&format!("{int}{}", &padded[..3]), &padded[3..]);
                let metres = radius.metres();
                let (m_int, m_frac) = metres.split_once('.').unwrap_or((metres, ""));
                prop_assert_eq!(canonical(m_int, m_frac), want, "{} km", km);
            }
            Err(e) => prop_assert!(!(positive && at_most_50), "{km} rejected: {e}"),
        }
    }

    #[test]
    fn skew_text_parses_back(n in any::<i128>()) {
        let text = Skew(n).to_string();
        prop_assert_eq!(parse_skew(&text), Some(n), "{}", text);
        prop_assert_eq!(text.starts_with('-'), n < 0);
    }
}

/// One server of a generated herd: name, address and neighbour indices.
type Server = (String, SocketAddr, BTreeSet<usize>);

/// A TOML string literal (quotes and escapes done by the toml crate).
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A valid herd: 1-8 servers with odd but valid names, distinct non-zero ports on IPv4 or
/// IPv6, any symmetric set of links, keys with characters TOML must escape, and sometimes
/// an explicit timeout and limits section.
fn herd() -> impl Strategy<Value = (String, Vec<Server>)> {
    let name = "[^\\s\\p{Cc}]{1,6}";
    let ip = prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
    ];
    let key = prop_oneof!["\\PC{0,12}", "[\"\\\\\t\n\u{7f}'#=]{1,6}"];
    let limits = proptest::option::of((0..=i64::MAX, 0..=i64::MAX, 0..=i64::MAX));
    (1usize..=8)
        .prop_flat_map(move |n| {
            (
                proptest::collection::vec((name, ip.clone()), n),
                1u16..=(u16::MAX - 8),
                proptest::collection::vec((0..n, 0..n), 0..=n * 2),
                (key.clone(), key.clone()),
                proptest::option::of(0..=i64::MAX),
                limits.clone(),
            )
        })
        .prop_map(|(hosts, port, links, (herd_key, places_key), timeout, limits)| {
            let n = hosts.len();
            let mut servers: Vec<Server> = (hosts.into_iter().enumerate())
                // `#i` at the end keeps names distinct whatever the generated prefix.
                .map(|(i, (name, ip))| (format!("{name}#{i}"), SocketAddr::new(ip, port + i as u16), BTreeSet::new()))
                .collect();
            for (a, b) in links.into_iter().filter(|(a, b)| a != b && *a < n && *b < n) {
                servers[a].2.insert(b);
                servers[b].2.insert(a);
            }
            let mut text = format!(
                "[herd]\nkey = {}\n\n[places]\nbase_url = \"http://127.0.0.1:8090/prefix\"\nkey = {}\n",
                quoted(&herd_key),
                quoted(&places_key)
            );
            if let Some(ms) = timeout {
                text += &format!("timeout_ms = {ms}\n");
            }
            if let Some((clients, connections, queue)) = limits {
                text += &format!("\n[limits]\nmax_clients = {clients}\nmax_connections = {connections}\npeer_queue = {queue}\n");
            }
            for (name, addr, neighbours) in &servers {
                let list: Vec<String> = neighbours.iter().map(|&j| quoted(&servers[j].0)).collect();
                text += &format!(
                    "\n[[server]]\nname = {}\naddr = {}\nneighbours = [{}]\n",
                    quoted(name),
                    quoted(&addr.to_string()),
                    list.join(", ")
                );
            }
            (text, servers)
        })
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn configs_round_trip_through_toml((text, servers) in herd()) {
        let config = HerdConfig::parse(&text, "gen.toml")
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        // What was generated is what was read...
        for (s, (name, addr, neighbours)) in config.servers.iter().zip(&servers) {
            let want: BTreeSet<&str> = neighbours.iter().map(|&j| servers[j].0.as_str()).collect();
            prop_assert_eq!((&s.name, &s.addr), (name, addr));
            prop_assert_eq!(s.neighbours.iter().map(String::as_str).collect::<BTreeSet<_>>(), want);
        }
        prop_assert_eq!(config.servers.len(), servers.len());
        // ...and writing it out reads back the same.
        let again = config.to_toml();
        prop_assert_eq!(HerdConfig::parse(&again, "again.toml"), Ok(config), "{}", again);
    }
}
