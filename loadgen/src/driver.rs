//! The one driver every scenario uses: connections over a mio event loop, paced by a
//! [`Schedule`], each reply checked ([`crate::reply`]) and timed into HDR histograms.
//!
//! Each loadgen thread runs its own loop over its share of the connections. A command's
//! latency runs from its intended send time (open loop) or its actual send time (closed
//! loop) to the moment the read that completed its reply returned. Only commands whose
//! start falls inside the measured window (after warm-up) count; what is still unanswered
//! a drain period after the window counts as timed out; a connection that fails turns every
//! command it carried, and every command scheduled on it later, into an error. So `sent`
//! is always `ok + wrong + errors + timeouts`, and the per-second counts add up to the
//! totals: every end of a command goes through [`Outcome::settle`].
//!
//! Open-loop sends are paced by a timerfd armed for the next intended send time, so the
//! loop sleeps in the kernel until then (nanosecond timer, no spinning) and the load
//! generator's CPU is spent on commands, not on waiting. The hot path reads the clock once
//! per loop turn and once per read, writes commands straight into the connection's buffer
//! and allocates nothing per command.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use herd_protocol::Nanos;
use herd_protocol::client::{Expect, ReplyReader};
use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

use crate::reply::{self, ClientName, Verdict};
use crate::schedule::{Schedule, Stop, intended};

/// Latencies are recorded in microseconds up to an hour.
const MAX_MICROS: u64 = 3_600_000_000;
const MAX_REPLY: usize = 1 << 20;
/// The most one read takes from a socket, straight into the connection's reply buffer.
const READ_MAX: usize = 16 * 1024;
const TIMER: Token = Token(usize::MAX);

/// What a command's reply must be about; its bytes went into the caller's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub expect: Expect,
    /// The client id the reply must name.
    pub client: ClientName,
}

/// Appends command number `seq` for connection `conn`, stamped `now` if it carries a time,
/// to the buffer, and says what its reply must be.
pub type WriteCommand = dyn Fn(usize, u64, Nanos, &mut Vec<u8>) -> Request + Send + Sync;

/// A shared [`WriteCommand`]: what a scenario sends.
pub type Workload = Arc<WriteCommand>;

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

/// Failed commands of one second, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failed {
    pub errors: u64,
    pub wrong: u64,
    pub timeouts: u64,
}

/// How a measured command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Answered correctly after this many microseconds.
    Ok(u64),
    Wrong,
    Error,
    Timeout,
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
    /// Latencies of each second of the measured window (by the command's start).
    pub seconds: Vec<Histogram<u64>>,
    /// Failed commands of each second (by the command's start); as long as `seconds`.
    pub failed_per_second: Vec<Failed>,
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
    pub fn new() -> Outcome {
        Outcome {
            latency: histogram(),
            sent: 0,
            ok: 0,
            wrong: 0,
            errors: 0,
            timeouts: 0,
            seconds: Vec::new(),
            failed_per_second: Vec::new(),
            send_lag: histogram(),
            measured: Duration::ZERO,
            first_error: None,
        }
    }

    fn grow(&mut self, second: usize) {
        while self.seconds.len() <= second {
            self.seconds.push(histogram());
            self.failed_per_second.push(Failed::default());
        }
    }

    /// The one place a measured command's end is counted: in the totals and in the second
    /// it started in. (`latency` is the sum of the seconds, added up in [`Outcome::finish`].)
    pub fn settle(&mut self, second: usize, end: End) {
        self.grow(second);
        let failed = &mut self.failed_per_second[second];
        match end {
            End::Ok(micros) => {
                self.ok += 1;
                let _ = self.seconds[second].record(micros.clamp(1, MAX_MICROS));
            }
            End::Wrong => {
                self.wrong += 1;
                failed.wrong += 1;
            }
            End::Error => {
                self.errors += 1;
                failed.errors += 1;
            }
            End::Timeout => {
                self.timeouts += 1;
                failed.timeouts += 1;
            }
        }
    }

    /// Adds the seconds up into `latency`.
    fn finish(&mut self) {
        for h in &self.seconds {
            let _ = self.latency.add(h);
        }
    }

    fn merge(&mut self, other: Outcome) {
        let _ = self.latency.add(&other.latency);
        let _ = self.send_lag.add(&other.send_lag);
        self.sent += other.sent;
        self.ok += other.ok;
        self.wrong += other.wrong;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        if let Some(last) = other.seconds.len().checked_sub(1) {
            self.grow(last);
        }
        for (i, (h, f)) in other
            .seconds
            .iter()
            .zip(&other.failed_per_second)
            .enumerate()
        {
            let _ = self.seconds[i].add(h);
            let mine = &mut self.failed_per_second[i];
            mine.errors += f.errors;
            mine.wrong += f.wrong;
            mine.timeouts += f.timeouts;
        }
        self.measured = self.measured.max(other.measured);
        self.first_error = self.first_error.take().or(other.first_error);
    }

    /// Commands answered correctly per second of the measured window.
    pub fn achieved_rate(&self) -> f64 {
        self.ok as f64 / self.measured.as_secs_f64().max(1e-9)
    }
}

