//! The one driver every scenario uses: connections over a mio event loop, paced by a
//! [`Schedule`], each command checked against what was asked and timed into HDR
//! histograms.
//!
//! Each loadgen thread runs its own loop over its share of the connections. A command's
//! latency runs from its intended send time (open loop) or its actual send time (closed
//! loop) to the moment its whole reply has arrived. Only commands whose start falls inside
//! the measured window (after warm-up) count; what is still unanswered a drain period after
//! the window counts as timed out; a connection that fails turns every command it carried,
//! and every command scheduled on it later, into an error. So sent = ok + wrong + errors +
//! timeouts, always.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use herd_protocol::client::{Expect, ReplyReader};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::schedule::{Schedule, Stop, intended};

/// Latencies are recorded in microseconds up to an hour.
const MAX_MICROS: u64 = 3_600_000_000;
const MAX_REPLY: usize = 1 << 20;

/// One command to send and what its reply must be about.
#[derive(Debug, Clone)]
pub struct Request {
    pub bytes: Vec<u8>,
    pub expect: Expect,
    /// The client id the reply must name.
    pub client: String,
}

/// Builds command number `seq` for connection `conn`.
pub type Workload = Arc<dyn Fn(usize, u64) -> Request + Send + Sync>;

/// Everything one run needs.
#[derive(Clone)]
pub struct Plan {
    /// Connection `i` goes to `targets[i % targets.len()]`.
    pub targets: Vec<SocketAddr>,
    pub connections: usize,
    /// Commands in flight per connection (1 = strict request/reply).
    pub pipeline: usize,
    pub schedule: Schedule,
    pub warmup: Duration,
    pub stop: Stop,
    /// How long to wait for replies after the last command is due.
    pub drain: Duration,
    /// A new connection for every command (pipeline is then 1).
    pub churn: bool,
    pub threads: usize,
    pub workload: Workload,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("connections", &self.connections)
            .field("pipeline", &self.pipeline)
            .field("schedule", &self.schedule)
            .field("stop", &self.stop)
            .field("churn", &self.churn)
            .finish()
    }
}

/// What one run measured (its measured window only).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub latency: Histogram<u64>,
    pub sent: u64,
    pub ok: u64,
    pub wrong: u64,
    pub errors: u64,
    pub timeouts: u64,
    /// One histogram per second of the measured window.
    pub seconds: Vec<Histogram<u64>>,
    pub errors_per_second: Vec<u64>,
    /// How late commands were sent compared to their intended time (open loop).
    pub send_lag: Histogram<u64>,
    pub measured: Duration,
    pub first_error: Option<String>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

impl Outcome {
    fn new() -> Outcome {
        Outcome {
            latency: histogram(),
            sent: 0,
            ok: 0,
            wrong: 0,
            errors: 0,
            timeouts: 0,
            seconds: Vec::new(),
            errors_per_second: Vec::new(),
            send_lag: histogram(),
            measured: Duration::ZERO,
            first_error: None,
        }
    }

    fn second(&mut self, i: usize) -> &mut Histogram<u64> {
        while self.seconds.len() <= i {
            self.seconds.push(histogram());
            self.errors_per_second.push(0);
        }
        &mut self.seconds[i]
    }

    fn merge(&mut self, other: Outcome) {
        let _ = self.latency.add(&other.latency);
        let _ = self.send_lag.add(&other.send_lag);
        self.sent += other.sent;
        self.ok += other.ok;
        self.wrong += other.wrong;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        for (i, h) in other.seconds.iter().enumerate() {
            let _ = self.second(i).add(h);
            self.errors_per_second[i] += other.errors_per_second[i];
        }
        self.measured = self.measured.max(other.measured);
        self.first_error = self.first_error.take().or(other.first_error);
    }

    /// Commands answered correctly per second of the measured window.
    pub fn achieved_rate(&self) -> f64 {
        self.ok as f64 / self.measured.as_secs_f64().max(1e-9)
    }
}

/// Runs `plan` to completion on `plan.threads` threads and merges what they measured.
pub fn run(plan: &Plan) -> anyhow::Result<Outcome> {
    let threads = plan.threads.clamp(1, plan.connections.max(1));
    // Connections are set up before the clock starts; all threads then share one start.
    let start = Instant::now()
        + Duration::from_millis(50)
        + Duration::from_micros(20 * plan.connections as u64);
    let outcomes: Vec<anyhow::Result<Outcome>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let ids: Vec<usize> = (0..plan.connections).filter(|i| i % threads == t).collect();
                s.spawn(move || Driver::new(plan, ids, start)?.run())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("driver thread panicked")))
            })
            .collect()
    });
    let mut total = Outcome::new();
    for outcome in outcomes {
        total.merge(outcome?);
    }
    Ok(total)
}

