//! A small open-loop client load: IAMATs (and optionally WHATSATs) at a fixed rate, spread
//! over every server, with a history of what the herd acknowledged.
//!
//! One sender and one reader thread per server, each with one pipelined connection. The
//! sender issues commands on a fixed schedule whether or not replies came back (open loop);
//! while its connection is down it skips its slots (counted as `unsent`) and reconnects.
//! Every IAMAT carries a client time from one herd-wide counter, so a client's times are
//! strictly increasing whichever server it talks to, and the newest acknowledged update of
//! each client is simply the largest acknowledged time.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use herd_protocol::Nanos;
use herd_protocol::client::{Expect, ReplyReader};
use herd_protocol::message::{format_client_time, format_location, iamat_line, whatsat_line};

/// Wait before reconnecting a client connection that failed.
const RECONNECT: Duration = Duration::from_millis(50);
/// Longest any reply may take; a connection silent that long is dropped and redialled.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Commands in flight on one connection; past it the sender skips slots (open loop, bounded).
const MAX_IN_FLIGHT: usize = 4_096;

/// A small deterministic PRNG (splitmix64): seeded runs repeat their choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What load to offer.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Commands per second over the whole herd.
    pub rate: f64,
    /// Distinct client ids (`f0000`, `f0001`, ...).
    pub clients: usize,
    /// Share of commands that are WHATSATs (for a client already acknowledged somewhere).
    pub whatsat_share: f64,
    pub seed: u64,
    /// Pipelined connections to each server, each with its own sender and reader. A
    /// connection makes one places call at a time (docs/PROTOCOL.md), so a WHATSAT load
    /// needs enough of them: see [`connections_for`].
    pub connections_per_server: usize,
}

/// Connections per server that keep each connection's places calls at most half busy:
/// `rate * whatsat_share` calls a second, each taking `places_latency`, spread over
/// `servers` servers. A connection's replies leave in order, so a connection whose places
/// calls queue holds up its IAMAT replies too, and past full it falls behind for good.
pub fn connections_for(
    rate: f64,
    whatsat_share: f64,
    places_latency: Duration,
    servers: usize,
) -> usize {
    let busy = rate * whatsat_share * places_latency.as_secs_f64();
    let total = (busy / 0.5).ceil().max(1.0);
    ((total / servers.max(1) as f64).ceil() as usize).max(1)
}

/// The newest acknowledged update of a client: its time and the server that acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub time: Nanos,
    pub server: String,
}

/// Counts and the newest acknowledged update of every client.
#[derive(Debug)]
pub struct History {
    acked: Mutex<Vec<Option<Ack>>>,
    pub sent: AtomicU64,
    pub acks: AtomicU64,
    pub whatsats: AtomicU64,
    /// Slots skipped because the connection was down or too far behind.
    pub unsent: AtomicU64,
    /// Commands sent whose reply never came (connection lost) or was not the expected one.
    pub failed: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl History {
    pub fn new(clients: usize) -> History {
        History {
            acked: Mutex::new(vec![None; clients]),
            sent: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            whatsats: AtomicU64::new(0),
            unsent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Records that `server` acknowledged client `client`'s update at `time`.
    pub fn ack(&self, client: usize, time: Nanos, server: &str) {
        if let Some(slot) = lock(&self.acked).get_mut(client)
            && slot.as_ref().is_none_or(|a| a.time < time)
        {
            *slot = Some(Ack {
                time,
                server: server.to_owned(),
            });
        }
        self.acks.fetch_add(1, Ordering::Relaxed);
    }

    /// The newest acknowledged time of every client, by index.
    pub fn acked(&self) -> Vec<Option<Nanos>> {
        lock(&self.acked)
            .iter()
            .map(|a| a.as_ref().map(|a| a.time))
            .collect()
    }

    /// Who acknowledged client `client`'s newest update.
    pub fn acked_by(&self, client: usize) -> Option<String> {
        lock(&self.acked)
            .get(client)
            .and_then(|a| a.as_ref().map(|a| a.server.clone()))
    }

    fn known(&self, client: usize) -> bool {
        lock(&self.acked).get(client).is_some_and(Option::is_some)
    }
}

pub fn client_id(index: usize) -> String {
    format!("f{index:04}")
}

/// One command in flight: what reply to expect and, for an IAMAT, what it would prove.
#[derive(Debug, Clone, Copy)]
enum Pending {
    Iamat { client: usize, time: Nanos },
    Whatsat,
}

struct Shared {
    history: Arc<History>,
    stop: AtomicBool,
    paused: AtomicBool,
    /// Herd-wide client-time counter, in microseconds after `base`.
    seq: AtomicU64,
    base: Nanos,
    /// Commands in flight, per connection (sender).
    in_flight: Vec<Mutex<VecDeque<Pending>>>,
}

/// Running load; [`Load::stop`] (or dropping it) ends it.
pub struct Load {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Load").finish_non_exhaustive()
    }
}

impl Load {
    /// Starts `connections_per_server` senders per address, each at an equal share of
    /// `rate`.
    pub fn start(spec: &LoadSpec, addrs: &[SocketAddr], history: Arc<History>) -> Load {
        let now = Nanos::from_system_time(SystemTime::now());
        let per_server = spec.connections_per_server.max(1);
        let targets: Vec<SocketAddr> = addrs
            .iter()
            .flat_map(|&a| std::iter::repeat_n(a, per_server))
            .collect();
        let shared = Arc::new(Shared {
            history,
            stop: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            seq: AtomicU64::new(1),
            base: now,
            in_flight: targets.iter().map(|_| Mutex::default()).collect(),
        });
        let interval = Duration::from_secs_f64(targets.len().max(1) as f64 / spec.rate.max(0.001));
        let threads = targets
            .into_iter()
            .enumerate()
            .map(|(i, addr)| {
                let sender = Sender {
                    shared: Arc::clone(&shared),
                    slot: i,
                    addr,
                    spec: spec.clone(),
                    rng: Rng::new(spec.seed ^ (i as u64 + 1).wrapping_mul(0x1234_5678_9abc)),
                };
                std::thread::spawn(move || sender.run(interval))
            })
            .collect();
        Load { shared, threads }
    }

    /// Stops issuing new commands until [`Load::resume`], then waits (bounded) until every
    /// reply already due has arrived or its connection failed.
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + REPLY_TIMEOUT;
        while self.shared.in_flight.iter().any(|q| !lock(q).is_empty()) && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::SeqCst);
    }

