//! Real sockets on 127.0.0.1, each read bounded by a timeout so no test can hang.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::*;

const TIMEOUT: Duration = Duration::from_secs(5);

/// An echo server on a free port that prefixes each chunk it echoes with `tag`.
fn echo(tag: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0; 1024];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    let mut out = tag.to_vec();
                    out.extend_from_slice(&buf[..n]);
                    if s.write_all(&out).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn connect(proxy: &Proxy) -> TcpStream {
    let s = TcpStream::connect(proxy.addr()).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s
}

/// Reads exactly `n` bytes.
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).expect("read");
    buf
}

/// True if the peer closed or reset the connection (as opposed to a read timeout).
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// Polls `cond` until it holds (bounded): the proxy's threads act asynchronously.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "not within {TIMEOUT:?}: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn forwards_both_ways_and_counts() {
    let proxy = Proxy::start(Some(echo(b">"))).expect("proxy");
    let mut s = connect(&proxy);
    s.write_all(b"hello").expect("write");
    assert_eq!(read_n(&mut s, 6), b">hello");
    let stats = proxy.stats();
    assert_eq!(stats.forwarded, 1);
    assert_eq!(stats.bytes, [5, 6]);
    assert_eq!(proxy.open_connections(), 1);
}

#[test]
fn drop_resets_open_connections_refuses_new_ones_until_healed() {
    let proxy = Proxy::start(Some(echo(b">"))).expect("proxy");
    let mut before = connect(&proxy);
    before.write_all(b"a").expect("write");
    assert_eq!(read_n(&mut before, 2), b">a");

    proxy.drop_link();
    assert!(closed(&mut before), "open connection survived a drop");
    let mut during = connect(&proxy);
    assert!(closed(&mut during), "new connection accepted during a drop");
    assert_eq!(proxy.stats().refused, 1);

    proxy.heal();
    let mut after = connect(&proxy);
    after.write_all(b"b").expect("write");
    assert_eq!(read_n(&mut after, 2), b">b");
}

#[test]
fn one_way_cut_discards_one_direction_and_keeps_the_connection() {
    let proxy = Proxy::start(Some(echo(b">"))).expect("proxy");
    let mut s = connect(&proxy);
    s.write_all(b"1").expect("write");
    assert_eq!(read_n(&mut s, 2), b">1");

    // Replies are cut: the request reaches the echo server, its answer is discarded.
    proxy.cut(Direction::FromTarget);
    s.write_all(b"2").expect("write");
    wait_until("reply discarded", || proxy.stats().discarded[1] == 2);
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    assert!(!closed(&mut s), "a cut must not close the connection");
    assert_eq!(proxy.stats().bytes[0], 2, "request still forwarded");

    proxy.heal();
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s.write_all(b"3").expect("write");
    assert_eq!(read_n(&mut s, 2), b">3", "the cut reply stays lost");
    assert_eq!(proxy.stats().discarded, [0, 2]);

    proxy.cut(Direction::ToTarget);
    s.write_all(b"4").expect("write");
    wait_until("4 discarded", || proxy.stats().discarded[0] == 1);
    proxy.heal();
    s.write_all(b"5").expect("write");
    assert_eq!(read_n(&mut s, 2), b">5");
    assert_eq!(proxy.stats().discarded, [1, 2]);
}

#[test]
fn delay_holds_each_chunk_back() {
    let proxy = Proxy::start(Some(echo(b">"))).expect("proxy");
    let mut s = connect(&proxy);
    proxy.set_delay(Duration::from_millis(150));
    let start = Instant::now();
    s.write_all(b"x").expect("write");
    assert_eq!(read_n(&mut s, 2), b">x");
    // Delayed on the way there and on the way back.
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    proxy.heal();
    assert_eq!(proxy.faults(), Faults::default());
}

#[test]
fn target_can_be_set_later_and_changed() {
    let proxy = Proxy::start(None).expect("proxy");
    let mut s = connect(&proxy);
    assert!(closed(&mut s), "no target: closed at once");
    proxy.set_target(echo(b"A")).expect("loopback");
    let mut a = connect(&proxy);
    wait_until("a forwarded", || proxy.stats().forwarded == 1);
    proxy.set_target(echo(b"B")).expect("loopback");
    let mut b = connect(&proxy);
    a.write_all(b"1").expect("write");
    b.write_all(b"2").expect("write");
    assert_eq!(read_n(&mut a, 2), b"A1");
    assert_eq!(read_n(&mut b, 2), b"B2");
}

#[test]
fn a_closing_end_closes_the_other() {
    let proxy = Proxy::start(Some(echo(b">"))).expect("proxy");
    let mut s = connect(&proxy);
    s.write_all(b"x").expect("write");
    assert_eq!(read_n(&mut s, 2), b">x");
    s.shutdown(std::net::Shutdown::Write).expect("half-close");
    assert!(closed(&mut s));
}

#[test]
fn refuses_targets_off_this_machine() {
    let far: SocketAddr = "192.0.2.1:80".parse().expect("addr");
    assert!(Proxy::start(Some(far)).is_err());
    let proxy = Proxy::start(None).expect("proxy");
    assert!(proxy.set_target(far).is_err());
}