impl Default for Outcome {
    fn default() -> Outcome {
        Outcome::new()
    }
}

/// Runs `plan` to completion on `plan.threads` threads and merges what they measured.
pub fn run(plan: &Plan) -> anyhow::Result<Outcome> {
    let threads = plan.threads.clamp(1, plan.connections.max(1));
    // Every thread opens its connections first; the clock starts when all have.
    let ready = Barrier::new(threads);
    let start = OnceLock::new();
    let outcomes: Vec<anyhow::Result<Outcome>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let ids: Vec<usize> = (0..plan.connections).filter(|i| i % threads == t).collect();
                let (ready, start) = (&ready, &start);
                s.spawn(move || {
                    let driver = Driver::new(plan, ids);
                    ready.wait();
                    let at = *start.get_or_init(|| Instant::now() + Duration::from_millis(5));
                    driver?.run(at)
                })
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
    client: ClientName,
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
    /// The time stamped on this connection's last command: stamps strictly increase, so a
    /// server never sees the same client's update twice with one time.
    last_stamp: i128,
    dead: bool,
    /// Listed in `Driver::dirty`, waiting for its queued bytes to be written.
    dirty: bool,
}

/// The timerfd that wakes the loop for the next open-loop send.
struct Pacer {
    fd: OwnedFd,
    /// The deadline the timer is set for, until it fires.
    armed: Option<Instant>,
}

impl Pacer {
    fn new(poll: &Poll) -> std::io::Result<Pacer> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        poll.registry()
            .register(&mut SourceFd(&fd.as_raw_fd()), TIMER, Interest::READABLE)?;
        Ok(Pacer { fd, armed: None })
    }

    /// Sets the timer to fire at `at` (a relative timer: `Instant` is CLOCK_MONOTONIC, but
    /// opaque). Setting it also clears an expiry not yet read, so the fd is never drained.
    fn arm(&mut self, at: Instant, now: Instant) -> std::io::Result<()> {
        if self.armed == Some(at) {
            return Ok(());
        }
        // A zero it_value would disarm the timer: the earliest is one nanosecond away.
        let wait = at
            .saturating_duration_since(now)
            .max(Duration::from_nanos(1));
        let value = Timespec {
            tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec)?;
        self.armed = Some(at);
        Ok(())
    }
}

struct Driver<'p> {
    plan: &'p Plan,
    poll: Poll,
    pacer: Option<Pacer>,
    conns: Vec<Conn>,
    measure_from: Instant,
    measure_to: Instant,
    closed_count: Option<u64>,
    issued_measured: u64,
    out: Outcome,
    dirty: Vec<usize>,
    /// Wall-clock time at `clock_base`, for the times commands carry.
    wall_base: Nanos,
    clock_base: Instant,
    /// The last `Instant` converted to wall-clock nanoseconds, and the result.
    wall_at: Option<(Instant, i128)>,
}

