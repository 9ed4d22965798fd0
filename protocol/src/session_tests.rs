use std::io;

use super::*;
use crate::config::HerdConfig;
use crate::time::Nanos;

const HERD: &str = r#"
[herd]
key = "secret"
[places]
base_url = "http://127.0.0.1:9"
key = "pk"
timeout_ms = 1000
[[server]]
name = "A"
addr = "127.0.0.1:12001"
neighbours = ["B"]
[[server]]
name = "B"
addr = "127.0.0.1:12002"
neighbours = ["A"]
"#;

fn node(name: &str) -> Node<()> {
    Node::new(&HerdConfig::parse(HERD, "t").expect("valid"), name).expect("known")
}

/// What a test saw the session ask for, in order.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Write(String),
    Places,
    Peer(String, String),
    Close(Closed),
}

/// Plays a script of reads against a client session: each read is delivered whole (room
/// permitting), every write succeeds, every places call is refused. Returns
/// what the session asked for until it wanted to read past the script or closed.
fn run_client(reads: &[&[u8]]) -> Vec<Seen> {
    let mut node = node("A");
    let mut session = ClientSession::<()>::new();
    let mut reads = reads
        .iter()
        .map(|r| r.to_vec())
        .collect::<std::collections::VecDeque<_>>();
    let mut seen = Vec::new();
    let mut handle = |line: &[u8]| node.client_line(line, Nanos::from_secs(20), &mut Vec::new());
    loop {
        match session.poll(Instant::now(), &mut handle) {
            ClientAction::Read(room) => {
                let Some(mut bytes) = reads.pop_front() else {
                    return seen;
                };
                let n = room.len().min(bytes.len());
                room[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    reads.push_front(bytes.split_off(n));
                }
                let read = if bytes.is_empty() { Ok(0) } else { Ok(n) };
                session.read(read, &mut handle);
            }
            ClientAction::Write(bytes) => {
                seen.push(Seen::Write(String::from_utf8_lossy(bytes).into_owned()));
                session.wrote(Ok(()));
            }
            ClientAction::Connect { authority, .. } => {
                assert_eq!(authority, "127.0.0.1:9");
                seen.push(Seen::Places);
                session.connected(Err(io::ErrorKind::ConnectionRefused.into()));
            }
            ClientAction::PlacesWrite { .. } | ClientAction::PlacesRead { .. } => {
                panic!("never connected")
            }
            ClientAction::AwaitFloods { .. } => panic!("this core has no floods to wait for"),
            ClientAction::Peer { peer, pending } => {
                seen.push(Seen::Peer(
                    peer.to_string(),
                    String::from_utf8_lossy(&pending).into_owned(),
                ));
                return seen;
            }
            ClientAction::Close(why) => {
                seen.push(Seen::Close(why));
                return seen;
            }
        }
    }
}

fn write(text: &str) -> Seen {
    Seen::Write(text.to_owned())
}

#[test]
fn client_session_sequencing_table() {
    let at1 = "AT A +10.000000000 c +1+1 10\n";
    let at2 = "AT A +9.000000000 d +2+2 11\n";
    type Case = (&'static str, Vec<&'static [u8]>, Vec<Seen>);
    let cases: Vec<Case> = vec![
        (
            "replies to one read leave in one write",
            vec![b"IAMAT c +1+1 10\nIAMAT d +2+2 11\n"],
            vec![write(&format!("{at1}{at2}"))],
        ),
        (
            "a blank line gets nothing; a line split over reads is joined",
            vec![b"\n  \nIAMAT c +1", b"+1 10\r\n"],
            vec![write(at1)],
        ),
        (
            "replies due are written before the places call; later lines wait for it",
            vec![b"IAMAT c +1+1 10\nWHATSAT c 10 5\nIAMAT d +2+2 11\n"],
            vec![write(at1), Seen::Places],
        ),
        (
            "a bad line is echoed after `? `",
            vec![b"iamat x\n"],
            vec![write("? iamat x\n")],
        ),
        (
            "the client leaving closes",
            vec![b"IAMAT c +1+1 10\n", b""],
            vec![write(at1), Seen::Close(Closed::ClientClosed)],
        ),
        (
            "a HELLO becomes a link, keeping what was read past it",
            vec![b"HELLO B secret\nAT B +0.000000000 x +1+1 1\n"],
            vec![
                write("HELLO A secret\n"),
                Seen::Peer("B".into(), "AT B +0.000000000 x +1+1 1\n".into()),
            ],
        ),
        (
            "a failed HELLO closes at once, dropping replies not yet written",
            vec![b"IAMAT c +1+1 10\nHELLO B wrong\n"],
            vec![Seen::Close(Closed::Handshake(HandshakeError::WrongKey(
                "B".into(),
            )))],
        ),
    ];
    for (what, reads, want) in cases {
        let seen = run_client(&reads);
        // The places reply is JSON; compare the rest exactly and that one by its parts.
        let seen: Vec<Seen> = seen
            .into_iter()
            .map(|s| match s {
                Seen::Write(w) if w.contains("UNKNOWN_ERROR") => {
                    assert!(w.starts_with(at1), "{what}: {w}");
                    assert!(w.ends_with(&format!("}}\n\n{at2}")), "{what}: {w}");
                    write("places reply")
                }
                s => s,
            })
            .collect();
        let mut want = want;
        if what.starts_with("replies due are written before") {
            want.push(write("places reply"));
        }
        assert_eq!(seen, want, "{what}");
    }
}

