//! Properties of parsing and formatting: what is built parses back to the same thing, and no
//! input makes a parser panic.

use herd_protocol::message::{Radius, iamat_line, invalid_reply, parse_line};
use herd_protocol::{Command, HerdConfig, LineBuffer, Nanos, Record, Skew};
use proptest::prelude::*;

fn coordinate(max_int_digits: usize, max: u32) -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        0..=max,
        0..=max_int_digits.saturating_sub(1),
        proptest::collection::vec(0u8..10, 0..=8),
    )
        .prop_map(move |(negative, int, _, frac)| {
            // At the maximum the fraction must be zero to stay in range.
            let frac: String = frac
                .iter()
                .map(|d| {
                    if int == max {
                        '0'
                    } else {
                        char::from(b'0' + d)
                    }
                })
                .collect();
            let sign = if negative { '-' } else { '+' };
            if frac.is_empty() {
                format!("{sign}{int}")
            } else {
                format!("{sign}{int}.{frac}")
            }
        })
}

fn client_id() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._@:/-]{1,20}|[\\p{L}]{1,8}"
}

fn client_time() -> impl Strategy<Value = String> {
    (
        0u64..4_000_000_000,
        proptest::option::of(proptest::collection::vec(0u8..10, 1..=9)),
    )
        .prop_map(|(secs, frac)| match frac {
            Some(d) => format!(
                "{secs}.{}",
                d.iter().map(|d| char::from(b'0' + d)).collect::<String>()
            ),
            None => secs.to_string(),
        })
}

proptest! {
    #[test]
    fn iamat_lines_parse_back(client in client_id(), lat in coordinate(2, 90), lng in coordinate(3, 180), time in client_time()) {
        let location = format!("{lat}{lng}");
        let line = iamat_line(&client, &location, &time);
        let parsed = parse_line(line.trim_end().as_bytes());
        let Ok(Some(Command::Iamat { client: c, location: l, time: t })) = parsed else {
            panic!("{line:?} did not parse: {parsed:?}");
        };
        prop_assert_eq!((c, l.as_str(), t.as_str()), (client.as_str(), location.as_str(), time.as_str()));
        let record = Record::from_iamat("S", Nanos(1_700_000_000_000_000_000), c, l, t);
        prop_assert_eq!(Record::parse(record.line().as_bytes()), Ok(record.clone()));
    }

    #[test]
    fn parse_line_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_line(&bytes);
        let _ = Record::parse(&bytes);
    }

    #[test]
    fn invalid_reply_echoes_exactly(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let reply = invalid_reply(&bytes);
        prop_assert!(reply.starts_with(b"? ") && reply.ends_with(b"\n"));
        prop_assert_eq!(&reply[2..reply.len() - 1], &bytes[..]);
    }

    #[test]
    fn line_buffer_is_independent_of_how_bytes_arrive(
        bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()], 0..300),
        cuts in proptest::collection::vec(0usize..300, 0..10),
    ) {
        let collect = |pieces: Vec<&[u8]>| {
            let mut buf = LineBuffer::with_limit(16);
            let mut out = Vec::new();
            'feed: for piece in pieces {
                buf.extend(piece);
                while let Some(line) = buf.next_line() {
                    match line {
                        Ok(l) => out.push(Ok(l.to_vec())),
                        Err(e) => { out.push(Err(e)); break 'feed; }
                    }
                }
            }
            out
        };
        let whole = collect(vec![&bytes[..]]);
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points.into_iter().chain([bytes.len()]) {
            pieces.push(&bytes[last..p]);
            last = p;
        }
        let split = collect(pieces);
        // Splitting may only reveal an over-long line earlier, never change a line.
        let agreed = whole.iter().zip(&split).take_while(|(a, b)| a == b).count();
        prop_assert!(agreed == whole.len().min(split.len()), "{:?} vs {:?}", whole, split);
        if whole.len() != split.len() {
            prop_assert!(whole.last().is_some_and(Result::is_err) || split.last().is_some_and(Result::is_err));
        }
    }

    #[test]
    fn radius_metres_are_exactly_a_thousand_times_the_km(int in 0u32..=50, frac in proptest::collection::vec(0u8..10, 0..6)) {
        let frac: String = frac.iter().map(|d| char::from(b'0' + d)).collect();
        let km = if frac.is_empty() { int.to_string() } else { format!("{int}.{frac}") };
        let value_milli: f64 = km.parse::<f64>().unwrap_or(0.0);
        match Radius::parse(&km) {
            Ok(r) => {
                // Compare digit strings: metres == km with the point moved three places.
                let digits = |s: &str| -> (u128, u32) {
                    let (i, f) = s.split_once('.').unwrap_or((s, ""));
                    (format!("{i}{f}").parse().unwrap_or(0), f.len() as u32)
                };
                let (m, m_scale) = digits(r.metres());
                let (k, k_scale) = digits(&km);
                // m / 10^m_scale == 1000 * k / 10^k_scale, cross-multiplied to stay in integers.
                prop_assert_eq!(m * 10u128.pow(k_scale), 1000 * k * 10u128.pow(m_scale));
            }
            Err(_) => prop_assert!(value_milli == 0.0 || value_milli > 50.0),
        }
    }

    #[test]
    fn skew_text_parses_back(n in any::<i64>()) {
        let text = Skew(i128::from(n)).to_string();
        let (sign, rest) = text.split_at(1);
        let (secs, nanos) = rest.split_once('.').expect("point");
        prop_assert_eq!(nanos.len(), 9);
        let magnitude: i128 = secs.parse::<i128>().expect("secs") * 1_000_000_000 + nanos.parse::<i128>().expect("nanos");
        prop_assert_eq!(if sign == "-" { -magnitude } else { magnitude }, i128::from(n));
        prop_assert!(sign == "+" || sign == "-");
    }

    #[test]
    fn configs_round_trip(n in 2usize..12, extra in proptest::collection::vec((0usize..12, 0usize..12), 0..10)) {
        let mut links: std::collections::BTreeSet<(usize, usize)> = (1..n).map(|i| (i - 1, i)).collect();
        links.extend(extra.into_iter().filter(|(a, b)| a < b && *b < n));
        let mut text = String::from("[herd]\nkey = \"k\"\n[places]\nbase_url = \"http://127.0.0.1:9\"\nkey = \"p\"\n");
        for i in 0..n {
            let ns: Vec<String> = links.iter().filter_map(|&(a, b)| if a == i { Some(b) } else if b == i { Some(a) } else { None }).map(|j| format!("\"S{j}\"")).collect();
            text += &format!("[[server]]\nname = \"S{i}\"\naddr = \"127.0.0.1:{}\"\nneighbours = [{}]\n", 30_000 + i, ns.join(", "));
        }
        let config = HerdConfig::parse(&text, "gen").expect("generated configs are valid");
        prop_assert_eq!(HerdConfig::parse(&config.to_toml(), "again"), Ok(config));
    }
}
