//! The per-server log: one line per event in `<DIR>/<SERVER>.log`, shared by every backend.
//!
//! The request path formats an event into its own thread's line buffer, outside any lock,
//! then appends the line to a shared buffer under a mutex held only for that copy. A writer
//! thread takes the buffer when it holds 64 KiB, when a second has passed, or when a flush
//! is asked for, and writes it to the file: no request waits on a file write, and requests
//! on different threads never wait on each other's formatting. (Formatting stays on the
//! request's thread on purpose: one formatting thread for every worker would become the
//! bottleneck, or need a queue bound that drops events.) Outputs are logged as their first
//! line and size, not in full: a WHATSAT reply is kilobytes of JSON and copying it would
//! make the log the benchmark.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use herd_protocol::Nanos;
use herd_protocol::message::write_client_time;

const BUFFER_BYTES: usize = 64 * 1024;
const FLUSH_EVERY: Duration = Duration::from_secs(1);

thread_local! {
    /// Each thread formats its events here, so formatting needs no lock.
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

/// What happened, for the log.
#[derive(Debug)]
pub enum Event<'a> {
    Listening(SocketAddr),
    Accepted {
        conn: u64,
        from: SocketAddr,
    },
    Refused {
        from: SocketAddr,
        limit: usize,
    },
    /// `accept` itself failed (out of descriptors and the like); no connection exists.
    AcceptFailed {
        error: &'a str,
    },
    Input {
        conn: u64,
        line: &'a [u8],
    },
    Output {
        conn: u64,
        bytes: &'a [u8],
    },
    Closed {
        conn: u64,
        reason: &'a str,
    },
    LinkUp {
        peer: &'a str,
        conn: u64,
    },
    LinkDown {
        peer: &'a str,
        reason: &'a str,
    },
    DialFailed {
        peer: &'a str,
        error: &'a str,
        retry_in_ms: u128,
    },
    PeerLine {
        peer: &'a str,
        line: &'a [u8],
        outcome: &'a str,
    },
    QueueFull {
        peer: &'a str,
    },
    /// Replies waited `FLOOD_WAIT` for floods still unwritten on `links` links, and went.
    FloodWaitTimedOut {
        conn: u64,
        links: usize,
    },
    PlacesFailed {
        conn: u64,
        error: &'a str,
    },
    Stopped,
}

/// A server's log, shared by all its tasks or threads. Cloning shares the file.
#[derive(Debug, Clone)]
pub struct Logger {
    server: Arc<str>,
    sink: Option<Arc<Sink>>,
}

/// What the request path and the writer thread share.
#[derive(Debug)]
struct Sink {
    pending: Mutex<Pending>,
    /// Wakes the writer: the buffer is full or a flush was asked for.
    wake: Condvar,
    /// Wakes `flush` callers: the writer has written up to a flush request.
    written: Condvar,
}

#[derive(Debug, Default)]
struct Pending {
    buf: Vec<u8>,
    /// Flushes asked for, and the last one whose bytes are in the file.
    asked: u64,
    done: u64,
}