#[test]
fn an_overlong_line_closes_after_the_replies_due() {
    let mut input = b"IAMAT c +1+1 10\n".to_vec();
    input.extend(std::iter::repeat_n(
        b'x',
        crate::framing::MAX_LINE_BYTES + 10,
    ));
    let seen = run_client(&[&input]);
    assert_eq!(
        seen,
        vec![
            write("AT A +10.000000000 c +1+1 10\n"),
            Seen::Close(Closed::LineTooLong(LineTooLong {
                limit: crate::framing::MAX_LINE_BYTES
            })),
        ]
    );
}

#[test]
fn client_io_errors_close_with_their_cause_and_interrupts_do_not() {
    let mut node = node("A");
    let mut handle = |line: &[u8]| node.client_line(line, Nanos(0), &mut Vec::new());
    let mut s = ClientSession::<()>::new();
    let now = Instant::now();
    s.read(Err(io::ErrorKind::Interrupted.into()), &mut handle);
    assert!(matches!(s.poll(now, &mut handle), ClientAction::Read(_)));
    s.read(Err(io::ErrorKind::ConnectionReset.into()), &mut handle);
    let ClientAction::Close(why) = s.poll(now, &mut handle) else {
        panic!("read error must close")
    };
    assert_eq!(why, Closed::ReadFailed(io::ErrorKind::ConnectionReset));
    assert_eq!(why.to_string(), "read failed");
    assert!(
        matches!(s.poll(now, &mut handle), ClientAction::Close(_)),
        "closed stays closed"
    );

    let mut s = ClientSession::<()>::new();
    let ClientAction::Read(room) = s.poll(now, &mut handle) else {
        panic!()
    };
    room[..16].copy_from_slice(b"IAMAT c +1+1 10\n");
    s.read(Ok(16), &mut handle);
    assert!(matches!(s.poll(now, &mut handle), ClientAction::Write(_)));
    s.wrote(Err(io::ErrorKind::BrokenPipe.into()));
    assert!(matches!(
        s.poll(now, &mut handle),
        ClientAction::Close(Closed::WriteFailed(io::ErrorKind::BrokenPipe))
    ));
}

/// Counts places failures on top of the node's lines.
struct Core {
    node: Node<()>,
    failures: usize,
}

impl ClientCore for Core {
    fn line(&mut self, line: &[u8]) -> ClientStep {
        self.node.client_line(line, Nanos(0), &mut Vec::new())
    }
    fn places_failed(&mut self, _: &PlacesFailure) {
        self.failures += 1;
    }
}