struct InFlight {
    /// Intended send time (open loop) or actual send time (closed loop).
    from: Instant,
    expect: Expect,
    client: String,
    measured: bool,
}

struct Conn {
    id: usize,
    target: SocketAddr,
    stream: Option<TcpStream>,
    reader: ReplyReader,
    out: Vec<u8>,
    written: usize,
    wants_write: bool,
    inflight: VecDeque<InFlight>,
    /// Commands due but held back because `pipeline` are already in flight.
    backlog: VecDeque<(Instant, bool)>,
    seq: u64,
    dead: bool,
    /// Listed in `Driver::dirty`, waiting for its queued bytes to be written.
    dirty: bool,
}

enum Verdict {
    Ok,
    Wrong,
    Error,
}

/// Whether a reply answers what was asked.
fn classify(reply: &[u8], expect: Expect, client: &str) -> Verdict {
    let first_line = reply.split(|&b| b == b'\n').next().unwrap_or_default();
    let names_client = first_line.starts_with(b"AT ")
        && first_line
            .split(|&b| b == b' ')
            .nth(3)
            .is_some_and(|c| c == client.as_bytes());
    if !names_client {
        return Verdict::Wrong;
    }
    match expect {
        Expect::Line => Verdict::Ok,
        Expect::Whatsat => {
            let body = &reply[first_line.len()..];
            let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
            if has(b"\"status\": \"OK\"") || has(b"\"status\": \"ZERO_RESULTS\"") {
                Verdict::Ok
            } else {
                // The server answered, but its places call failed.
                Verdict::Error
            }
        }
    }
}

struct Driver<'p> {
    plan: &'p Plan,
    poll: Poll,
    conns: Vec<Conn>,
    start: Instant,
    measure_from: Instant,
    measure_to: Instant,
    closed_count: Option<u64>,
    issued_measured: u64,
    out: Outcome,
    dirty: Vec<usize>,
}