    pub fn history(&self) -> &History {
        &self.shared.history
    }

    /// Stops the load after the replies already due (bounded), and joins every thread.
    pub fn stop(mut self) {
        self.pause();
        self.end();
    }

    fn end(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.end();
    }
}

struct Sender {
    shared: Arc<Shared>,
    /// This sender's connection: its index in `Shared::in_flight`.
    slot: usize,
    addr: SocketAddr,
    spec: LoadSpec,
    rng: Rng,
}

/// A live connection: the write half here, a reader thread for the replies.
struct Conn {
    stream: TcpStream,
    dead: Arc<AtomicBool>,
    reader: JoinHandle<()>,
}

impl Conn {
    fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        let _ = self.reader.join();
    }
}

impl Sender {
    fn run(mut self, interval: Duration) {
        let mut conn: Option<Conn> = None;
        let mut next = Instant::now();
        let mut retry_at = Instant::now();
        while !self.shared.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now < next {
                // The open-loop schedule: wait for the next slot.
                std::thread::sleep((next - now).min(Duration::from_millis(20)));
                continue;
            }
            if self.shared.paused.load(Ordering::SeqCst) {
                // Paused slots are not owed afterwards.
                next = now + interval;
                continue;
            }
            next += interval;
            if conn.as_ref().is_some_and(|c| c.dead.load(Ordering::SeqCst)) {
                if let Some(c) = conn.take() {
                    c.close();
                }
                retry_at = now + RECONNECT;
            }
            if conn.is_none() && now >= retry_at {
                conn = self.connect();
                if conn.is_none() {
                    retry_at = now + RECONNECT;
                }
            }
            let sent = match conn.as_mut() {
                Some(c) => self.send_one(c),
                None => false,
            };
            if !sent {
                self.shared.history.unsent.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(c) = conn {
            c.close();
        }
        self.fail_in_flight();
    }

    fn connect(&self) -> Option<Conn> {
        let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).ok()?;
        stream.set_nodelay(true).ok()?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).ok()?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT)).ok()?;
        let read = stream.try_clone().ok()?;
        // Whatever was in flight on the previous connection will never be answered.
        self.fail_in_flight();
        let dead = Arc::new(AtomicBool::new(false));
        let reader = {
            let dead = Arc::clone(&dead);
            let shared = Arc::clone(&self.shared);
            let slot = self.slot;
            std::thread::spawn(move || {
                read_replies(read, &shared, slot);
                dead.store(true, Ordering::SeqCst);
                // Replies that can no longer come.
                let lost = lock(&shared.in_flight[slot]).drain(..).count();
                shared
                    .history
                    .failed
                    .fetch_add(lost as u64, Ordering::Relaxed);
            })
        };
        Some(Conn {
            stream,
            dead,
            reader,
        })
    }

    fn fail_in_flight(&self) {
        let lost = lock(&self.shared.in_flight[self.slot]).drain(..).count();
        self.shared
            .history
            .failed
            .fetch_add(lost as u64, Ordering::Relaxed);
    }

    /// Sends the next command; false if it could not be sent.
    fn send_one(&mut self, conn: &mut Conn) -> bool {
        let client = self.rng.below(self.spec.clients);
        let whatsat =
            self.rng.unit() < self.spec.whatsat_share && self.shared.history.known(client);
        let (line, pending) = if whatsat {
            (whatsat_line(&client_id(client), "10", 3), Pending::Whatsat)
        } else {
            let micros = self.shared.seq.fetch_add(1, Ordering::Relaxed);
            let time = Nanos(self.shared.base.0 + i128::from(micros) * 1_000);
            let lat = self.rng.unit() * 170.0 - 85.0;
            let lng = self.rng.unit() * 350.0 - 175.0;
            let line = iamat_line(
                &client_id(client),
                &format_location(lat, lng),
                &format_client_time(time),
            );
            (line, Pending::Iamat { client, time })
        };
        {
            let mut queue = lock(&self.shared.in_flight[self.slot]);
            if queue.len() >= MAX_IN_FLIGHT {
                return false;
            }
            // Queued before the write so the reader always finds it.
            queue.push_back(pending);
        }
        if conn.stream.write_all(line.as_bytes()).is_err() {
            conn.dead.store(true, Ordering::SeqCst);
            return false;
        }
        let counter = match pending {
            Pending::Iamat { .. } => &self.shared.history.sent,
            Pending::Whatsat => &self.shared.history.whatsats,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        true
    }
}