#[test]
fn client_session_keeps_its_places_connection_and_reports_failures() {
    let mut core = Core {
        node: node("A"),
        failures: 0,
    };
    let mut s = ClientSession::<&'static str>::new();
    let now = Instant::now();
    let feed = |s: &mut ClientSession<&'static str>, core: &mut Core, bytes: &[u8]| {
        let ClientAction::Read(room) = s.poll(now, core) else {
            panic!("expected a read")
        };
        room[..bytes.len()].copy_from_slice(bytes);
        s.read(Ok(bytes.len()), core);
    };
    feed(&mut s, &mut core, b"IAMAT c +1+1 10\nWHATSAT c 10 5\n");
    assert!(matches!(s.poll(now, &mut core), ClientAction::Write(_)));
    s.wrote(Ok(()));
    assert!(matches!(
        s.poll(now, &mut core),
        ClientAction::Connect { .. }
    ));
    s.connected(Ok("conn-1"));
    let ClientAction::PlacesWrite { stream, bytes, .. } = s.poll(now, &mut core) else {
        panic!("expected the request")
    };
    assert_eq!((*stream, &bytes[..4]), ("conn-1", &b"GET "[..]));
    s.wrote(Ok(()));
    let ClientAction::PlacesRead { buf, .. } = s.poll(now, &mut core) else {
        panic!("expected a read of the response")
    };
    buf[..OK.len()].copy_from_slice(OK);
    s.read(Ok(OK.len()), &mut core);
    let ClientAction::Write(reply) = s.poll(now, &mut core) else {
        panic!("expected the WHATSAT reply")
    };
    assert!(reply.starts_with(b"AT A ") && reply.ends_with(b"}\n\n"));
    assert_eq!(core.failures, 0, "the HTTP exchange itself succeeded");
    s.wrote(Ok(()));

    // The next call reuses the kept-alive connection; its failure is reported and answered.
    feed(&mut s, &mut core, b"WHATSAT c 10 5\n");
    let ClientAction::PlacesWrite { stream, .. } = s.poll(now, &mut core) else {
        panic!("expected the kept-alive connection to be reused")
    };
    assert_eq!(*stream, "conn-1");
    s.wrote(Ok(()));
    assert!(matches!(
        s.poll(now, &mut core),
        ClientAction::PlacesRead { .. }
    ));
    s.read(Err(io::ErrorKind::TimedOut.into()), &mut core);
    let ClientAction::Write(reply) = s.poll(now, &mut core) else {
        panic!("expected the failure reply")
    };
    assert!(String::from_utf8_lossy(reply).contains("UNKNOWN_ERROR"));
    assert_eq!(core.failures, 1);
    s.wrote(Ok(()));
    feed(&mut s, &mut core, b"WHATSAT c 10 5\n");
    assert!(
        matches!(s.poll(now, &mut core), ClientAction::Connect { .. }),
        "a failed connection is not kept"
    );
}