impl<'p> Driver<'p> {
    /// Opens the connections (unless each command gets its own).
    fn new(plan: &'p Plan, ids: Vec<usize>) -> anyhow::Result<Driver<'p>> {
        let poll = Poll::new()?;
        let pacer = match plan.schedule {
            Schedule::Open { .. } => Some(Pacer::new(&poll)?),
            Schedule::Closed => None,
        };
        let now = Instant::now();
        let mut driver = Driver {
            plan,
            poll,
            pacer,
            conns: Vec::with_capacity(ids.len()),
            measure_from: now,
            measure_to: now,
            closed_count: match (plan.stop, plan.schedule) {
                (Stop::Count(n), Schedule::Closed) => Some(n),
                _ => None,
            },
            issued_measured: 0,
            out: Outcome::new(),
            dirty: Vec::new(),
            wall_base: Nanos::from_system_time(SystemTime::now()),
            clock_base: now,
            wall_at: None,
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
                last_stamp: i128::MIN,
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

    fn second_of(&self, t: Instant) -> usize {
        t.saturating_duration_since(self.measure_from).as_secs() as usize
    }

    /// Counts how a command that started at `from` ended, if it was measured.
    fn settle(&mut self, from: Instant, measured: bool, end: End) {
        if measured {
            let s = self.second_of(from);
            self.out.settle(s, end);
        }
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
            self.settle(from, measured, End::Error);
        }
        self.out.first_error.get_or_insert_with(|| why.to_owned());
    }

    /// Queues a command that is due on connection `i`.
    ///
    /// A command counts as sent when the schedule issues it, not when it is written: one
    /// that waits behind a full pipeline and then fails or times out must still be in
    /// `sent`, or sent = ok + wrong + errors + timeouts would not hold.
    fn due(&mut self, i: usize, at: Instant, measured: bool, now: Instant) {
        if measured {
            self.out.sent += 1;
        }
        if self.conns[i].dead {
            return self.settle(at, measured, End::Error);
        }
        self.conns[i].backlog.push_back((at, measured));
        self.issue(i, now);
    }

    /// Moves backlog into the write buffer while the pipeline has room.
    fn issue(&mut self, i: usize, now: Instant) {
        let depth = if self.plan.churn {
            1
        } else {
            self.plan.pipeline.max(1)
        };
        // Every reply of one read shares `now`: convert it to wall-clock time once.
        let wall = match self.wall_at {
            Some((at, wall)) if at == now => wall,
            _ => {
                let wall = self.wall_base.0
                    + now.saturating_duration_since(self.clock_base).as_nanos() as i128;
                self.wall_at = Some((now, wall));
                wall
            }
        };
        while self.conns[i].inflight.len() < depth {
            let Some((at, measured)) = self.conns[i].backlog.pop_front() else {
                break;
            };
            if self.conns[i].stream.is_none()
                && let Err(e) = self.connect(i)
            {
                // Churn: this command's connection could not be made; it is an error.
                let why = format!("connecting to {}: {e}", self.conns[i].target);
                self.out.first_error.get_or_insert(why);
                self.settle(at, measured, End::Error);
                continue;
            }
            let conn = &mut self.conns[i];
            let stamp = wall.max(conn.last_stamp.saturating_add(1));
            conn.last_stamp = stamp;
            let request = (self.plan.workload)(conn.id, conn.seq, Nanos(stamp), &mut conn.out);
            conn.seq += 1;
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
            // Closed loop sends when it decides to: no lag to record.
            if measured && matches!(self.plan.schedule, Schedule::Open { .. }) {
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
            // A connection flushed early (right after its read) is no longer dirty.
            if std::mem::take(&mut self.conns[i].dirty) {
                self.flush(i);
            }
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
        loop {
            let conn = &mut self.conns[i];
            let Some(stream) = conn.stream.as_mut() else {
                return;
            };
            match conn.reader.read_from(stream, READ_MAX) {
                Ok(0) => {
                    let why = format!("{} closed the connection", conn.target);
                    return self.fail(i, &why);
                }
                Ok(n) => {
                    // Every reply this read completed arrived now.
                    self.replies(i, Instant::now());
                    if n < READ_MAX {
                        // A short read took everything the socket held; bytes that come
                        // later raise a new edge, so the read that would only say
                        // WouldBlock is skipped (one system call per reply, not two).
                        return;
                    }
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

    fn replies(&mut self, i: usize, now: Instant) {
        loop {
            let conn = &mut self.conns[i];
            let Some(front) = conn.inflight.front() else {
                return;
            };
            let verdict = match conn.reader.next_reply(front.expect) {
                Ok(Some(reply)) => reply::check(reply, front.expect, front.client.as_bytes()),
                Ok(None) => return,
                Err(_) => return self.fail(i, "reply over the size limit"),
            };
            let Some(done) = conn.inflight.pop_front() else {
                return;
            };
            let end = match verdict {
                Verdict::Ok => End::Ok(now.saturating_duration_since(done.from).as_micros() as u64),
                Verdict::Wrong => End::Wrong,
                Verdict::Error => End::Error,
            };
            self.settle(done.from, done.measured, end);
            if self.plan.churn
                && let Some(mut stream) = self.conns[i].stream.take()
            {
                let _ = self.poll.registry().deregister(&mut stream);
            }
            if self.plan.schedule == Schedule::Closed {
                self.refill(i, now);
            } else {
                self.issue(i, now);
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
        self.issue(i, now);
    }

    fn outstanding(&self) -> bool {
        self.conns
            .iter()
            .any(|c| !c.inflight.is_empty() || !c.backlog.is_empty())
    }

    /// Everything still unanswered when the drain period ends timed out.
    fn time_out_the_rest(&mut self) {
        let rest: Vec<(Instant, bool)> = self
            .conns
            .iter_mut()
            .flat_map(|c| {
                let inflight: Vec<_> = c.inflight.drain(..).map(|f| (f.from, f.measured)).collect();
                inflight.into_iter().chain(c.backlog.drain(..))
            })
            .collect();
        for (from, measured) in rest {
            self.settle(from, measured, End::Timeout);
        }
    }

    fn run(mut self, start: Instant) -> anyhow::Result<Outcome> {
        self.measure_from = start + self.plan.warmup;
        let window = match (self.plan.stop, self.plan.schedule) {
            (Stop::After(d), _) => d,
            (Stop::Count(n), Schedule::Open { rate }) => Duration::from_secs_f64(n as f64 / rate),
            // Closed loop counts commands; the window is only a safety bound.
            (Stop::Count(_), Schedule::Closed) => Duration::from_secs(3_600),
        };
        self.measure_to = self.measure_from + window;
        let mut events = Events::with_capacity(1024);
        let total = self.plan.connections;
        let mut heap: BinaryHeap<Reverse<(Instant, usize, u64)>> = BinaryHeap::new();
        if let Schedule::Open { rate } = self.plan.schedule {
            for (local, conn) in self.conns.iter().enumerate() {
                heap.push(Reverse((
                    start + intended(rate, total, conn.id, 0),
                    local,
                    0,
                )));
            }
        }
        std::thread::sleep(start.saturating_duration_since(Instant::now()));
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
                        start + intended(rate, total, self.conns[i].id, k + 1),
                        i,
                        k + 1,
                    )));
                    self.due(i, at, at >= self.measure_from, now);
                }
            }
            self.flush_dirty();
            let next_send = match self.plan.schedule {
                Schedule::Open { .. } => heap
                    .peek()
                    .map(|Reverse((at, _, _))| *at)
                    .filter(|at| *at < self.measure_to),
                Schedule::Closed => None,
            };
            let sending_done = match self.plan.schedule {
                Schedule::Open { .. } => next_send.is_none(),
                Schedule::Closed => {
                    now >= self.measure_to
                        || self.closed_count.is_some_and(|n| self.issued_measured >= n)
                }
            };
            if sending_done && !self.outstanding() {
                break;
            }
            if sending_done && now >= drain_until {
                self.time_out_the_rest();
                break;
            }
            // Sleep until the next send (the timer wakes us), a reply, or a bounded while
            // for the drain deadline.
            let bound = if sending_done {
                drain_until.saturating_duration_since(now)
            } else {
                self.measure_to.saturating_duration_since(now)
            };
            let mut timeout = bound.min(Duration::from_millis(100));
            if let (Some(at), Some(pacer)) = (next_send, self.pacer.as_mut()) {
                if at <= now {
                    timeout = Duration::ZERO;
                } else {
                    pacer.arm(at, now)?;
                }
            }
            self.poll.poll(&mut events, Some(timeout))?;
            for event in &events {
                let i = event.token().0;
                if event.token() == TIMER {
                    if let Some(pacer) = self.pacer.as_mut() {
                        pacer.armed = None;
                    }
                    continue;
                }
                if event.is_writable() {
                    self.flush(i);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read(i);
                    // Send what the replies released now, not after the whole batch of
                    // events: the server gets its next commands while this loop reads the
                    // other connections (still one write per connection per turn).
                    if self.conns[i].dirty {
                        self.conns[i].dirty = false;
                        self.flush(i);
                    }
                }
            }
            self.flush_dirty();
        }
        self.out.measured = match self.closed_count {
            Some(_) => Instant::now().saturating_duration_since(self.measure_from),
            None => window,
        };
        self.out.finish();
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_is_counted_in_its_total_and_its_second() {
        let mut o = Outcome::new();
        let ends = [
            (0, End::Ok(120)),
            (0, End::Error),
            (2, End::Wrong),
            (2, End::Timeout),
            (2, End::Ok(80)),
            (1, End::Error),
            (3, End::Timeout),
        ];
        for (second, end) in ends {
            o.settle(second, end);
        }
        o.finish();
        assert_eq!((o.ok, o.errors, o.wrong, o.timeouts), (2, 2, 1, 2));
        assert_eq!(o.seconds.len(), 4);
        assert_eq!(o.failed_per_second.len(), 4);
        let per = |f: fn(&Failed) -> u64| o.failed_per_second.iter().map(f).collect::<Vec<_>>();
        assert_eq!(per(|f| f.errors), [1, 1, 0, 0]);
        assert_eq!(per(|f| f.wrong), [0, 0, 1, 0]);
        assert_eq!(per(|f| f.timeouts), [0, 0, 1, 1]);
        let oks: Vec<u64> = o.seconds.iter().map(Histogram::len).collect();
        assert_eq!(oks, [1, 0, 1, 0]);
        assert_eq!(o.latency.len(), o.ok);
        assert_eq!(o.latency.max(), o.latency.highest_equivalent(120));
    }

    #[test]
    fn merged_outcomes_keep_the_per_second_sums() {
        let (mut a, mut b) = (Outcome::new(), Outcome::new());
        a.settle(0, End::Error);
        b.settle(3, End::Error);
        b.settle(1, End::Ok(5));
        a.finish();
        b.finish();
        a.merge(b);
        assert_eq!(a.errors, 2);
        let errors: u64 = a.failed_per_second.iter().map(|f| f.errors).sum();
        assert_eq!(errors, a.errors);
        assert_eq!(a.latency.len(), 1);
        assert_eq!(a.seconds.len(), a.failed_per_second.len());
    }
}