impl<'p> Driver<'p> {
    fn new(plan: &'p Plan, ids: Vec<usize>, start: Instant) -> anyhow::Result<Driver<'p>> {
        let poll = Poll::new()?;
        let measure_from = start + plan.warmup;
        let window = match (plan.stop, plan.schedule) {
            (Stop::After(d), _) => d,
            (Stop::Count(n), Schedule::Open { rate }) => Duration::from_secs_f64(n as f64 / rate),
            // Closed loop counts commands; the window is only a safety bound.
            (Stop::Count(_), Schedule::Closed) => Duration::from_secs(3_600),
        };
        let mut driver = Driver {
            plan,
            poll,
            conns: Vec::with_capacity(ids.len()),
            start,
            measure_from,
            measure_to: measure_from + window,
            closed_count: match (plan.stop, plan.schedule) {
                (Stop::Count(n), Schedule::Closed) => Some(n),
                _ => None,
            },
            issued_measured: 0,
            out: Outcome::new(),
            dirty: Vec::new(),
        };
        for (local, id) in ids.into_iter().enumerate() {
            let target = plan.targets[id % plan.targets.len()];
            driver.conns.push(Conn {
                id,
                target,
                stream: None,
                reader: ReplyReader::new(MAX_REPLY),
                out: Vec::new(),
                written: 0,
                wants_write: false,
                inflight: VecDeque::new(),
                backlog: VecDeque::new(),
                seq: 0,
                dead: false,
                dirty: false,
            });
            if !plan.churn
                && let Err(e) = driver.connect(local)
            {
                driver.fail(local, &format!("connecting to {target}: {e}"));
            }
        }
        Ok(driver)
    }

    fn connect(&mut self, i: usize) -> std::io::Result<()> {
        let std =
            std::net::TcpStream::connect_timeout(&self.conns[i].target, Duration::from_secs(2))?;
        std.set_nodelay(true)?;
        std.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(std);
        self.poll
            .registry()
            .register(&mut stream, Token(i), Interest::READABLE)?;
        let conn = &mut self.conns[i];
        conn.stream = Some(stream);
        conn.reader = ReplyReader::new(MAX_REPLY);
        conn.wants_write = false;
        Ok(())
    }

    /// The connection failed: everything it carried and everything queued on it is an error.
    fn fail(&mut self, i: usize, why: &str) {
        let conn = &mut self.conns[i];
        if let Some(mut stream) = conn.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        if !self.plan.churn {
            conn.dead = true;
        }
        let failed: Vec<(Instant, bool)> = conn
            .inflight
            .drain(..)
            .map(|f| (f.from, f.measured))
            .chain(conn.backlog.drain(..))
            .collect();
        conn.out.clear();
        conn.written = 0;
        for (from, measured) in failed {
            if measured {
                self.out.errors += 1;
                let s = self.second_of(from);
                self.out.second(s);
                self.out.errors_per_second[s] += 1;
            }
        }
        self.out.first_error.get_or_insert_with(|| why.to_owned());
    }

    fn second_of(&self, t: Instant) -> usize {
        t.saturating_duration_since(self.measure_from).as_secs() as usize
    }

    /// Queues a command that is due on connection `i`.
    ///
    /// A command counts as sent when the schedule issues it, not when it is written: one
    /// that waits behind a full pipeline and then fails or times out must still be in
    /// `sent`, or sent = ok + wrong + errors + timeouts would not hold.
    fn due(&mut self, i: usize, at: Instant, measured: bool) {
        if measured {
            self.out.sent += 1;
        }
        if self.conns[i].dead {
            if measured {
                self.out.errors += 1;
            }
            return;
        }
        self.conns[i].backlog.push_back((at, measured));
        self.issue(i);
    }

    /// Moves backlog into the write buffer while the pipeline has room.
    fn issue(&mut self, i: usize) {
        let depth = if self.plan.churn {
            1
        } else {
            self.plan.pipeline.max(1)
        };
        while self.conns[i].inflight.len() < depth {
            let Some((at, measured)) = self.conns[i].backlog.pop_front() else {
                break;
            };
            if self.conns[i].stream.is_none()
                && let Err(e) = self.connect(i)
            {
                // Churn: this command's connection could not be made; it is an error.
                if measured {
                    self.out.errors += 1;
                }
                let why = format!("connecting to {}: {e}", self.conns[i].target);
                self.out.first_error.get_or_insert(why);
                continue;
            }
            let now = Instant::now();
            let conn = &mut self.conns[i];
            let request = (self.plan.workload)(conn.id, conn.seq);
            conn.seq += 1;
            conn.out.extend_from_slice(&request.bytes);
            let from = match self.plan.schedule {
                Schedule::Open { .. } => at,
                Schedule::Closed => now,
            };
            conn.inflight.push_back(InFlight {
                from,
                expect: request.expect,
                client: request.client,
                measured,
            });
            if measured {
                let lag = now.saturating_duration_since(at).as_micros() as u64;
                let _ = self.out.send_lag.record(lag.clamp(1, MAX_MICROS));
            }
        }
        if !self.conns[i].out.is_empty() && !self.conns[i].dirty {
            self.conns[i].dirty = true;
            self.dirty.push(i);
        }
    }

    /// Writes what every connection has queued since the last call: one write per
    /// connection per loop turn, however many commands it holds.
    fn flush_dirty(&mut self) {
        for i in std::mem::take(&mut self.dirty) {
            self.conns[i].dirty = false;
            self.flush(i);
        }
    }

    fn flush(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        let Some(stream) = conn.stream.as_mut() else {
            return;
        };
        while conn.written < conn.out.len() {
            match stream.write(&conn.out[conn.written..]) {
                Ok(n) => conn.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if !conn.wants_write {
                        conn.wants_write = true;
                        let _ = self.poll.registry().reregister(
                            stream,
                            Token(i),
                            Interest::READABLE | Interest::WRITABLE,
                        );
                    }
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    let why = format!("writing to {}: {e}", conn.target);
                    return self.fail(i, &why);
                }
            }
        }
        conn.out.clear();
        conn.written = 0;
        if conn.wants_write {
            conn.wants_write = false;
            let _ = self
                .poll
                .registry()
                .reregister(stream, Token(i), Interest::READABLE);
        }
    }

    fn read(&mut self, i: usize) {
        let mut buf = [0u8; 64 * 1024];
        loop {
            let conn = &mut self.conns[i];
            let Some(stream) = conn.stream.as_mut() else {
                return;
            };
            match stream.read(&mut buf) {
                Ok(0) => {
                    let why = format!("{} closed the connection", conn.target);
                    return self.fail(i, &why);
                }
                Ok(n) => {
                    conn.reader.extend(&buf[..n]);
                    self.replies(i);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    let why = format!("reading from {}: {e}", conn.target);
                    return self.fail(i, &why);
                }
            }
        }
    }