fn call() -> PlacesCall {
    let mut node = node("A");
    let _ = node.client_line(b"IAMAT c +1+1 10", Nanos(0), &mut Vec::new());
    match node.client_line(b"WHATSAT c 10 5", Nanos(0), &mut Vec::new()) {
        ClientStep::Places(call) => call,
        step => panic!("{step:?}"),
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";

/// An input for a places exchange, per step.
#[derive(Debug, Clone, Copy)]
enum Io {
    Ok,
    Fail(io::ErrorKind),
    Bytes(&'static [u8]),
}

/// Drives an exchange with `script` (one input per Connect, Write or Read step) and
/// returns the steps it asked for and how it ended.
fn run_places(
    connected: bool,
    script: &[Io],
) -> (String, Result<HttpResponse, PlacesFailure>, bool) {
    let call = call();
    let mut ex = call.exchange(connected);
    let mut steps = String::new();
    let mut script = script.iter();
    let now = Instant::now();
    loop {
        let step = ex.poll(now);
        let input = match &step {
            PlacesStep::Done { .. } => None,
            _ => Some(*script.next().expect("script too short")),
        };
        let as_unit = |io: Io| match io {
            Io::Fail(kind) => Err(kind.into()),
            _ => Ok(()),
        };
        match (step, input) {
            (
                PlacesStep::Done {
                    outcome,
                    keep_alive,
                },
                _,
            ) => return (steps, outcome, keep_alive),
            (PlacesStep::Connect { authority, .. }, Some(io)) => {
                assert_eq!(authority, "127.0.0.1:9");
                steps.push('C');
                ex.connected(as_unit(io));
            }
            (PlacesStep::Write { bytes, .. }, Some(io)) => {
                assert!(bytes.starts_with(b"GET "));
                steps.push('W');
                ex.wrote(as_unit(io));
            }
            (PlacesStep::Read { .. }, Some(io)) => {
                steps.push('R');
                let read = match io {
                    Io::Bytes(b) => {
                        ex.read_buf()[..b.len()].copy_from_slice(b);
                        Ok(b.len())
                    }
                    Io::Ok => Ok(0),
                    Io::Fail(kind) => Err(kind.into()),
                };
                ex.read(read);
            }
            (step, None) => panic!("{step:?} without input"),
        }
    }
}

/// What, connected at the start, the script, the steps taken, the failure expected (`None`
/// for the `{}` response), whether the connection is kept.
type PlacesCase = (
    &'static str,
    bool,
    Vec<Io>,
    &'static str,
    Option<Result<(), PlacesFailure>>,
    bool,
);

#[test]
fn places_exchange_table() {
    use io::ErrorKind::{BrokenPipe, ConnectionRefused, ConnectionReset, TimedOut};
    let truncated = Err(PlacesFailure::Truncated);
    let cases: Vec<PlacesCase> = vec![
        (
            "fresh connection",
            false,
            vec![Io::Ok, Io::Ok, Io::Bytes(OK)],
            "CWR",
            None,
            true,
        ),
        (
            "kept-alive connection",
            true,
            vec![Io::Ok, Io::Bytes(OK)],
            "WR",
            None,
            true,
        ),
        (
            "a stale kept-alive connection is retried on a fresh one",
            true,
            vec![Io::Fail(BrokenPipe), Io::Ok, Io::Ok, Io::Bytes(OK)],
            "WCWR",
            None,
            true,
        ),
        (
            "a reused connection closed before answering is retried",
            true,
            vec![Io::Ok, Io::Ok, Io::Ok, Io::Ok, Io::Bytes(OK)],
            "WRCWR",
            None,
            true,
        ),
        (
            "only once",
            true,
            vec![Io::Ok, Io::Ok, Io::Ok, Io::Ok, Io::Ok],
            "WRCWR",
            Some(truncated.clone()),
            false,
        ),
        (
            "a fresh connection is not retried",
            false,
            vec![Io::Ok, Io::Fail(ConnectionReset)],
            "CW",
            Some(Err(PlacesFailure::Io("connection reset".into()))),
            false,
        ),
        (
            "refused",
            false,
            vec![Io::Fail(ConnectionRefused)],
            "C",
            Some(Err(PlacesFailure::Io("connection refused".into()))),
            false,
        ),
        (
            "a timed-out step is a timeout, never retried",
            true,
            vec![Io::Ok, Io::Fail(TimedOut)],
            "WR",
            Some(Err(PlacesFailure::Timeout(Duration::from_secs(1)))),
            false,
        ),
    ];
    for (what, connected, script, want_steps, want_err, want_keep) in cases {
        let (steps, outcome, keep) = run_places(connected, &script);
        assert_eq!(steps, want_steps, "{what}");
        assert_eq!(keep, want_keep, "{what}");
        match (want_err, outcome) {
            (None, Ok(r)) => assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]), "{what}"),
            (Some(Err(PlacesFailure::Io(_))), Err(PlacesFailure::Io(_))) => {}
            (Some(want), got) => assert_eq!(got.map(drop), want, "{what}"),
            (None, got) => panic!("{what}: {got:?}"),
        }
    }
}

#[test]
fn places_exchange_times_out_from_its_first_step() {
    let call = call();
    let mut ex = call.exchange(false);
    let start = Instant::now();
    let PlacesStep::Connect { within, .. } = ex.poll(start) else {
        panic!()
    };
    assert_eq!(within, Duration::from_secs(1));
    ex.connected(Ok(()));
    let PlacesStep::Write { within, .. } = ex.poll(start + Duration::from_millis(600)) else {
        panic!()
    };
    assert_eq!(
        within,
        Duration::from_millis(400),
        "what is left of the call"
    );
    ex.wrote(Ok(()));
    let step = ex.poll(start + Duration::from_secs(1));
    assert!(
        matches!(
            step,
            PlacesStep::Done {
                outcome: Err(PlacesFailure::Timeout(_)),
                keep_alive: false
            }
        ),
        "{step:?}"
    );
}

fn dial(reads: &[&[u8]]) -> Option<Result<Vec<u8>, DialError>> {
    let a = node("A");
    let mut hs = DialHandshake::new(&a, "B".into());
    assert_eq!(hs.hello(), b"HELLO A secret\n");
    for read in reads {
        let room = hs.read_buf();
        room[..read.len()].copy_from_slice(read);
        if let Some(done) = hs.read(Ok(read.len()), &a) {
            return Some(done);
        }
    }
    None
}

#[test]
fn dial_handshake_table() {
    assert_eq!(
        dial(&[b"HELLO B sec", b"ret\nAT x"]).map(Result::ok),
        Some(Some(b"AT x".to_vec()))
    );
    assert!(dial(&[b"HELLO B sec"]).is_none(), "a partial HELLO waits");
    assert!(matches!(dial(&[b""]), Some(Err(DialError::Closed))));
    assert!(matches!(
        dial(&[b"HELLO B nope\n"]),
        Some(Err(DialError::Rejected(HandshakeError::WrongKey(_))))
    ));
    assert!(matches!(
        dial(&[b"? HELLO A secret\n"]),
        Some(Err(DialError::Rejected(HandshakeError::Malformed)))
    ));
    let a = node("A");
    let mut hs = DialHandshake::new(&a, "B".into());
    let got = hs.read(Err(io::ErrorKind::WouldBlock.into()), &a);
    assert!(matches!(got, Some(Err(DialError::TimedOut))));
    assert_eq!(DialError::Closed.to_string(), "closed during handshake");
}

