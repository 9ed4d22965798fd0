//! Parsing and formatting of every line on the wire.
//!
//! Parsers borrow from the received line so the hot path allocates nothing until a reply is
//! built. Client fields that the protocol echoes (client id, location, client time) are kept
//! as the exact text received; their numeric meaning is computed alongside.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

use crate::time::Nanos;

pub const IAMAT: &str = "IAMAT";
pub const WHATSAT: &str = "WHATSAT";
pub const AT: &str = "AT";
pub const HELLO: &str = "HELLO";

/// Largest WHATSAT bound and radius (km) the protocol accepts.
pub const MAX_BOUND: u32 = 20;
pub const MAX_RADIUS_KM: u64 = 50;

/// Why a line is not a valid command. Clients always get `? <line>` back; the reason is for
/// logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("line holds a NUL or control byte")]
    ControlByte,
    #[error("line is not UTF-8")]
    NotUtf8,
    #[error("unknown verb")]
    UnknownVerb,
    /// A known verb where another was expected (e.g. an IAMAT on a peer link).
    #[error("expected a {expected} line")]
    WrongVerb { expected: &'static str },
    #[error("{verb} takes {expected} fields")]
    FieldCount { verb: &'static str, expected: usize },
    #[error("bad location: {0}")]
    Location(&'static str),
    #[error("bad client time: {0}")]
    Time(&'static str),
    #[error("bad skew: {0}")]
    Skew(&'static str),
    #[error("bad radius: {0}")]
    Radius(&'static str),
    #[error("bad bound: {0}")]
    Bound(&'static str),
    #[error("AT lines come only from peer servers")]
    AtFromClient,
}

/// A command parsed from one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    Iamat {
        client: &'a str,
        location: Location<'a>,
        time: ClientTime<'a>,
    },
    Whatsat {
        client: &'a str,
        radius: Radius,
        bound: u32,
    },
    /// A peer server opening a link: `HELLO <server> <key>`.
    Hello { server: &'a str, key: &'a str },
}

/// Parses one line (terminator already removed). `Ok(None)` means a blank line, which gets
/// no reply at all.
pub fn parse_line(line: &[u8]) -> Result<Option<Command<'_>>, Invalid> {
    let text = checked_text(line)?;
    let (count, f) = split_fields::<4>(text);
    if count == 0 {
        return Ok(None);
    }
    let expect = |verb: &'static str, expected: usize| {
        if count == expected {
            Ok(())
        } else {
            Err(Invalid::FieldCount { verb, expected })
        }
    };
    let command = match f[0] {
        IAMAT => {
            expect(IAMAT, 4)?;
            Command::Iamat {
                client: f[1],
                location: Location::parse(f[2])?,
                time: ClientTime::parse(f[3])?,
            }
        }
        WHATSAT => {
            expect(WHATSAT, 4)?;
            Command::Whatsat {
                client: f[1],
                radius: Radius::parse(f[2])?,
                bound: parse_bound(f[3])?,
            }
        }
        HELLO => {
            expect(HELLO, 3)?;
            Command::Hello {
                server: f[1],
                key: f[2],
            }
        }
        AT => return Err(Invalid::AtFromClient),
        _ => return Err(Invalid::UnknownVerb),
    };
    Ok(Some(command))
}

/// Rejects control bytes (other than tab) and non-UTF-8, per the lexical rules.
fn checked_text(line: &[u8]) -> Result<&str, Invalid> {
    // Checking bytes first gives the clearer reason for ASCII control bytes.
    if line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(Invalid::ControlByte);
    }
    let text = std::str::from_utf8(line).map_err(|_| Invalid::NotUtf8)?;
    // C1 controls (U+0080..U+009F) are control characters too, just multi-byte in UTF-8.
    if !text.is_ascii() && text.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Invalid::ControlByte);
    }
    Ok(text)
}

