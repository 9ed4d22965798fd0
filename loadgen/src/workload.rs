//! The commands each scenario sends.
//!
//! A command is written straight into the connection's output buffer: no allocation, no
//! float formatting, no clock read per command (the driver passes the time). The bytes are
//! exactly what the protocol crate's `iamat_line` and `whatsat_line` produce for the same
//! client, location and time, which the tests below check.

use std::io::Write as _;
use std::sync::{Arc, OnceLock};

use herd_protocol::Nanos;
use herd_protocol::client::Expect;
use herd_protocol::message::{IAMAT, WHATSAT, format_location};

use crate::driver::{Request, Workload};
use crate::reply::ClientName;

/// Distinct clients each connection updates in turn.
const CLIENTS_PER_CONNECTION: u64 = 8;

/// Latitudes and longitudes a client can have: spread over populated latitudes so WHATSATs
/// find places, formatted once.
const LATS: u64 = 100;
const LNGS: u64 = 340;

fn coordinates() -> &'static (Vec<String>, Vec<String>) {
    static TABLES: OnceLock<(Vec<String>, Vec<String>)> = OnceLock::new();
    TABLES.get_or_init(|| {
        // format_location writes latitude then longitude, each as `{:+.6}`; split its
        // output so the bytes stay the protocol crate's.
        let split = |lat: f64, lng: f64| {
            let both = format_location(lat, lng);
            let at = both[1..].find(['+', '-']).map_or(both.len(), |i| i + 1);
            (both[..at].to_owned(), both[at..].to_owned())
        };
        let lats = (0..LATS).map(|k| split(-40.0 + k as f64 * 0.9, 0.0).0);
        let lngs = (0..LNGS).map(|k| split(0.0, -170.0 + k as f64).1);
        (lats.collect(), lngs.collect())
    })
}

/// The location of client number `n`.
fn write_location(n: u64, out: &mut Vec<u8>) {
    let (lats, lngs) = coordinates();
    out.extend_from_slice(lats[(n * 37 % LATS) as usize].as_bytes());
    out.extend_from_slice(lngs[(n * 53 % LNGS) as usize].as_bytes());
}

/// Two-digit pairs "00" to "99", for writing numbers two digits per division.
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes the decimal digits of `n`, at least `width` of them (zero-padded), into the end
/// of `digits` and returns where they start.
fn digits_into(mut n: u64, width: usize, digits: &mut [u8; 20]) -> usize {
    let width = width.clamp(1, digits.len());
    let mut i = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    while digits.len() - i < width {
        i -= 1;
        digits[i] = b'0';
    }
    i
}

/// Appends the decimal digits of `n`, at least `width` of them (zero-padded). Formatting
/// through `core::fmt` (and 128-bit division) was a visible share of the hot path.
fn write_digits(n: u64, width: usize, out: &mut Vec<u8>) {
    let mut digits = [0; 20];
    let from = digits_into(n, width, &mut digits);
    out.extend_from_slice(&digits[from..]);
}

/// Appends `n` (below 10^9) as exactly nine digits: independent divisions by constants.
fn write_nine_digits(n: u32, out: &mut Vec<u8>) {
    let pair = |k: u32| {
        let k = k as usize * 2;
        [PAIRS[k], PAIRS[k + 1]]
    };
    let (a, b, c, d) = (
        pair(n / 10_000_000 % 100),
        pair(n / 100_000 % 100),
        pair(n / 1_000 % 100),
        pair(n / 10 % 100),
    );
    out.extend_from_slice(&[
        a[0],
        a[1],
        b[0],
        b[1],
        c[0],
        c[1],
        d[0],
        d[1],
        b'0' + (n % 10) as u8,
    ]);
}

thread_local! {
    /// The seconds last written and their digits: every command of the same second shares
    /// them, so they are formatted once a second per thread.
    static SECONDS: std::cell::Cell<(u64, [u8; 20], usize)> =
        const { std::cell::Cell::new((u64::MAX, [0; 20], 20)) };
}