#[test]
fn redial_backs_off_and_starts_over_once_linked() {
    let mut r = Redial::new();
    let ms: Vec<u128> = (0..3).map(|_| r.failed().as_millis()).collect();
    assert_eq!(ms, [100, 200, 400]);
    r.linked();
    assert_eq!(r.failed().as_millis(), 100);
}

#[test]
fn link_reader_handles_every_line_of_a_read_then_reads_on() {
    let mut reader = LinkReader::new(b"AT a\nAT");
    let mut lines = Vec::new();
    let room = reader.poll(|l| lines.push(l.to_vec())).expect("open");
    room[..6].copy_from_slice(b" b\nAT ");
    reader.read(Ok(6));
    let room = reader.poll(|l| lines.push(l.to_vec())).expect("open");
    room[..2].copy_from_slice(b"c\n");
    reader.read(Ok(2));
    assert_eq!(lines.len(), 2, "lines wait for the next call");
    let _ = reader.poll(|l| lines.push(l.to_vec())).expect("open");
    reader.read(Ok(0));
    let end = reader.poll(|l| lines.push(l.to_vec()));
    assert_eq!(lines, [&b"AT a"[..], b"AT b", b"AT c"]);
    assert_eq!(end.map(drop), Err(LinkEnd::PeerClosed));

    let mut reader = LinkReader::new(b"");
    reader.read(Err(io::ErrorKind::ConnectionReset.into()));
    assert_eq!(
        reader.poll(|_| {}).map(drop),
        Err(LinkEnd::ReadFailed(io::ErrorKind::ConnectionReset))
    );
}

#[test]
fn outbox_writes_the_snapshot_then_everything_queued_at_once() {
    let mut out = Outbox::new(b"AT s\n".to_vec());
    assert_eq!(out.bytes(), b"AT s\n");
    assert_eq!(out.written(), 0, "the snapshot was never queued");
    assert!(out.bytes().is_empty());
    let queued: Vec<Arc<[u8]>> = vec![Arc::from(&b"AT 1\n"[..]), Arc::from(&b"AT 2\n"[..])];
    out.extend(queued);
    assert_eq!(out.bytes(), b"AT 1\nAT 2\n");
    assert_eq!(out.written(), 2, "one write carried both queued lines");
    assert_eq!(out.written(), 0);
}

/// A server with one link: each flood an IAMAT produces is queued on it (a sequence
/// number), and the test says how far the link's writer has written, or that it ended.
struct LinkedCore {
    node: Node<()>,
    queued: u64,
    written: u64,
    link_ended: bool,
    /// The highest sequence number the replies so far wait for.
    waits_for: u64,
    timed_out: usize,
}

impl LinkedCore {
    fn new() -> Self {
        let mut node = node("A");
        let _ = node.link_up("B", ());
        LinkedCore {
            node,
            queued: 0,
            written: 0,
            link_ended: false,
            waits_for: 0,
            timed_out: 0,
        }
    }
}

impl ClientCore for LinkedCore {
    fn line(&mut self, line: &[u8]) -> ClientStep {
        let mut floods = Vec::new();
        let step = self
            .node
            .client_line(line, Nanos::from_secs(20), &mut floods);
        self.queued += floods.len() as u64;
        if !floods.is_empty() {
            self.waits_for = self.queued;
        }
        step
    }
    fn floods_pending(&mut self) -> bool {
        !self.link_ended && self.written < self.waits_for
    }
    fn floods_timed_out(&mut self) {
        self.timed_out += 1;
        self.waits_for = 0;
    }
}

fn feed<S>(s: &mut ClientSession<S>, core: &mut LinkedCore, now: Instant, bytes: &[u8]) {
    let ClientAction::Read(room) = s.poll(now, core) else {
        panic!("expected a read")
    };
    room[..bytes.len()].copy_from_slice(bytes);
    s.read(Ok(bytes.len()), core);
}