impl Sink {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic elsewhere cannot leave the buffer worse than a lost line.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Logger {
    /// Appends to `<dir>/<server>.log`, creating the directory if needed, and starts the
    /// thread that writes it.
    pub fn to_dir(dir: &Path, server: &str) -> std::io::Result<Logger> {
        std::fs::create_dir_all(dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{server}.log")))?;
        let sink = Arc::new(Sink {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            written: Condvar::new(),
        });
        let writer = Arc::clone(&sink);
        std::thread::Builder::new()
            .name(format!("log-{server}"))
            .spawn(move || write_loop(&writer, file))?;
        Ok(Logger {
            server: server.into(),
            sink: Some(sink),
        })
    }

    pub fn disabled(server: &str) -> Logger {
        Logger {
            server: server.into(),
            sink: None,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.sink.is_some()
    }

    pub fn event(&self, now: Nanos, event: Event<'_>) {
        let Some(sink) = &self.sink else { return };
        LINE.with_borrow_mut(|line| {
            line.clear();
            let _ = write_client_time(&mut Bytes(line), now);
            line.push(b' ');
            line.extend_from_slice(self.server.as_bytes());
            line.push(b' ');
            describe(line, &event);
            line.push(b'\n');
            let mut pending = sink.lock();
            let before = pending.buf.len();
            pending.buf.extend_from_slice(line);
            // Only the event that fills the buffer wakes the writer: a notify is a system
            // call, and every event after it until the writer takes the buffer would repeat it.
            if fills(before, pending.buf.len()) {
                sink.wake.notify_one();
            }
        });
    }

    /// Returns once every event logged before the call is in the file.
    pub fn flush(&self) {
        let Some(sink) = &self.sink else { return };
        let mut pending = sink.lock();
        pending.asked += 1;
        let asked = pending.asked;
        sink.wake.notify_one();
        while pending.done < asked {
            pending = sink
                .written
                .wait(pending)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Whether appending took the shared buffer from below `BUFFER_BYTES` to at least it.
fn fills(before: usize, after: usize) -> bool {
    before < BUFFER_BYTES && after >= BUFFER_BYTES
}

/// The writer thread: takes what was logged and writes it, until no logger is left.
fn write_loop(sink: &Arc<Sink>, mut file: File) {
    let mut taken = Vec::with_capacity(BUFFER_BYTES);
    loop {
        let mut pending = sink.lock();
        if pending.buf.len() < BUFFER_BYTES && pending.asked == pending.done {
            pending = sink
                .wake
                .wait_timeout(pending, FLUSH_EVERY)
                .map_or_else(|p| p.into_inner().0, |(p, _)| p);
        }
        std::mem::swap(&mut pending.buf, &mut taken);
        let asked = pending.asked;
        drop(pending);
        // A failing log must not take the server down; the lines are lost, nothing else.
        let _ = file.write_all(&taken);
        taken.clear();
        let mut pending = sink.lock();
        pending.done = asked;
        sink.written.notify_all();
        // Only this thread holds the sink: every logger is gone and all is written.
        if Arc::strong_count(sink) == 1 && pending.buf.is_empty() {
            return;
        }
    }
}

/// The line buffer as a `fmt::Write`, for the protocol's own time formatting.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends `conn <id> `, which begins the lines of every command.
fn push_conn(out: &mut Vec<u8>, conn: u64) {
    out.extend_from_slice(b"conn ");
    out.extend_from_slice(itoa::Buffer::new().format(conn).as_bytes());
    out.push(b' ');
}

/// Appends what happened. The events of every command (a line in, a write out) are built
/// from bytes directly; the rest go through the formatter.
fn describe(out: &mut Vec<u8>, event: &Event<'_>) {
    use std::io::Write as _;
    // Writing to a Vec cannot fail.
    let _ = match event {
        Event::Input { conn, line } => {
            push_conn(out, *conn);
            out.extend_from_slice(b"in: ");
            return push_escaped(out, line);
        }
        Event::Output { conn, bytes } => {
            let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
            push_conn(out, *conn);
            out.extend_from_slice(b"out (");
            out.extend_from_slice(itoa::Buffer::new().format(bytes.len()).as_bytes());
            out.extend_from_slice(b" bytes): ");
            return push_escaped(out, first);
        }
        Event::PeerLine {
            peer,
            line,
            outcome,
        } => {
            let _ = write!(out, "from {peer} ({outcome}): ");
            return push_escaped(out, line);
        }
        Event::Listening(addr) => write!(out, "listening on {addr}"),
        Event::Accepted { conn, from } => write!(out, "conn {conn} accepted from {from}"),
        Event::Refused { from, limit } => {
            write!(out, "refused {from}: {limit} connections open")
        }
        Event::AcceptFailed { error } => write!(out, "accept failed: {error}"),
        Event::Closed { conn, reason } => write!(out, "conn {conn} closed: {reason}"),
        Event::LinkUp { peer, conn } => write!(out, "link to {peer} up (conn {conn})"),
        Event::LinkDown { peer, reason } => write!(out, "link to {peer} down: {reason}"),
        Event::DialFailed {
            peer,
            error,
            retry_in_ms,
        } => write!(
            out,
            "dial {peer} failed: {error}; retry in {retry_in_ms} ms"
        ),
        Event::QueueFull { peer } => {
            write!(out, "link to {peer} fell too far behind; resetting it")
        }
        Event::FloodWaitTimedOut { conn, links } => write!(
            out,
            "conn {conn} replies sent before their floods were written ({links} links stuck)"
        ),
        Event::PlacesFailed { conn, error } => {
            write!(out, "conn {conn} places call failed: {error}")
        }
        Event::Stopped => write!(out, "stopped"),
    };
}

/// Appends `bytes` as `str::escape_debug` shows them (invalid UTF-8 replaced first), so a
/// line in the log is one line whatever a client sent. Nearly every line is printable ASCII
/// with nothing to escape, and is copied as it is (printable ASCII is UTF-8 already):
/// escaping char by char through the formatter was an eighth of a logging server's CPU
/// under pipelined load (docs/PERFORMANCE.md, "Session 6: smol's reactor, and the log's
/// cost").
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let plain = |b: &u8| (b' '..=b'~').contains(b) && !matches!(b, b'\\' | b'"' | b'\'');
    if bytes.iter().all(plain) {
        out.extend_from_slice(bytes);
    } else {
        let text = String::from_utf8_lossy(bytes);
        use std::io::Write as _;
        let _ = write!(out, "{}", text.escape_debug());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_exactly_as_escape_debug_does() {
        let mut inputs: Vec<Vec<u8>> = [
            &b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"[..],
            b"",
            b" ~",
            b"tab\there",
            b"quote \" and ' apostrophe",
            b"back\\slash",
            b"nul \0 del \x7f esc \x1b",
            "caf\u{e9} \u{301}accent \u{200b}".as_bytes(),
            b"bad utf-8 \xff\xfe end",
            b"cut \xe2\x82",
        ]
        .iter()
        .map(|b| b.to_vec())
        .collect();
        inputs.push((0..=255u8).collect());
        for input in inputs {
            let mut got = b"prefix ".to_vec();
            push_escaped(&mut got, &input);
            let want = format!("prefix {}", String::from_utf8_lossy(&input).escape_debug());
            assert_eq!(String::from_utf8(got).expect("UTF-8"), want, "{input:?}");
        }
    }

    #[test]
    fn every_event_is_one_line() {
        let addr: SocketAddr = "127.0.0.1:12001".parse().expect("addr");
        let events = [
            Event::Listening(addr),
            Event::Accepted {
                conn: 1,
                from: addr,
            },
            Event::Refused {
                from: addr,
                limit: 5,
            },
            Event::Closed {
                conn: 2,
                reason: "eof",
            },
            Event::PeerLine {
                peer: "Jaquez",
                line: b"AT x\ty",
                outcome: "stored",
            },
            Event::FloodWaitTimedOut { conn: 3, links: 2 },
            Event::Stopped,
        ];
        let want = [
            "listening on 127.0.0.1:12001",
            "conn 1 accepted from 127.0.0.1:12001",
            "refused 127.0.0.1:12001: 5 connections open",
            "conn 2 closed: eof",
            "from Jaquez (stored): AT x\\ty",
            "conn 3 replies sent before their floods were written (2 links stuck)",
            "stopped",
        ];
        for (event, want) in events.iter().zip(want) {
            let mut got = Vec::new();
            describe(&mut got, event);
            assert_eq!(String::from_utf8(got).expect("UTF-8"), want);
        }
    }

    #[test]
    fn writes_one_line_per_event_and_summarises_outputs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Logger::to_dir(dir.path(), "Clark").expect("open");
        log.event(
            Nanos(1_500_000_000),
            Event::Input {
                conn: 3,
                line: b"IAMAT a\t+1+1 1",
            },
        );
        log.event(
            Nanos(1_600_000_000),
            Event::Output {
                conn: 3,
                bytes: b"AT x\n{\n}\n\n",
            },
        );
        log.flush();
        let text = std::fs::read_to_string(dir.path().join("Clark.log")).expect("read");
        assert_eq!(
            text,
            "1.500000000 Clark conn 3 in: IAMAT a\\t+1+1 1\n1.600000000 Clark conn 3 out (10 bytes): AT x\n"
        );
    }

    #[test]
    fn lines_from_many_threads_all_arrive_whole_by_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Logger::to_dir(dir.path(), "Clark").expect("open");
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000u64 {
                        let line = format!("IAMAT t{t} +1+1 {i}");
                        let event = Event::Input {
                            conn: t,
                            line: line.as_bytes(),
                        };
                        log.event(Nanos(0), event);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("logging thread");
        }
        log.flush();
        let text = std::fs::read_to_string(dir.path().join("Clark.log")).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8_000, "more than the buffer holds, none lost");
        assert!(
            lines
                .iter()
                .all(|l| l.starts_with("0.000000000 Clark conn "))
        );
        for t in 0..4 {
            let last = format!("conn {t} in: IAMAT t{t} +1+1 1999");
            assert!(lines.iter().any(|l| l.ends_with(&last)), "{last}");
        }
    }

    #[test]
    fn only_the_event_that_fills_the_buffer_wakes_the_writer() {
        assert!(!fills(0, 100));
        assert!(fills(BUFFER_BYTES - 1, BUFFER_BYTES));
        assert!(fills(BUFFER_BYTES - 10, BUFFER_BYTES + 50));
        assert!(
            !fills(BUFFER_BYTES, BUFFER_BYTES + 50),
            "already full: already woken"
        );
        assert!(!fills(BUFFER_BYTES + 50, BUFFER_BYTES + 100));
    }

    #[test]
    fn disabled_logger_writes_nothing() {
        let log = Logger::disabled("Clark");
        log.event(Nanos(0), Event::Stopped);
        assert!(!log.is_enabled());
    }
}