/// Splits on runs of spaces and tabs. Returns the field count (which may exceed `N`, in
/// which case only the first `N` are kept) without allocating.
fn split_fields<const N: usize>(text: &str) -> (usize, [&str; N]) {
    let mut fields = [""; N];
    let mut count = 0;
    for field in text.split([' ', '\t']).filter(|f| !f.is_empty()) {
        if count < N {
            fields[count] = field;
        }
        count += 1;
    }
    (count, fields)
}

/// Splits `digits[.digits]` text into its integer and fraction parts, both non-empty digit
/// runs (the fraction may be absent). No signs, no exponent.
fn decimal_parts(s: &str) -> Option<(&str, &str)> {
    let (int, frac) = match s.split_once('.') {
        Some((int, frac)) if !frac.is_empty() => (int, frac),
        Some(_) => return None,
        None => (s, ""),
    };
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    (!int.is_empty() && all_digits(int) && all_digits(frac)).then_some((int, frac))
}

/// True when `int.frac` is at most `max` (an integer), compared exactly on the text.
fn within(int: &str, frac: &str, max: u64) -> bool {
    let int_value =
        int.trim_start_matches('0')
            .parse::<u64>()
            .unwrap_or(if int.bytes().all(|b| b == b'0') {
                0
            } else {
                u64::MAX
            });
    int_value < max || (int_value == max && frac.bytes().all(|b| b == b'0'))
}

/// An ISO 6709 location such as `+34.068930-118.445127`, kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location<'a> {
    text: &'a str,
    /// Where the longitude's sign starts.
    split: usize,
}

impl<'a> Location<'a> {
    pub fn parse(text: &'a str) -> Result<Location<'a>, Invalid> {
        // Skip the latitude's sign by character, not byte: the field may start with
        // anything a client sends, multi-byte characters included.
        let first = text.chars().next().map_or(0, char::len_utf8);
        let split = text[first..]
            .find(['+', '-'])
            .map(|i| i + first)
            .ok_or(Invalid::Location(
                "expected a signed latitude then a signed longitude",
            ))?;
        check_coordinate(&text[..split], 2, 90, "latitude")?;
        check_coordinate(&text[split..], 3, 180, "longitude")?;
        Ok(Location { text, split })
    }

    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// `lat,lng` as a places query wants it: decimal degrees, no `+`.
    pub fn query_value(&self) -> String {
        let strip = |s: &'a str| s.strip_prefix('+').unwrap_or(s);
        format!(
            "{},{}",
            strip(&self.text[..self.split]),
            strip(&self.text[self.split..])
        )
    }
}

fn check_coordinate(
    text: &str,
    max_int_digits: usize,
    max: u64,
    what: &'static str,
) -> Result<(), Invalid> {
    let bad = |_| Invalid::Location(what);
    let unsigned = text
        .strip_prefix(['+', '-'])
        .ok_or(Invalid::Location("each coordinate needs a sign"))?;
    let (int, frac) = decimal_parts(unsigned).ok_or(()).map_err(bad)?;
    if int.len() > max_int_digits || !within(int, frac, max) {
        return Err(Invalid::Location(match what {
            "latitude" => "latitude must be within [-90, 90] with 1-2 integer digits",
            _ => "longitude must be within [-180, 180] with 1-3 integer digits",
        }));
    }
    Ok(())
}

/// A client's POSIX time, as received and as exact nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTime<'a> {
    text: &'a str,
    nanos: Nanos,
}

