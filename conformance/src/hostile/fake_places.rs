//! A small misbehaving places service on 127.0.0.1, for what the real one cannot do.
//!
//! It takes over the port the launcher's `PlacesSpec::Unreachable` config names (free when
//! the herd started, so the herd's servers already point at it), and answers every request
//! according to one [`Behaviour`]. Threads end when the [`FakePlaces`] drops.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use herd_launcher::Herd;

/// What the fake service does with each request.
#[derive(Debug, Clone)]
pub(crate) enum Behaviour {
    /// Reads the request and never answers (until the test ends).
    Hang,
    /// Closes without reading the request, so the kernel resets the connection.
    Reset,
    /// Writes these bytes and closes.
    Answer(Vec<u8>),
    /// Writes these bytes and keeps the connection for further requests.
    KeepAlive(Vec<u8>),
    /// Writes these bytes, then holds the connection open without a further byte.
    AnswerThenHang(Vec<u8>),
}

#[derive(Debug)]
pub(crate) struct FakePlaces {
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    port: u16,
}

impl FakePlaces {
    /// Listens on the places port of `herd` (started with `PlacesSpec::Unreachable`).
    pub fn take_over(herd: &Herd, behaviour: Behaviour) -> anyhow::Result<FakePlaces> {
        let url = &herd.config().places.base_url;
        let port: u16 = url
            .authority()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("no port in places URL {url:?}"))?;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .with_context(|| format!("the places port {port} was taken meanwhile"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (s, r) = (Arc::clone(&stop), Arc::clone(&requests));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::Acquire) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (s, r, b) = (Arc::clone(&s), Arc::clone(&r), behaviour.clone());
                std::thread::spawn(move || serve(stream, &b, &s, &r));
            }
        });
        Ok(FakePlaces {
            stop,
            requests,
            port,
        })
    }

    /// Requests received so far (complete request heads).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Acquire)
    }
}

impl Drop for FakePlaces {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one request head; false if the connection ended or the test is over.
fn read_head(stream: &mut TcpStream, stop: &AtomicBool) -> bool {
    let mut head = Vec::new();
    let mut buf = [0; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(_) if !stop.load(Ordering::Acquire) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Holds the connection without writing until the peer leaves or the test ends.
fn hold(stream: &mut TcpStream, stop: &AtomicBool) {
    let mut buf = [0; 4096];
    while !stop.load(Ordering::Acquire) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

fn serve(mut stream: TcpStream, behaviour: &Behaviour, stop: &AtomicBool, requests: &AtomicUsize) {
    // A read timeout only so that threads notice the end of the test.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    if let Behaviour::Reset = behaviour {
        // Wait until the request has arrived, then close with it unread.
        let mut peek = [0; 1];
        while !stop.load(Ordering::Acquire) {
            match stream.peek(&mut peek) {
                Ok(_) => break,
                Err(_) => continue,
            }
        }
        requests.fetch_add(1, Ordering::AcqRel);
        return;
    }
    loop {
        if !read_head(&mut stream, stop) {
            return;
        }
        requests.fetch_add(1, Ordering::AcqRel);
        match behaviour {
            Behaviour::Hang => return hold(&mut stream, stop),
            Behaviour::Reset => return,
            Behaviour::Answer(bytes) => {
                let _ = stream.write_all(bytes);
                let _ = stream.shutdown(Shutdown::Write);
                return hold(&mut stream, stop);
            }
            Behaviour::AnswerThenHang(bytes) => {
                let _ = stream.write_all(bytes);
                return hold(&mut stream, stop);
            }
            Behaviour::KeepAlive(bytes) => {
                if stream.write_all(bytes).is_err() {
                    return;
                }
            }
        }
    }
}

/// A Google-shaped answer with `n` results around (34, -118).
pub(crate) fn nearby_json(n: usize) -> String {
    let results: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"name": "Place {i}", "place_id": "p{i}", "geometry": {{"location": {{"lat": 12.5, "lng": -45.25}}}}, "vicinity": "Somewhere", "types": ["locality"]}}"#
            )
        })
        .collect();
    format!(
        r#"{{"html_attributions": [], "results": [{}], "status": "OK"}}"#,
        results.join(", ")
    )
}

/// An HTTP/1.1 response with a Content-Length header.
pub(crate) fn http(status: &str, body: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}