/// A POSIX time as a client sends it: seconds and nine digits.
fn write_time(t: Nanos, out: &mut Vec<u8>) {
    const PER_SEC: u64 = Nanos::NANOS_PER_SEC as u64;
    match u64::try_from(t.0) {
        // Any time after 1970: 64-bit division by a constant (a multiplication), not the
        // 128-bit division `div_euclid` on the i128 compiles to.
        Ok(t) => {
            let secs = t / PER_SEC;
            let (mut cached, mut digits, mut from) = SECONDS.get();
            if cached != secs {
                from = digits_into(secs, 1, &mut digits);
                cached = secs;
                SECONDS.set((cached, digits, from));
            }
            out.extend_from_slice(&digits[from..]);
            out.push(b'.');
            // Below 10^9, so it fits.
            write_nine_digits((t % PER_SEC) as u32, out);
        }
        // Before 1970: never in practice, but still the right bytes.
        Err(_) => {
            let per_sec = Nanos::NANOS_PER_SEC;
            let (secs, nanos) = (t.0.div_euclid(per_sec), t.0.rem_euclid(per_sec));
            let _ = write!(out, "{secs}.{nanos:09}");
        }
    }
}

/// Appends `<prefix><number>` and returns it as a client name.
fn write_client(prefix: &str, number: u64, out: &mut Vec<u8>) -> ClientName {
    let start = out.len();
    out.extend_from_slice(prefix.as_bytes());
    write_digits(number, 1, out);
    // A prefix of a few letters and a u64 always fit.
    ClientName::new(&out[start..]).unwrap_or_else(|| unreachable!("client names are short"))
}

/// `IAMAT <client> <location> ` of client `n`, written from scratch.
fn write_iamat_prefix(n: u64, out: &mut Vec<u8>) -> ClientName {
    out.extend_from_slice(IAMAT.as_bytes());
    out.push(b' ');
    let client = write_client("lg", n, out);
    out.push(b' ');
    write_location(n, out);
    out.push(b' ');
    client
}

/// Clients whose IAMAT prefix is formatted once and copied after (1,000 connections' worth).
const CACHED_CLIENTS: u64 = 8_192;

struct Prefixes {
    bytes: Vec<u8>,
    /// Per client: where its prefix ends in `bytes` (it starts where the previous ends).
    ends: Vec<usize>,
    clients: Vec<ClientName>,
}

fn prefixes() -> &'static Prefixes {
    static PREFIXES: OnceLock<Prefixes> = OnceLock::new();
    PREFIXES.get_or_init(|| {
        let mut p = Prefixes {
            bytes: Vec::new(),
            ends: Vec::new(),
            clients: Vec::new(),
        };
        for n in 0..CACHED_CLIENTS {
            let client = write_iamat_prefix(n, &mut p.bytes);
            p.ends.push(p.bytes.len());
            p.clients.push(client);
        }
        p
    })
}

pub fn iamat(conn: usize, seq: u64, now: Nanos, out: &mut Vec<u8>) -> Request {
    let n = conn as u64 * CLIENTS_PER_CONNECTION + seq % CLIENTS_PER_CONNECTION;
    let client = if n < CACHED_CLIENTS {
        let p = prefixes();
        let i = n as usize;
        let start = if i == 0 { 0 } else { p.ends[i - 1] };
        out.extend_from_slice(&p.bytes[start..p.ends[i]]);
        p.clients[i]
    } else {
        write_iamat_prefix(n, out)
    };
    write_time(now, out);
    out.push(b'\n');
    Request {
        expect: Expect::Line,
        client,
    }
}

/// Clients registered before a WHATSAT run, so every query has a known location.
pub fn seed_client(i: usize) -> (String, String) {
    (
        format!("seed{i}"),
        format_location(48.8566 + i as f64 * 0.01, 2.3522),
    )
}

pub fn whatsat(seeds: usize) -> impl Fn(usize, u64, Nanos, &mut Vec<u8>) -> Request + Send + Sync {
    move |conn, seq, _now, out| {
        let i = (conn + seq as usize) % seeds.max(1);
        out.extend_from_slice(WHATSAT.as_bytes());
        out.push(b' ');
        let client = write_client("seed", i as u64, out);
        out.extend_from_slice(b" 10 5\n");
        Request {
            expect: Expect::Whatsat,
            client,
        }
    }
}