impl<'a> ClientTime<'a> {
    pub fn parse(text: &'a str) -> Result<ClientTime<'a>, Invalid> {
        let (int, frac) = decimal_parts(text)
            .ok_or(Invalid::Time("expected digits with an optional fraction"))?;
        if frac.len() > 9 {
            return Err(Invalid::Time("at most nine fractional digits"));
        }
        let secs: u64 = int
            .parse()
            .map_err(|_| Invalid::Time("seconds out of range"))?;
        let mut nanos = i128::from(secs) * Nanos::NANOS_PER_SEC;
        if !frac.is_empty() {
            let digits: i128 = frac.parse().map_err(|_| Invalid::Time("bad fraction"))?;
            nanos += digits * 10i128.pow(9 - frac.len() as u32);
        }
        Ok(ClientTime {
            text,
            nanos: Nanos(nanos),
        })
    }

    pub fn as_str(&self) -> &'a str {
        self.text
    }

    pub fn nanos(&self) -> Nanos {
        self.nanos
    }
}

/// A WHATSAT radius, kept as the exact number of metres in decimal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Radius {
    metres: String,
}

impl Radius {
    pub fn parse(text: &str) -> Result<Radius, Invalid> {
        let (int, frac) = decimal_parts(text)
            .ok_or(Invalid::Radius("expected digits with an optional fraction"))?;
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        if zero(int) && zero(frac) {
            return Err(Invalid::Radius("must be greater than 0"));
        }
        if !within(int, frac, MAX_RADIUS_KM) {
            return Err(Invalid::Radius("must be at most 50 km"));
        }
        // km -> m is a shift of the decimal point by three places, done on the text.
        let mut digits = format!("{int}{frac}");
        while digits.len() < int.len() + 3 {
            digits.push('0');
        }
        let (whole, rest) = digits.split_at(int.len() + 3);
        let whole = whole.trim_start_matches('0');
        let rest = rest.trim_end_matches('0');
        let mut metres = if whole.is_empty() { "0" } else { whole }.to_owned();
        if !rest.is_empty() {
            metres.push('.');
            metres.push_str(rest);
        }
        Ok(Radius { metres })
    }

    /// Metres as decimal text, e.g. `10000` for 10 km or `500` for 0.5 km.
    pub fn metres(&self) -> &str {
        &self.metres
    }
}

fn parse_bound(text: &str) -> Result<u32, Invalid> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::Bound("expected an integer"));
    }
    match text.parse::<u32>() {
        Ok(n @ 1..=MAX_BOUND) => Ok(n),
        _ => Err(Invalid::Bound("must be from 1 to 20")),
    }
}

/// A stored location: the `AT` line a server made for a client's IAMAT, exactly as flooded
/// and as replayed to WHATSAT. Cheap to clone; the wire bytes are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The AT line including its `\n`.
    wire: Arc<[u8]>,
    client: Range<usize>,
    location: Range<usize>,
    location_split: usize,
    time: Nanos,
}

impl Record {
    /// The record a server makes for an IAMAT it received.
    pub fn from_iamat(
        server: &str,
        received: Nanos,
        client: &str,
        location: Location<'_>,
        time: ClientTime<'_>,
    ) -> Record {
        let skew = received.skew_since(time.nanos());
        let mut line = String::with_capacity(
            16 + server.len() + client.len() + location.as_str().len() + time.as_str().len(),
        );
        let _ = write!(line, "{AT} {server} {skew} ");
        let client_start = line.len();
        line.push_str(client);
        let client = client_start..line.len();
        line.push(' ');
        let location_start = line.len();
        line.push_str(location.as_str());
        let location_range = location_start..line.len();
        line.push(' ');
        line.push_str(time.as_str());
        line.push('\n');
        Record {
            wire: Arc::from(line.into_bytes()),
            client,
            location: location_range,
            location_split: location.split,
            time: time.nanos(),
        }
    }

