//! The core's hot paths, one benchmark each: what every backend pays per message before its
//! runtime does anything. Short measurement times keep the whole set under a minute
//! (`cargo bench -p herd-protocol`); docs/PERFORMANCE.md quotes the figures.
//!
//! Each setup checks that the path it times is the one named (a stored update really
//! floods, a session round really answers), so a change that makes a benchmark measure
//! something cheaper fails here instead of reporting a flattering number.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use herd_protocol::message::{Command, Record, format_client_time, parse_line};
use herd_protocol::node::{ClientStep, Flood, Node, PeerStep};
use herd_protocol::places::ResponseReader;
use herd_protocol::session::{ClientAction, ClientSession};
use herd_protocol::store::{LocationStore, Offer};
use herd_protocol::{HerdConfig, Nanos};

/// The default herd's shape: Bernard has three neighbours, so an IAMAT at Bernard with
/// every link up floods three times, and an AT from one neighbour floods to two.
const HERD: &str = r#"
[herd]
key = "herdbench-link-key"
[places]
base_url = "http://127.0.0.1:8090"
key = "herdbench-places-key"
timeout_ms = 5000
[[server]]
name = "Bernard"
addr = "127.0.0.1:12001"
neighbours = ["Jaquez", "Johnson", "Juzang"]
[[server]]
name = "Jaquez"
addr = "127.0.0.1:12003"
neighbours = ["Bernard"]
[[server]]
name = "Johnson"
addr = "127.0.0.1:12004"
neighbours = ["Bernard"]
[[server]]
name = "Juzang"
addr = "127.0.0.1:12005"
neighbours = ["Bernard"]
"#;

const IAMAT: &[u8] = b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";
const NOW: Nanos = Nanos(1_621_464_828_000_000_000);

/// A link handle as the shells hold one: a bounded channel sender (cloned per flood).
type Link = SyncSender<Arc<[u8]>>;
/// The other end of a [`Link`], kept so its sender stays connected.
type LinkEnd = Receiver<Arc<[u8]>>;

fn node() -> Node<Link> {
    let config = HerdConfig::parse(HERD, "bench").expect("bench herd is valid");
    Node::new(&config, "Bernard").expect("Bernard is in the herd")
}

/// Bernard with all three links up (the receivers are kept so the senders stay valid).
fn linked_node() -> (Node<Link>, Vec<LinkEnd>) {
    let mut node = node();
    let mut receivers = Vec::new();
    for peer in ["Jaquez", "Johnson", "Juzang"] {
        let (tx, rx) = sync_channel(1);
        let _ = node.link_up(peer, tx).expect("a neighbour");
        receivers.push(rx);
    }
    (node, receivers)
}

/// The `i`th IAMAT of one client, each newer than the one before.
fn iamat(i: u64) -> Vec<u8> {
    let time = format_client_time(Nanos(1_621_464_827_000_000_000 + i128::from(i)));
    format!("IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 {time}").into_bytes()
}

/// The `i`th AT line flooded from Jaquez about one client, each newer than the one before.
fn at_line(i: u64) -> Vec<u8> {
    let time = format_client_time(Nanos(1_621_464_827_000_000_000 + i128::from(i)));
    format!("AT Jaquez +0.040501497 kiwi.cs.ucla.edu +34.068930-118.445127 {time}").into_bytes()
}

/// A places answer shaped like the bundled service's: 20 results, trimmed to 5 in replies.
fn places_response() -> Vec<u8> {
    let results: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"{{"geometry":{{"location":{{"lat":34.{i:02}1,"lng":-118.{i:02}2}}}},"name":"Place {i}","place_id":"geonames-{i}","vicinity":"Los Angeles, US","types":["locality","political"]}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"html_attributions":[],"results":[{}],"status":"OK"}}"#,
        results.join(",")
    );
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body.as_bytes());
    response
}

fn parse_and_format(c: &mut Criterion) {
    assert!(matches!(parse_line(IAMAT), Ok(Some(Command::Iamat { .. }))));
    c.bench_function("client line parse (IAMAT)", |b| {
        b.iter(|| parse_line(black_box(IAMAT)).map(|c| c.is_some()))
    });

    let Ok(Some(Command::Iamat {
        client,
        location,
        time,
    })) = parse_line(IAMAT)
    else {
        unreachable!("checked above")
    };
    c.bench_function("AT reply format", |b| {
        b.iter(|| Record::from_iamat("Bernard", black_box(NOW), client, location, time))
    });

    let at = at_line(1);
    assert!(Record::parse(&at).is_ok());
    c.bench_function("AT line parse (from a peer)", |b| {
        b.iter(|| Record::parse(black_box(&at)))
    });
}

fn store(c: &mut Criterion) {
    let mut store = LocationStore::new(1_000_000);
    let mut i = 0;
    c.bench_function("store update (newer record)", |b| {
        b.iter_batched(
            || {
                i += 1;
                Record::parse(&at_line(i)).expect("valid AT line")
            },
            |record| {
                let offer = store.offer(record);
                debug_assert_eq!(offer, Offer::Stored);
                offer
            },
            BatchSize::SmallInput,
        )
    });
    // One client throughout (none at all when a filter skipped the benchmark).
    assert!(store.len() <= 1);
}