#[test]
fn a_reply_that_flooded_waits_until_its_flood_is_written() {
    let mut core = LinkedCore::new();
    let mut s = ClientSession::<()>::new();
    let t0 = Instant::now();
    // Pipelined: a stale IAMAT (no flood of its own), two new ones, a bad line. All four
    // replies wait for the newest flood, and leave together, in request order.
    feed(
        &mut s,
        &mut core,
        t0,
        b"IAMAT c +1+1 10
",
    );
    assert!(matches!(
        s.poll(t0, &mut core),
        ClientAction::AwaitFloods { within } if within == FLOOD_WAIT
    ));
    core.written = 1;
    let ClientAction::Write(reply) = s.poll(t0, &mut core) else {
        panic!("the flood is written: the reply goes")
    };
    assert_eq!(reply, b"AT A +10.000000000 c +1+1 10\n");
    s.wrote(Ok(()));

    feed(
        &mut s,
        &mut core,
        t0,
        b"IAMAT c +1+1 9\nIAMAT d +2+2 11\nIAMAT e +3+3 12\nnope\n",
    );
    assert_eq!(core.queued, 3);
    let later = t0 + Duration::from_millis(500);
    assert!(matches!(
        s.poll(later, &mut core),
        ClientAction::AwaitFloods { within } if within == FLOOD_WAIT
    ));
    core.written = 2;
    let ClientAction::AwaitFloods { within } =
        s.poll(later + Duration::from_millis(100), &mut core)
    else {
        panic!("d's flood is written but e's is not: everything still waits")
    };
    assert_eq!(
        within,
        FLOOD_WAIT - Duration::from_millis(100),
        "one deadline"
    );
    core.written = 3;
    let ClientAction::Write(reply) = s.poll(later, &mut core) else {
        panic!("both floods written")
    };
    assert_eq!(
        String::from_utf8_lossy(reply),
        "AT A +11.000000000 c +1+1 9\nAT A +9.000000000 d +2+2 11\n\
         AT A +8.000000000 e +3+3 12\n? nope\n"
    );
    s.wrote(Ok(()));
    assert_eq!(core.timed_out, 0);
}

#[test]
fn a_reply_waiting_for_floods_goes_when_the_link_ends_or_the_wait_times_out() {
    let mut core = LinkedCore::new();
    let mut s = ClientSession::<()>::new();
    let t0 = Instant::now();
    feed(&mut s, &mut core, t0, b"IAMAT c +1+1 10\n");
    assert!(matches!(
        s.poll(t0, &mut core),
        ClientAction::AwaitFloods { .. }
    ));
    core.link_ended = true;
    assert!(
        matches!(s.poll(t0, &mut core), ClientAction::Write(_)),
        "a link that is down releases its waiters"
    );
    s.wrote(Ok(()));

    core.link_ended = false;
    feed(&mut s, &mut core, t0, b"IAMAT c +1+1 11\nWHATSAT c 10 5\n");
    assert!(matches!(
        s.poll(t0, &mut core),
        ClientAction::AwaitFloods { .. }
    ));
    let just_before = t0 + FLOOD_WAIT - Duration::from_nanos(1);
    assert!(matches!(
        s.poll(just_before, &mut core),
        ClientAction::AwaitFloods { within } if within == Duration::from_nanos(1)
    ));
    let ClientAction::Write(reply) = s.poll(t0 + FLOOD_WAIT, &mut core) else {
        panic!("a stuck link holds a reply at most FLOOD_WAIT")
    };
    assert!(reply.starts_with(b"AT A +9.000000000 c"));
    assert_eq!(core.timed_out, 1);
    s.wrote(Ok(()));
    // The places call waited for the IAMAT's reply; the next wait has a fresh deadline.
    assert!(matches!(
        s.poll(t0 + FLOOD_WAIT, &mut core),
        ClientAction::Connect { .. }
    ));
}

/// What an idle connection holds inline (in its task, or on its thread's stack): the
/// places call and its exchange are boxed, so they cost nothing while none is under way.
#[test]
fn an_idle_session_is_small_inline() {
    let inline = std::mem::size_of::<ClientSession<std::net::TcpStream>>();
    assert!(inline <= 192, "ClientSession is {inline} bytes inline");
    let mut session = ClientSession::<std::net::TcpStream>::new();
    let mut core = |_: &[u8]| ClientStep::Silent;
    match session.poll(Instant::now(), &mut core) {
        ClientAction::Read(room) => assert_eq!(room.len(), crate::framing::FIRST_READ),
        other => panic!("a new session reads first, got {other:?}"),
    }
}