    /// Parses an `AT` line from a peer (or, in a client, a reply), validating every field.
    pub fn parse(line: &[u8]) -> Result<Record, Invalid> {
        let text = checked_text(line)?;
        let (count, f) = split_fields::<7>(text);
        if f[0] != AT {
            return Err(if matches!(f[0], IAMAT | WHATSAT | HELLO) {
                Invalid::WrongVerb { expected: AT }
            } else {
                Invalid::UnknownVerb
            });
        }
        if count != 6 {
            return Err(Invalid::FieldCount {
                verb: AT,
                expected: 6,
            });
        }
        check_skew(f[2])?;
        let location = Location::parse(f[4])?;
        let time = ClientTime::parse(f[5])?;
        // Rebuild in canonical spacing so stored lines are identical whatever the sender's
        // whitespace; offsets then follow from field lengths.
        // Joined by hand: this runs on every flood hop, stale ones included, and `format!`
        // was a quarter or more of the parse (docs/PERFORMANCE.md).
        let mut canonical = Vec::with_capacity(f.iter().map(|s| s.len() + 1).sum());
        for (i, field) in f[..6].iter().enumerate() {
            if i > 0 {
                canonical.push(b' ');
            }
            canonical.extend_from_slice(field.as_bytes());
        }
        canonical.push(b'\n');
        let client_start = AT.len() + f[1].len() + f[2].len() + 3;
        let client = client_start..client_start + f[3].len();
        let location_range = client.end + 1..client.end + 1 + f[4].len();
        Ok(Record {
            wire: Arc::from(canonical),
            client,
            location: location_range,
            location_split: location.split,
            time: time.nanos(),
        })
    }

    /// The line with its newline, ready to send.
    pub fn wire(&self) -> &Arc<[u8]> {
        &self.wire
    }

    /// The line without its newline.
    pub fn line(&self) -> &str {
        // Built from validated UTF-8 text in both constructors.
        std::str::from_utf8(&self.wire[..self.wire.len() - 1]).unwrap_or_default()
    }

    pub fn client(&self) -> &str {
        &self.line()[self.client.clone()]
    }

    pub fn location(&self) -> Location<'_> {
        Location {
            text: &self.line()[self.location.clone()],
            split: self.location_split,
        }
    }

    /// The name of the server that first received the IAMAT.
    pub fn server(&self) -> &str {
        self.line().split(' ').nth(1).unwrap_or_default()
    }

    pub fn time(&self) -> Nanos {
        self.time
    }
}

fn check_skew(text: &str) -> Result<(), Invalid> {
    let unsigned = text
        .strip_prefix(['+', '-'])
        .ok_or(Invalid::Skew("needs a sign"))?;
    match decimal_parts(unsigned) {
        Some((_, frac)) if frac.len() == 9 => Ok(()),
        _ => Err(Invalid::Skew(
            "expected seconds with nine fractional digits",
        )),
    }
}

/// `? <line>\n`: the reply to anything that is not a valid command, echoing its exact bytes.
pub fn invalid_reply(line: &[u8]) -> Vec<u8> {
    let mut reply = Vec::with_capacity(line.len() + 3);
    reply.extend_from_slice(b"? ");
    reply.extend_from_slice(line);
    reply.push(b'\n');
    reply
}

/// Sent to a connection refused because the server is at its connection limit, just before
/// it is closed. Not a reply to any line, so it does not start with `? `.
pub const BUSY_REPLY: &[u8] = b"! server busy: connection limit reached\n";

/// `IAMAT <client> <location> <time>\n`, as a client sends it.
pub fn iamat_line(client: &str, location: &str, time: &str) -> String {
    format!("{IAMAT} {client} {location} {time}\n")
}

/// `WHATSAT <client> <radius-km> <bound>\n`, as a client sends it.
pub fn whatsat_line(client: &str, radius_km: &str, bound: u32) -> String {
    format!("{WHATSAT} {client} {radius_km} {bound}\n")
}

/// `HELLO <server> <key>\n`, the first line of a peer link, in both directions.
pub fn hello_line(server: &str, key: &str) -> String {
    format!("{HELLO} {server} {key}\n")
}

/// Formats a POSIX time the way a client would send it (seconds and nine digits).
pub fn format_client_time(t: Nanos) -> String {
    let mut out = String::with_capacity(24);
    let _ = write_client_time(&mut out, t);
    out
}