/// Reads replies in order and matches each to the oldest command in flight.
fn read_replies(mut stream: TcpStream, shared: &Shared, slot: usize) {
    let mut replies = ReplyReader::new(1 << 20);
    let mut buf = vec![0; 64 * 1024];
    loop {
        loop {
            let Some(expect) = lock(&shared.in_flight[slot]).front().map(|p| match p {
                Pending::Iamat { .. } => Expect::Line,
                Pending::Whatsat => Expect::Whatsat,
            }) else {
                break;
            };
            let reply = match replies.next_reply(expect) {
                Ok(Some(reply)) => reply.to_vec(),
                Ok(None) => break,
                Err(_) => return,
            };
            let Some(pending) = lock(&shared.in_flight[slot]).pop_front() else {
                break;
            };
            judge_reply(&reply, pending, &shared.history);
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => replies.extend(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// An IAMAT counts as acknowledged only if the reply is the AT line for exactly that update.
fn judge_reply(reply: &[u8], pending: Pending, history: &History) {
    match pending {
        Pending::Iamat { client, time } => {
            let line = reply.strip_suffix(b"\n").unwrap_or(reply);
            match herd_protocol::Record::parse(line) {
                Ok(r) if r.client() == client_id(client) && r.time() == time => {
                    history.ack(client, time, r.server());
                }
                _ => {
                    history.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Pending::Whatsat => {
            if !reply.starts_with(b"AT ") {
                history.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_matching_at_line_is_an_ack() {
        let h = History::new(2);
        let t = Nanos(1_700_000_000_000_001_000);
        let pending = Pending::Iamat { client: 1, time: t };
        let good = b"AT S1 +0.000100000 f0001 +10.000000+20.000000 1700000000.000001000\n";
        let wrong_time = b"AT S1 +0.000100000 f0001 +10.000000+20.000000 1700000000.000002000\n";
        let wrong_client = b"AT S1 +0.000100000 f0000 +10.000000+20.000000 1700000000.000001000\n";
        let invalid = b"? IAMAT f0001 +10+20 1700000000.000001000\n";
        for bad in [&wrong_time[..], wrong_client, invalid] {
            judge_reply(bad, pending, &h);
        }
        assert_eq!(h.acked(), [None, None]);
        assert_eq!(h.failed.load(Ordering::Relaxed), 3);
        judge_reply(good, pending, &h);
        assert_eq!(h.acked(), [None, Some(t)]);
        assert_eq!(h.acked_by(1).as_deref(), Some("S1"));
        // An older ack never replaces a newer one.
        h.ack(1, Nanos(t.0 - 1), "S2");
        assert_eq!(h.acked(), [None, Some(t)]);
        assert_eq!(h.acked_by(1).as_deref(), Some("S1"));
    }

    #[test]
    fn enough_connections_that_places_calls_never_queue_for_long() {
        let ms = Duration::from_millis;
        // No WHATSATs, or a trickle: one connection per server.
        assert_eq!(connections_for(200.0, 0.0, ms(20), 5), 1);
        assert_eq!(connections_for(300.0, 0.2, ms(20), 5), 1);
        // 2,000/s, 20% WHATSAT at 20 ms: 8 connections busy on average, 16 at half
        // busy, 4 per server.
        assert_eq!(connections_for(2_000.0, 0.2, ms(20), 5), 4);
        // 8,668/s: 34.7 busy, 70 at half busy, 14 per server.
        assert_eq!(connections_for(8_668.0, 0.2, ms(20), 5), 14);
        for rate in [100.0, 1_000.0, 5_000.0, 20_000.0] {
            let per = connections_for(rate, 0.2, ms(20), 5);
            let busy = rate * 0.2 * 0.020 / (per * 5) as f64;
            assert!(
                busy <= 0.5,
                "{rate}/s: {per} per server, each {busy:.2} busy"
            );
        }
    }

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            let x = a.below(5);
            assert_eq!(x, b.below(5));
            assert!(x < 5);
            let u = a.unit();
            assert_eq!(u, b.unit());
            assert!((0.0..1.0).contains(&u));
        }
    }
}
