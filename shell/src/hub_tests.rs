use std::net::SocketAddr;

use herd_protocol::ClientAction;

use super::*;
use crate::log::Logger;
use herd_protocol::HerdConfig;

const CONFIG: &str = "[herd]\nkey = \"k\"\n[places]\nbase_url = \"http://127.0.0.1:9\"\nkey = \"p\"\n\
     [limits]\nmax_connections = 1\n\
     [[server]]\nname = \"A\"\naddr = \"127.0.0.1:12001\"\nneighbours = [\"B\"]\n\
     [[server]]\nname = \"B\"\naddr = \"127.0.0.1:12002\"\nneighbours = [\"A\"]\n";

fn hub_with(log: Logger, offer: OfferFn<u8>) -> Arc<Hub<u8>> {
    let config = HerdConfig::parse(CONFIG, "t").expect("valid");
    let mut server = Server::new(config, "t", "A", 1).expect("server A");
    server.log = log;
    Hub::new(server, (), offer).expect("node")
}

fn flood(hub: &Hub<u8>, time: &str) {
    let line = format!("IAMAT c +1+1 {time}");
    let _ = hub.client_line(
        1,
        line.as_bytes(),
        &mut FloodWaits::default(),
        &mut Vec::new(),
    );
}

fn from() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5000))
}

#[test]
fn a_full_queue_resets_its_link_and_a_closed_one_does_not() {
    let hub = hub_with(Logger::disabled("A"), |_, _| Offer::Closed);
    let _ = hub.link_up("B", 1, 7, b"");
    flood(&hub, "1");
    assert_eq!(
        hub.node().links_up().len(),
        1,
        "a closing link is left to end by itself"
    );
    let hub = hub_with(Logger::disabled("A"), |_, _| Offer::Full);
    let _ = hub.link_up("B", 1, 7, b"");
    flood(&hub, "1");
    assert!(
        hub.node().links_up().is_empty(),
        "a full queue takes the link down"
    );
}

#[test]
fn connection_ids_start_at_one_and_accept_errors_are_not_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with(Logger::to_dir(dir.path(), "A").expect("log"), |_, _| {
        Offer::Queued
    });
    let mut client = hub.accept::<()>(from()).expect("below the limit");
    assert_eq!(client.conn(), 1, "no real connection gets id 0");
    assert_eq!(
        hub.accept::<()>(from()).map(|c| c.conn()).err(),
        Some(BUSY_REPLY),
        "past max_connections the busy line is the answer"
    );
    assert_eq!(hub.accept_failed(&io::Error::other("not a resource")), None);
    let emfile = io::Error::from_raw_os_error(24);
    assert_eq!(hub.accept_failed(&emfile), Some(crate::RESOURCE_PAUSE));

    let ClientAction::Read(room) = client.poll() else {
        panic!("a new connection reads first")
    };
    room[..16].copy_from_slice(b"IAMAT c +1+1 10\n");
    client.read(Ok(16));
    assert!(matches!(client.poll(), ClientAction::Write(b) if b.starts_with(b"AT A ")));
    client.wrote(Ok(()));
    client.read(Ok(0));
    assert!(matches!(client.poll(), ClientAction::Close(_)));
    drop(client);
    assert!(hub.accept::<()>(from()).is_ok(), "the permit is given back");

    hub.server.log.flush();
    let text = std::fs::read_to_string(dir.path().join("A.log")).expect("log");
    let events: Vec<&str> = text
        .lines()
        .map(|l| l.splitn(3, ' ').nth(2).unwrap_or_default())
        .collect();
    let want = [
        "conn 1 accepted from 127.0.0.1:5000",
        "refused 127.0.0.1:5000: 1 connections open",
        "accept failed: not a resource",
        "accept failed: Too many open files",
        "conn 1 in: IAMAT c +1+1 10",
        "conn 1 out (",
        "conn 1 closed: client closed",
        "conn 2 accepted from 127.0.0.1:5000",
    ];
    assert_eq!(events.len(), want.len(), "{text}");
    for (got, want) in events.iter().zip(want) {
        assert!(got.starts_with(want), "{got:?} should start with {want:?}");
    }
}

#[test]
fn a_peer_link_handles_lines_floods_and_ends_once() {
    let hub = hub_with(Logger::disabled("A"), |_, _| Offer::Queued);
    let (mut link, snapshot) = hub
        .link_up("B", 2, 9, b"AT B +0.000000000 x +1+1 5\n")
        .expect("neighbour");
    assert!(snapshot.bytes().is_empty());
    let _ = link.poll().expect("open");
    assert!(
        hub.node().store().get("x").is_some(),
        "pending bytes are handled first"
    );
    link.read(Ok(0));
    let end = link.poll().map(drop).expect_err("closed");
    assert_eq!(end, LinkEnd::PeerClosed);
    link.end(end);
    assert!(hub.node().links_up().is_empty());
    assert!(
        hub.link_up("Z", 3, 9, b"").is_none(),
        "only neighbours link"
    );
}