/// Writes what `format_client_time` returns, without allocating. Every time from 1970 to
/// the year 2554 fits a `u64` of nanoseconds, written with `itoa` rather than the formatter
/// (the server log stamps every line with this, and the formatter's integer paths were a
/// fifth of a log event's cost); other times take the formatter.
pub fn write_client_time(out: &mut impl std::fmt::Write, t: Nanos) -> std::fmt::Result {
    const PER_SEC: u64 = 1_000_000_000;
    let Ok(n) = u64::try_from(t.0) else {
        let per_sec = Nanos::NANOS_PER_SEC;
        return write!(
            out,
            "{}.{:09}",
            t.0.div_euclid(per_sec),
            t.0.rem_euclid(per_sec)
        );
    };
    let mut digits = itoa::Buffer::new();
    out.write_str(digits.format(n / PER_SEC))?;
    let nanos = digits.format(n % PER_SEC);
    out.write_str(&".000000000"[..10 - nanos.len()])?;
    out.write_str(nanos)
}

/// Formats a location in ISO 6709 with six decimals, e.g. `+34.068930-118.445127`.
pub fn format_location(lat: f64, lng: f64) -> String {
    format!("{lat:+.6}{lng:+.6}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command<'_> {
        match parse_line(line.as_bytes()) {
            Ok(Some(c)) => c,
            other => panic!("{line:?} should parse, got {other:?}"),
        }
    }

    #[test]
    fn valid_commands() {
        let c = ok("IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503");
        let Command::Iamat {
            client,
            location,
            time,
        } = c
        else {
            panic!("not IAMAT");
        };
        assert_eq!(client, "kiwi.cs.ucla.edu");
        assert_eq!(location.as_str(), "+34.068930-118.445127");
        assert_eq!(location.query_value(), "34.068930,-118.445127");
        assert_eq!(time.nanos(), Nanos(1_621_464_827_959_498_503));

        let cases: &[(&str, &str, &str)] = &[
            ("IAMAT a +34-118 1621464827", "+34-118", "1621464827"),
            ("  IAMAT\ta  -90+180 0.5 ", "-90+180", "0.5"),
            (
                "IAMAT a +90.000-180.0 1.000000001",
                "+90.000-180.0",
                "1.000000001",
            ),
            ("IAMAT a -0.5+0.25 00012", "-0.5+0.25", "00012"),
        ];
        for (line, loc, t) in cases {
            let Command::Iamat { location, time, .. } = ok(line) else {
                panic!("{line}");
            };
            assert_eq!((location.as_str(), time.as_str()), (*loc, *t), "{line}");
        }

        let Command::Whatsat {
            client,
            radius,
            bound,
        } = ok("WHATSAT kiwi 10 5")
        else {
            panic!("not WHATSAT");
        };
        assert_eq!((client, radius.metres(), bound), ("kiwi", "10000", 5));
        assert_eq!(
            ok("HELLO Clark secret"),
            Command::Hello {
                server: "Clark",
                key: "secret"
            }
        );
    }

    #[test]
    fn radius_converts_to_exact_metres() {
        let cases = [
            ("10", "10000"),
            ("0.5", "500"),
            ("50", "50000"),
            ("50.000", "50000"),
            ("0.0001", "0.1"),
            ("12.3456789", "12345.6789"),
            ("007.25", "7250"),
        ];
        for (km, m) in cases {
            assert_eq!(
                Radius::parse(km).map(|r| r.metres().to_owned()),
                Ok(m.into())
            );
        }
    }

    #[test]
    fn invalid_lines_table() {
        use Invalid::*;
        let cases: &[(&[u8], Invalid)] = &[
            (b"iamat a +1+1 1", UnknownVerb),
            (
                b"HELLO",
                FieldCount {
                    verb: HELLO,
                    expected: 3,
                },
            ),
            (
                b"IAMAT a +1+1",
                FieldCount {
                    verb: IAMAT,
                    expected: 4,
                },
            ),
            (
                b"IAMAT a +1+1 1 extra",
                FieldCount {
                    verb: IAMAT,
                    expected: 4,
                },
            ),
            (
                b"IAMAT a 34-118 1",
                Location("each coordinate needs a sign"),
            ),
            (
                b"IAMAT a +34118 1",
                Location("expected a signed latitude then a signed longitude"),
            ),
            (
                b"IAMAT a +91-118 1",
                Location("latitude must be within [-90, 90] with 1-2 integer digits"),
            ),
            (
                b"IAMAT a +90.0001-118 1",
                Location("latitude must be within [-90, 90] with 1-2 integer digits"),
            ),
            (
                b"IAMAT a +034-118 1",
                Location("latitude must be within [-90, 90] with 1-2 integer digits"),
            ),
            (
                b"IAMAT a +34-180.5 1",
                Location("longitude must be within [-180, 180] with 1-3 integer digits"),
            ),
            (b"IAMAT a +34.-118 1", Location("latitude")),
            (b"IAMAT a +34-118e2 1", Location("longitude")),
            (
                "IAMAT a é+1+1 1".as_bytes(),
                Location("each coordinate needs a sign"),
            ),
            (
                "IAMAT a 東 1".as_bytes(),
                Location("expected a signed latitude then a signed longitude"),
            ),
            (
                b"IAMAT a +34-118 -1",
                Time("expected digits with an optional fraction"),
            ),
            (
                b"IAMAT a +34-118 +1",
                Time("expected digits with an optional fraction"),
            ),
            (
                b"IAMAT a +34-118 1e9",
                Time("expected digits with an optional fraction"),
            ),
            (
                b"IAMAT a +34-118 1.0000000001",
                Time("at most nine fractional digits"),
            ),
            (
                b"IAMAT a +34-118 99999999999999999999",
                Time("seconds out of range"),
            ),
            (b"WHATSAT a 0 5", Radius("must be greater than 0")),
            (b"WHATSAT a 0.000 5", Radius("must be greater than 0")),
            (b"WHATSAT a 50.001 5", Radius("must be at most 50 km")),
            (
                b"WHATSAT a -5 5",
                Radius("expected digits with an optional fraction"),
            ),
            (
                b"WHATSAT a +5 5",
                Radius("expected digits with an optional fraction"),
            ),
            (b"WHATSAT a 5 0", Bound("must be from 1 to 20")),
            (b"WHATSAT a 5 21", Bound("must be from 1 to 20")),
            (b"WHATSAT a 5 2.0", Bound("expected an integer")),
            (b"WHATSAT a 5 99999999999", Bound("must be from 1 to 20")),
            (b"AT Clark +0.1 a +1+1 1", AtFromClient),
            (b"IAMAT a\0 +1+1 1", ControlByte),
            (b"IAMAT a +1+1 1\r", ControlByte),
            (b"IAMAT \x7f +1+1 1", ControlByte),
            ("IAMAT \u{85} +1+1 1".as_bytes(), ControlByte),
            (b"IAMAT \xff +1+1 1", NotUtf8),
        ];
        for (line, want) in cases {
            assert_eq!(
                parse_line(line),
                Err(want.clone()),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn blank_lines_are_ignored() {
        for line in [&b""[..], b"   ", b"\t \t"] {
            assert_eq!(parse_line(line), Ok(None));
        }
    }

    #[test]
    fn unicode_client_ids_are_fine() {
        let Command::Iamat { client, .. } = ok("IAMAT kiwi-ü-東京 +1+1 1") else {
            panic!()
        };
        assert_eq!(client, "kiwi-ü-東京");
    }

    #[test]
    fn record_from_iamat_formats_the_at_line() {
        let Command::Iamat {
            client,
            location,
            time,
        } = ok("IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503")
        else {
            panic!()
        };
        let received = Nanos(1_621_464_828_223_372_889);
        let r = Record::from_iamat("Clark", received, client, location, time);
        assert_eq!(
            r.line(),
            "AT Clark +0.263874386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"
        );
        assert_eq!(r.client(), "kiwi.cs.ucla.edu");
        assert_eq!(r.server(), "Clark");
        assert_eq!(r.location().query_value(), "34.068930,-118.445127");
        assert_eq!(Record::parse(r.line().as_bytes()), Ok(r.clone()));
    }

    #[test]
    fn record_parse_rejects_bad_at_lines() {
        for line in [
            "AT Clark +0.1 a +1+1 1",
            "AT Clark 0.100000000 a +1+1 1",
            "AT Clark +0.100000000 a +1+1",
            "AT Clark +0.100000000 a 1+1 1",
            "WHAT Clark +0.100000000 a +1+1 1",
        ] {
            assert!(Record::parse(line.as_bytes()).is_err(), "{line}");
        }
        let cases: [(&[u8], Invalid); 4] = [
            (b"IAMAT a +1+1 1", Invalid::WrongVerb { expected: AT }),
            (b"HELLO A k", Invalid::WrongVerb { expected: AT }),
            (b"WHAT Clark +0.1 a +1+1 1", Invalid::UnknownVerb),
            (
                b"AT Clark +0.100000000 a +1+1",
                Invalid::FieldCount {
                    verb: AT,
                    expected: 6,
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                Record::parse(line).err(),
                Some(want),
                "{}",
                line.escape_ascii()
            );
        }
        let r = Record::parse(b"AT  Clark\t-1.000000000 a +1+1 2").expect("valid");
        assert_eq!(r.line(), "AT Clark -1.000000000 a +1+1 2");
        assert_eq!(&r.wire()[..], b"AT Clark -1.000000000 a +1+1 2\n");
        assert_eq!(
            Record::parse(b"AT Clark -1.000000000 a +1+1 2\t").as_ref(),
            Ok(&r),
            "a canonical line and a loosely spaced one make the same record"
        );
        assert_eq!(r.client(), "a");
        assert_eq!(r.location().as_str(), "+1+1");
    }

    #[test]
    fn invalid_reply_echoes_exact_bytes() {
        assert_eq!(
            invalid_reply(b"  bad\tline \xff"),
            b"?   bad\tline \xff\n".to_vec()
        );
    }

    #[test]
    fn client_time_is_seconds_and_nine_digits_for_any_nanos() {
        let per_sec = Nanos::NANOS_PER_SEC;
        for n in [
            0,
            5,
            -5,
            1_621_464_827_959_498_503,
            -1_000_000_000,
            i128::from(i64::MAX),
            i128::from(i64::MIN),
            i128::from(i64::MAX) + 1,
            i128::from(u64::MAX),
            i128::from(u64::MAX) + 1,
            i128::from(u64::MAX) * 1_000_000_000 + 7,
            999_999_999,
            1_000_000_000,
            -1_500_000_000,
            i128::MIN,
            i128::MAX,
        ] {
            let want = format!("{}.{:09}", n.div_euclid(per_sec), n.rem_euclid(per_sec));
            assert_eq!(format_client_time(Nanos(n)), want, "{n}");
        }
    }

    #[test]
    fn client_side_formatting_parses_back() {
        let t = format_client_time(Nanos(1_621_464_827_000_000_005));
        assert_eq!(t, "1621464827.000000005");
        let loc = format_location(34.06893, -118.445127);
        assert_eq!(loc, "+34.068930-118.445127");
        let line = iamat_line("c1", &loc, &t);
        assert!(matches!(
            parse_line(line.trim_end().as_bytes()),
            Ok(Some(Command::Iamat { .. }))
        ));
    }
}