/// `iamat_percent` of commands are IAMATs, the rest WHATSATs, interleaved evenly.
pub fn mixed(iamat_percent: u64, seeds: usize) -> Workload {
    let query = whatsat(seeds);
    Arc::new(move |conn, seq, now, out| {
        if (seq * 7 + conn as u64) % 100 < iamat_percent {
            iamat(conn, seq, now, out)
        } else {
            query(conn, seq, now, out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::WriteCommand;
    use herd_protocol::message::{format_client_time, iamat_line, parse_line, whatsat_line};

    fn text(w: &WriteCommand, conn: usize, seq: u64) -> (String, Request) {
        let mut out = b"earlier bytes stay".to_vec();
        let r = w(conn, seq, Nanos(1_621_464_827_959_498_503), &mut out);
        let line = String::from_utf8(out).expect("utf8");
        let line = line
            .strip_prefix("earlier bytes stay")
            .expect("appended")
            .to_owned();
        (line, r)
    }

    #[test]
    fn commands_are_the_protocol_crates_bytes() {
        let time = format_client_time(Nanos(1_621_464_827_959_498_503));
        // Cached prefixes (the first 8,192 clients) and formatted ones alike.
        for (conn, seq) in [
            (0, 0),
            (3, 5),
            (999, 123_456),
            (12, 7),
            (1_023, 7),
            (1_024, 0),
            (5_000, 3),
        ] {
            let n = conn as u64 * CLIENTS_PER_CONNECTION + seq % CLIENTS_PER_CONNECTION;
            let location = format_location(
                -40.0 + (n * 37 % 100) as f64 * 0.9,
                -170.0 + (n * 53 % 340) as f64,
            );
            let (line, r) = text(&iamat, conn, seq);
            assert_eq!(line, iamat_line(&format!("lg{n}"), &location, &time));
            assert_eq!(r.client.as_bytes(), format!("lg{n}").as_bytes());
            assert_eq!(r.expect, Expect::Line);
            let (line, r) = text(&whatsat(32), conn, seq);
            let (client, _) = seed_client((conn + seq as usize) % 32);
            assert_eq!(line, whatsat_line(&client, "10", 5));
            assert_eq!(r.client.as_bytes(), client.as_bytes());
        }
    }

    #[test]
    fn times_and_numbers_are_written_like_the_protocol_crate_writes_them() {
        // Repeated seconds (the cached digits) and changing ones alike.
        for t in [
            0,
            1,
            999_999_999,
            1_000_000_000,
            1_621_464_827_000_000_007,
            1_621_464_827_123_456_789,
            1_621_464_828_090_807_060,
            1_621_464_827_000_000_000,
            -1_500_000_000,
            7,
        ] {
            let mut out = Vec::new();
            write_time(Nanos(t), &mut out);
            assert_eq!(
                String::from_utf8(out).expect("utf8"),
                format_client_time(Nanos(t))
            );
        }
        for n in [0, 7, 10, 99, 100, 12_345, 1_000_000, u64::MAX] {
            let mut out = Vec::new();
            write_digits(n, 1, &mut out);
            assert_eq!(out, n.to_string().into_bytes());
            let mut out = Vec::new();
            write_digits(n, 9, &mut out);
            assert_eq!(out, format!("{n:09}").into_bytes());
        }
        for n in [0, 5, 10, 999_999_999, 123_456_789, 100_000_000, 90_807_060] {
            let mut out = Vec::new();
            write_nine_digits(n, &mut out);
            assert_eq!(out, format!("{n:09}").into_bytes());
        }
    }

    #[test]
    fn every_workload_command_is_valid() {
        let mixed = mixed(50, 4);
        for conn in 0..5 {
            for seq in 0..40 {
                let (line, r) = text(&*mixed, conn, seq);
                assert!(
                    matches!(parse_line(line.trim_end().as_bytes()), Ok(Some(_))),
                    "{line}"
                );
                assert!(line.contains(&*String::from_utf8_lossy(r.client.as_bytes())));
            }
        }
    }

    #[test]
    fn mixed_honours_the_ratio() {
        let mixed = mixed(80, 4);
        let iamats = (0..1000)
            .filter(|&s| text(&*mixed, 3, s).1.expect == Expect::Line)
            .count();
        assert!((750..=850).contains(&iamats), "{iamats}");
    }
}