#[test]
fn thread_per_core_listeners_share_one_port() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = free.local_addr().expect("addr");
    drop(free);
    let mut config = HerdConfig::parse(CONFIG, "t").expect("valid");
    config.servers[0].addr = addr;
    let server = Server::new(config, "t", "A", 2).expect("server A");
    let first = server.bind_shared().expect("first listener");
    let second = server
        .bind_shared()
        .expect("SO_REUSEPORT lets a second bind");
    assert_eq!(first.local_addr().ok(), second.local_addr().ok());
    let e = server
        .bind()
        .expect_err("a plain listener cannot join them");
    assert!(e.to_string().contains("cannot listen on"), "{e}");
    // A cross-thread channel as the link handle: the hub is shared by threads.
    let hub = Hub::new(
        server,
        (),
        |tx: &std::sync::mpsc::SyncSender<Arc<[u8]>>, wire| match tx.try_send(wire) {
            Ok(()) => Offer::Queued,
            Err(std::sync::mpsc::TrySendError::Full(_)) => Offer::Full,
            Err(_) => Offer::Closed,
        },
    )
    .expect("node");
    let (tx, rx) = std::sync::mpsc::sync_channel(4);
    let _ = hub.link_up("B", 1, tx, b"").expect("neighbour");
    let other = Arc::clone(&hub);
    let step = std::thread::spawn(move || {
        other.client_line(
            1,
            b"IAMAT c +1+1 1",
            &mut FloodWaits::default(),
            &mut Vec::new(),
        )
    })
    .join()
    .expect("thread");
    assert!(matches!(step, ClientStep::Reply(_)));
    let wire = rx.try_recv().expect("the flood crossed threads");
    assert!(wire.starts_with(b"AT A "));
}

fn send_line<S>(client: &mut Client<u8, S>, line: &[u8]) {
    let ClientAction::Read(room) = client.poll() else {
        panic!("expected a read")
    };
    room[..line.len()].copy_from_slice(line);
    client.read(Ok(line.len()));
}

#[test]
fn a_reply_waits_until_its_flood_is_written_or_its_link_ends() {
    let hub = hub_with(Logger::disabled("A"), |_, _| Offer::Queued);
    let (link, mut out) = hub.link_up("B", 2, 9, b"").expect("neighbour");
    let mut client = hub.accept::<()>(from()).expect("below the limit");
    send_line(&mut client, b"IAMAT c +1+1 10\n");
    assert!(matches!(client.poll(), ClientAction::AwaitFloods { .. }));
    assert!(
        matches!(client.poll(), ClientAction::AwaitFloods { .. }),
        "still held: nothing was written"
    );

    // A thread blocks on the wait; the link's writer writing the queued line wakes it.
    let started = Instant::now();
    let waiter = std::thread::spawn(move || {
        client.floods_written_blocking(Duration::from_secs(60));
        client
    });
    out.extend([Arc::<[u8]>::from(&b"AT A +1.000000000 c +1+1 10\n"[..])]);
    out.written();
    let mut client = waiter.join().expect("waiter");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "woken by the write, not by the timeout"
    );
    assert!(matches!(client.poll(), ClientAction::Write(b) if b.starts_with(b"AT A ")));
    client.wrote(Ok(()));

    // A stale IAMAT floods nothing and is not held.
    send_line(&mut client, b"IAMAT c +1+1 9\n");
    assert!(matches!(client.poll(), ClientAction::Write(_)));
    client.wrote(Ok(()));

    // The link goes down with the next flood still queued: the reply is released.
    send_line(&mut client, b"IAMAT c +1+1 11\n");
    assert!(matches!(client.poll(), ClientAction::AwaitFloods { .. }));
    link.end(LinkEnd::PeerClosed);
    assert!(matches!(client.poll(), ClientAction::Write(b) if b.starts_with(b"AT A ")));
    client.wrote(Ok(()));

    // No link up: nothing to wait for.
    send_line(&mut client, b"IAMAT c +1+1 12\n");
    assert!(matches!(client.poll(), ClientAction::Write(_)));
}

/// The queue of the one link in `a_full_queue_releases_...`: full once this is set.
static QUEUE_FULL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[test]
fn a_full_queue_releases_the_replies_waiting_on_its_link() {
    let hub = hub_with(Logger::disabled("A"), |_, _| {
        if QUEUE_FULL.load(Ordering::SeqCst) {
            Offer::Full
        } else {
            Offer::Queued
        }
    });
    let (_link, _out) = hub.link_up("B", 2, 9, b"").expect("neighbour");
    let mut first = hub.accept::<()>(from()).expect("below the limit");
    send_line(&mut first, b"IAMAT c +1+1 10\n");
    assert!(matches!(first.poll(), ClientAction::AwaitFloods { .. }));
    drop(first);
    let mut waiting = hub.accept::<()>(from()).expect("the permit came back");
    send_line(&mut waiting, b"IAMAT d +1+1 10\n");
    assert!(matches!(waiting.poll(), ClientAction::AwaitFloods { .. }));

    // The writer never writes; the queue fills, and the next flood resets the link.
    QUEUE_FULL.store(true, Ordering::SeqCst);
    let mut waits = FloodWaits::default();
    let _ = hub.client_line(3, b"IAMAT e +1+1 10", &mut waits, &mut Vec::new());
    assert!(
        !waits.pending(),
        "a flood that could not be queued is not waited for"
    );
    assert!(hub.node().links_up().is_empty(), "the link is reset");
    assert!(
        matches!(waiting.poll(), ClientAction::Write(b) if b.starts_with(b"AT A ")),
        "its waiters are released"
    );
}
