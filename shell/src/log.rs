//! The per-server log: one line per event in `<DIR>/<SERVER>.log`, buffered.
//!
//! Writes go through a 64 KiB buffer under a mutex and reach the file when it fills, when
//! a second has passed since the last flush, and at shutdown, so logging costs a memcpy per
//! event on the hot path. Outputs are logged as their first line and size, not in full: a
//! WHATSAT reply is kilobytes of JSON and copying it would make the log the benchmark.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use herd_protocol::Nanos;
use herd_protocol::message::format_client_time;

const BUFFER_BYTES: usize = 64 * 1024;
const FLUSH_EVERY_NANOS: i128 = 1_000_000_000;

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
    sink: Option<Arc<Mutex<Sink>>>,
}

#[derive(Debug)]
struct Sink {
    file: BufWriter<File>,
    last_flush: i128,
    line: String,
}

impl Logger {
    /// Appends to `<dir>/<server>.log`, creating the directory if needed.
    pub fn to_dir(dir: &Path, server: &str) -> std::io::Result<Logger> {
        std::fs::create_dir_all(dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{server}.log")))?;
        Ok(Logger {
            server: server.into(),
            sink: Some(Arc::new(Mutex::new(Sink {
                file: BufWriter::with_capacity(BUFFER_BYTES, file),
                last_flush: 0,
                line: String::with_capacity(256),
            }))),
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
        let Ok(mut sink) = sink.lock() else { return };
        let sink = &mut *sink;
        sink.line.clear();
        let _ = write!(sink.line, "{} {} ", format_client_time(now), self.server);
        describe(&mut sink.line, &event);
        sink.line.push('\n');
        // A failing log must not take the server down; the event is lost, nothing else.
        let _ = sink.file.write_all(sink.line.as_bytes());
        if now.0 - sink.last_flush >= FLUSH_EVERY_NANOS {
            let _ = sink.file.flush();
            sink.last_flush = now.0;
        }
    }

    pub fn flush(&self) {
        if let Some(Ok(mut sink)) = self.sink.as_ref().map(|s| s.lock()) {
            let _ = sink.file.flush();
        }
    }
}

fn describe(out: &mut String, event: &Event<'_>) {
    let _ = match event {
        Event::Listening(addr) => write!(out, "listening on {addr}"),
        Event::Accepted { conn, from } => write!(out, "conn {conn} accepted from {from}"),
        Event::Refused { from, limit } => write!(out, "refused {from}: {limit} connections open"),
        Event::AcceptFailed { error } => write!(out, "accept failed: {error}"),
        Event::Input { conn, line } => write!(
            out,
            "conn {conn} in: {}",
            String::from_utf8_lossy(line).escape_debug()
        ),
        Event::Output { conn, bytes } => {
            let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
            write!(
                out,
                "conn {conn} out ({} bytes): {}",
                bytes.len(),
                String::from_utf8_lossy(first).escape_debug()
            )
        }
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
        Event::PeerLine {
            peer,
            line,
            outcome,
        } => write!(
            out,
            "from {peer} ({outcome}): {}",
            String::from_utf8_lossy(line).escape_debug()
        ),
        Event::QueueFull { peer } => {
            write!(out, "link to {peer} fell too far behind; resetting it")
        }
        Event::PlacesFailed { conn, error } => {
            write!(out, "conn {conn} places call failed: {error}")
        }
        Event::Stopped => write!(out, "stopped"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn disabled_logger_writes_nothing() {
        let log = Logger::disabled("Clark");
        log.event(Nanos(0), Event::Stopped);
        assert!(!log.is_enabled());
    }
}