    fn replies(&mut self, i: usize) {
        loop {
            let conn = &mut self.conns[i];
            let Some(front) = conn.inflight.front() else {
                return;
            };
            let verdict = match conn.reader.next_reply(front.expect) {
                Ok(Some(reply)) => classify(reply, front.expect, &front.client),
                Ok(None) => return,
                Err(_) => return self.fail(i, "reply over the size limit"),
            };
            let Some(done) = conn.inflight.pop_front() else {
                return;
            };
            let now = Instant::now();
            if done.measured {
                let micros = (now.saturating_duration_since(done.from).as_micros() as u64)
                    .clamp(1, MAX_MICROS);
                let s = self.second_of(done.from);
                match verdict {
                    Verdict::Ok => {
                        self.out.ok += 1;
                        let _ = self.out.latency.record(micros);
                        let _ = self.out.second(s).record(micros);
                    }
                    Verdict::Wrong => self.out.wrong += 1,
                    Verdict::Error => {
                        self.out.errors += 1;
                        self.out.second(s);
                        self.out.errors_per_second[s] += 1;
                    }
                }
            }
            if self.plan.churn
                && let Some(mut stream) = self.conns[i].stream.take()
            {
                let _ = self.poll.registry().deregister(&mut stream);
            }
            if self.plan.schedule == Schedule::Closed {
                self.refill(i, now);
            } else {
                self.issue(i);
            }
        }
    }

    /// Closed loop: replace each answered command while the window is open.
    fn refill(&mut self, i: usize, now: Instant) {
        if now >= self.measure_to
            || self.closed_count.is_some_and(|n| self.issued_measured >= n)
            || self.conns[i].dead
        {
            return;
        }
        let measured = now >= self.measure_from;
        if measured {
            self.issued_measured += 1;
            self.out.sent += 1;
        }
        self.conns[i].backlog.push_back((now, measured));
        self.issue(i);
    }

    fn outstanding(&self) -> bool {
        self.conns
            .iter()
            .any(|c| !c.inflight.is_empty() || !c.backlog.is_empty())
    }

    fn run(mut self) -> anyhow::Result<Outcome> {
        let mut events = Events::with_capacity(1024);
        let total = self.plan.connections;
        let mut heap: BinaryHeap<Reverse<(Instant, usize, u64)>> = BinaryHeap::new();
        if let Schedule::Open { rate } = self.plan.schedule {
            for (local, conn) in self.conns.iter().enumerate() {
                heap.push(Reverse((
                    self.start + intended(rate, total, conn.id, 0),
                    local,
                    0,
                )));
            }
        }
        std::thread::sleep(self.start.saturating_duration_since(Instant::now()));
        if self.plan.schedule == Schedule::Closed {
            let now = Instant::now();
            for i in 0..self.conns.len() {
                for _ in 0..self.plan.pipeline.max(1) {
                    self.refill(i, now);
                }
            }
            self.flush_dirty();
        }
        let drain_until = self.measure_to + self.plan.drain;
        loop {
            let now = Instant::now();
            if let Schedule::Open { rate } = self.plan.schedule {
                while let Some(&Reverse((at, i, k))) = heap.peek() {
                    if at > now || at >= self.measure_to {
                        break;
                    }
                    heap.pop();
                    heap.push(Reverse((
                        self.start + intended(rate, total, self.conns[i].id, k + 1),
                        i,
                        k + 1,
                    )));
                    self.due(i, at, at >= self.measure_from);
                }
            }
            self.flush_dirty();
            let sending_done = match self.plan.schedule {
                Schedule::Open { .. } => heap
                    .peek()
                    .is_none_or(|Reverse((at, _, _))| *at >= self.measure_to),
                Schedule::Closed => {
                    now >= self.measure_to
                        || self.closed_count.is_some_and(|n| self.issued_measured >= n)
                }
            };
            if sending_done && !self.outstanding() {
                break;
            }
            if sending_done && now >= drain_until {
                for conn in &mut self.conns {
                    self.out.timeouts += conn.inflight.iter().filter(|f| f.measured).count() as u64;
                    self.out.timeouts += conn.backlog.iter().filter(|b| b.1).count() as u64;
                    conn.inflight.clear();
                    conn.backlog.clear();
                }
                break;
            }
            let next = match (self.plan.schedule, heap.peek()) {
                (Schedule::Open { .. }, Some(Reverse((at, _, _)))) if !sending_done => {
                    at.saturating_duration_since(now)
                }
                _ => Duration::from_millis(5).min(drain_until.saturating_duration_since(now)),
            };
            // epoll sleeps in whole milliseconds: sleep to within a millisecond of the next
            // send, then spin, so sends go out on time.
            let timeout = if next > Duration::from_micros(1_500) {
                next - Duration::from_millis(1)
            } else {
                Duration::ZERO
            };
            self.poll.poll(&mut events, Some(timeout))?;
            for event in &events {
                let i = event.token().0;
                if event.is_writable() {
                    self.flush(i);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read(i);
                }
            }
            self.flush_dirty();
        }
        self.out.measured = match self.closed_count {
            Some(_) => Instant::now().saturating_duration_since(self.measure_from),
            None => self.measure_to.saturating_duration_since(self.measure_from),
        };
        Ok(self.out)
    }
}