fn node_paths(c: &mut Criterion) {
    let (mut node, _receivers) = linked_node();
    let mut floods: Vec<Flood<Link>> = Vec::new();
    let step = node.client_line(&iamat(0), NOW, &mut floods);
    assert!(matches!(step, ClientStep::Reply(ref r) if r.starts_with(b"AT Bernard ")));
    assert_eq!(
        floods.len(),
        3,
        "an IAMAT with three links up floods three times"
    );
    let mut i = 0;
    c.bench_function("node IAMAT with 3 links up (store + flood decision)", |b| {
        b.iter_batched(
            || {
                i += 1;
                iamat(i)
            },
            // Clearing drops the last round's floods, as a shell does once it has queued them.
            |line| {
                floods.clear();
                node.client_line(&line, NOW, &mut floods)
            },
            BatchSize::SmallInput,
        )
    });
    assert_eq!(floods.len(), 3);

    let (mut node, _receivers) = linked_node();
    floods.clear();
    let step = node.peer_line("Jaquez", &at_line(0), &mut floods);
    assert_eq!(step, PeerStep::Stored);
    let mut i = 0;
    c.bench_function("peer AT line, newer (store + flood to 2)", |b| {
        b.iter_batched(
            || {
                i += 1;
                at_line(i)
            },
            |line| {
                floods.clear();
                node.peer_line("Jaquez", &line, &mut floods)
            },
            BatchSize::SmallInput,
        )
    });
    assert_eq!(floods.len(), 2);

    let stale = at_line(0);
    assert_eq!(
        node.peer_line("Jaquez", &stale, &mut floods),
        PeerStep::Stale
    );
    c.bench_function("peer AT line, stale (end of a flood)", |b| {
        b.iter(|| node.peer_line("Jaquez", black_box(&stale), &mut floods))
    });
}

fn places(c: &mut Criterion) {
    let response = places_response();
    let parsed = ResponseReader::new()
        .feed(&response)
        .expect("well-formed")
        .expect("complete");
    assert_eq!(parsed.status, 200);
    c.bench_function("HTTP response parse (20 results, one read)", |b| {
        b.iter(|| ResponseReader::new().feed(black_box(&response)))
    });

    let mut node = node();
    let _ = node.client_line(&iamat(0), NOW, &mut Vec::new());
    let ClientStep::Places(call) =
        node.client_line(b"WHATSAT kiwi.cs.ucla.edu 10 5", NOW, &mut Vec::new())
    else {
        panic!("a WHATSAT about a known client makes a places call")
    };
    let reply = call.finish(Ok(parsed.clone()));
    assert_eq!(
        String::from_utf8_lossy(&reply).matches("\"name\"").count(),
        5
    );
    c.bench_function("places JSON trim to 5 + reply", |b| {
        b.iter_batched(
            || parsed.clone(),
            |response| call.finish(Ok(response)),
            BatchSize::SmallInput,
        )
    });
}

/// One client-session round as a shell runs it: lend room, the read lands, the lines are
/// handled, the replies are written, until every byte has been read and the session asks
/// to read again. Returns how many reply bytes were written.
fn session_round(
    session: &mut ClientSession<()>,
    node: &mut Node<Link>,
    floods: &mut Vec<Flood<Link>>,
    mut bytes: &[u8],
    at: Instant,
) -> usize {
    floods.clear();
    let mut core = |line: &[u8]| node.client_line(line, NOW, floods);
    let mut written = 0;
    loop {
        match session.poll(at, &mut core) {
            ClientAction::Read(_) if bytes.is_empty() => return written,
            ClientAction::Read(room) => {
                let n = room.len().min(bytes.len());
                room[..n].copy_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                session.read(Ok(n), &mut core);
            }
            ClientAction::Write(reply) => {
                written += reply.len();
                session.wrote(Ok(()));
            }
            other => panic!("an IAMAT session only reads and writes, got {other:?}"),
        }
    }
}

fn session(c: &mut Criterion) {
    let (mut node, _receivers) = linked_node();
    let mut session = ClientSession::<()>::new();
    let mut floods = Vec::new();
    let at = Instant::now();
    let mut one = iamat(0);
    one.push(b'\n');
    let reply = session_round(&mut session, &mut node, &mut floods, &one, at);
    assert!(reply > 0 && floods.len() == 3);
    let mut sixteen = Vec::new();
    for i in 1..=16 {
        sixteen.extend_from_slice(&iamat(i));
        sixteen.push(b'\n');
    }
    let replies = session_round(&mut session, &mut node, &mut floods, &sixteen, at);
    assert!(replies > 15 * reply, "16 replies come back");
    let mut i = 16;
    c.bench_function("client session round: 1 IAMAT in, AT out", |b| {
        b.iter_batched(
            || {
                i += 1;
                let mut line = iamat(i);
                line.push(b'\n');
                line
            },
            |bytes| session_round(&mut session, &mut node, &mut floods, &bytes, at),
            BatchSize::SmallInput,
        )
    });

    c.bench_function("client session round: 16 pipelined IAMATs", |b| {
        b.iter_batched(
            || {
                let mut bytes = Vec::new();
                for _ in 0..16 {
                    i += 1;
                    bytes.extend_from_slice(&iamat(i));
                    bytes.push(b'\n');
                }
                bytes
            },
            |bytes| session_round(&mut session, &mut node, &mut floods, &bytes, at),
            BatchSize::SmallInput,
        )
    });
}

fn quick() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = quick();
    targets = parse_and_format, store, node_paths, places, session
}
criterion_main!(benches);
