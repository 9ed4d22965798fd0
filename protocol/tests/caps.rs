//! The two line caps agree: every IAMAT a server accepts from a client (at most
//! `MAX_LINE_BYTES`) makes an `AT` line that a peer link accepts (at most
//! `MAX_PEER_LINE_BYTES`), whatever the server's name (at most `MAX_SERVER_NAME_BYTES`) and
//! the client's time. Before the peer cap existed, an IAMAT at the client cap reset the link
//! on every anti-entropy resend.

use herd_protocol::message::parse_line;
use herd_protocol::{
    Command, LinkEnd, LinkReader, MAX_LINE_BYTES, MAX_PEER_LINE_BYTES, MAX_SERVER_NAME_BYTES,
    MAX_SKEW_BYTES, Nanos, Record,
};
use proptest::prelude::*;

/// The `AT` line (without its newline) a server named `server` makes for `iamat` at `received`.
fn at_line(server: &str, received: Nanos, iamat: &str) -> String {
    let Ok(Some(Command::Iamat {
        client,
        location,
        time,
    })) = parse_line(iamat.as_bytes())
    else {
        panic!("not a valid IAMAT: {iamat:.80}");
    };
    Record::from_iamat(server, received, client, location, time)
        .line()
        .to_owned()
}

/// Every line `reader` hands out for `input`, read in 16 KiB pieces, and how it ended.
fn read_link(input: &[u8]) -> (Vec<usize>, Option<LinkEnd>) {
    let mut reader = LinkReader::new(&[]);
    let mut seen = Vec::new();
    let mut rest = input;
    loop {
        match reader.poll(|line| seen.push(line.len())) {
            Err(end) => return (seen, Some(end)),
            Ok(_) if rest.is_empty() => return (seen, None),
            Ok(room) => {
                let n = room.len().min(rest.len());
                room[..n].copy_from_slice(&rest[..n]);
                rest = &rest[n..];
                reader.read(Ok(n));
            }
        }
    }
}

/// The longest `AT` line there can be: a cap-sized IAMAT whose time is the largest a
/// client may send, made by a server with the longest name, whose clock reads far before
/// the epoch (10^19 s before it: the skew's integer part then has 20 digits, one fewer than
/// `MAX_SKEW_BYTES` allows).
#[test]
fn the_longest_at_line_fits_the_peer_cap() {
    let time = format!("{}.999999999", u64::MAX);
    let fixed = format!("IAMAT  +90-180 {time}").len();
    let client = "k".repeat(MAX_LINE_BYTES - fixed);
    let iamat = format!("IAMAT {client} +90-180 {time}");
    assert_eq!(iamat.len(), MAX_LINE_BYTES);
    let server = "S".repeat(MAX_SERVER_NAME_BYTES);
    let received = Nanos(-(10i128.pow(19)) * Nanos::NANOS_PER_SEC);
    let at = at_line(&server, received, &iamat);
    let skew = at.split(' ').nth(2).expect("a skew field");
    assert_eq!(skew.len(), MAX_SKEW_BYTES - 1, "{skew}");
    // `IAMAT` becomes `AT <server> <skew>`: three bytes shorter, plus the two fields and
    // their spaces.
    assert_eq!(at.len(), MAX_LINE_BYTES - 3 + 2 + server.len() + skew.len());
    assert!(at.len() < MAX_PEER_LINE_BYTES);
    assert!(
        at.len() > MAX_LINE_BYTES,
        "the case the client cap alone failed"
    );

    // A link reads it (and the next line) rather than ending.
    let mut wire = format!("{at}\n").into_bytes();
    wire.extend_from_slice(format!("{at}\n").as_bytes());
    let (lines, end) = read_link(&wire);
    assert_eq!(lines, vec![at.len(), at.len()]);
    assert_eq!(end, None);
}

#[test]
fn a_link_line_at_the_peer_cap_passes_and_a_longer_one_ends_the_link() {
    let at_cap = [vec![b'a'; MAX_PEER_LINE_BYTES], b"\n".to_vec()].concat();
    let (lines, end) = read_link(&at_cap);
    assert_eq!((lines, end), (vec![MAX_PEER_LINE_BYTES], None));

    // Past the cap by one byte and the `\r` slack: the link ends before any newline comes.
    let over = vec![b'a'; MAX_PEER_LINE_BYTES + 2];
    let (lines, end) = read_link(&over);
    assert!(lines.is_empty());
    assert!(
        matches!(end, Some(LinkEnd::LineTooLong(e)) if e.limit == MAX_PEER_LINE_BYTES),
        "{end:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any valid IAMAT padded out to the client cap (extra spaces, or a longer client id),
    /// any server name within its cap and any clock within 10^19 s of the epoch.
    #[test]
    fn every_accepted_iamat_makes_an_at_line_a_link_accepts(
        name_len in 1..=MAX_SERVER_NAME_BYTES,
        secs in any::<u64>(),
        frac in "([0-9]{1,9})?",
        zeros in 0usize..40,
        received in -(10i128.pow(28))..10i128.pow(28),
        pad_with_spaces in any::<bool>(),
    ) {
        let time = if frac.is_empty() {
            format!("{}{secs}", "0".repeat(zeros))
        } else {
            format!("{}{secs}.{frac}", "0".repeat(zeros))
        };
        let location = "-33.8670522+151.1957362";
        let base = format!("IAMAT c {location} {time}");
        let iamat = if pad_with_spaces {
            // Runs of spaces vanish from the canonical AT line.
            format!("IAMAT{}c {location} {time}", " ".repeat(MAX_LINE_BYTES - base.len() + 1))
        } else {
            format!("IAMAT {}c {location} {time}", "k".repeat(MAX_LINE_BYTES - base.len()))
        };
        prop_assert_eq!(iamat.len(), MAX_LINE_BYTES);
        let server = "s".repeat(name_len);
        let at = at_line(&server, Nanos(received), &iamat);
        prop_assert!(at.len() <= MAX_PEER_LINE_BYTES, "{} bytes", at.len());
        prop_assert!(Record::parse(at.as_bytes()).is_ok());
    }
}
