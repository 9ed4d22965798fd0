//! Real HTTP requests over loopback to the service started in-process on port 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use places::{Latency, Options, Places};
use serde_json::Value;

fn table() -> Arc<Places> {
    static T: OnceLock<Arc<Places>> = OnceLock::new();
    Arc::clone(T.get_or_init(|| Arc::new(Places::load().expect("table loads"))))
}

/// Starts a service on its own runtime thread; it lives until the test process ends.
fn start(options: Options) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let places = table();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("report addr");
            places::serve(listener, places, options, std::future::pending())
                .await
                .expect("serve");
        });
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("service started")
}

/// Sends one GET on `conn` and reads one Content-Length-framed response.
fn get(conn: &mut BufReader<TcpStream>, target: &str) -> (u16, Value) {
    let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n");
    conn.get_mut().write_all(request.as_bytes()).expect("write");
    let mut status_line = String::new();
    conn.read_line(&mut status_line).expect("status line");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let mut length = 0;
    loop {
        let mut header = String::new();
        conn.read_line(&mut header).expect("header");
        if header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("length");
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    BufReader::new(stream)
}

const WESTWOOD: &str =
    "/maps/api/place/nearbysearch/json?location=34.068930,-118.445127&radius=10000&key=k";

#[test]
fn answers_in_google_shape_and_keeps_the_connection_alive() {
    let addr = start(Options::default());
    let mut conn = connect(addr);
    let (status, body) = get(&mut conn, WESTWOOD);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "OK");
    assert_eq!(body["html_attributions"], Value::Array(vec![]));
    let results = body["results"].as_array().expect("results");
    assert!(!results.is_empty() && results.len() <= 20);
    for r in results {
        assert!(
            r["name"].is_string() && r["place_id"].is_string() && r["vicinity"].is_string(),
            "{r}"
        );
        assert!(
            r["geometry"]["location"]["lat"].is_number()
                && r["geometry"]["location"]["lng"].is_number()
        );
        assert!(r["types"].is_array());
    }
    // Second request on the same connection.
    let (status, body) = get(
        &mut conn,
        "/maps/api/place/nearbysearch/json?location=34,-118&radius=0",
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("INVALID_REQUEST"))
    );
}

#[test]
fn requires_the_key_when_told() {
    let addr = start(Options {
        key: Some("secret".into()),
        ..Options::default()
    });
    let (_, body) = get(&mut connect(addr), WESTWOOD);
    assert_eq!(body["status"], "REQUEST_DENIED");
    let (_, body) = get(&mut connect(addr), &WESTWOOD.replace("key=k", "key=secret"));
    assert_eq!(body["status"], "OK");
}

#[test]
fn injects_failures() {
    let addr = start(Options {
        error_rate: 1.0,
        ..Options::default()
    });
    let mut conn = connect(addr);
    for _ in 0..3 {
        let (status, body) = get(&mut conn, WESTWOOD);
        assert_eq!(status, 500);
        assert_eq!(
            body,
            serde_json::json!({"html_attributions": [], "results": [], "status": "UNKNOWN_ERROR", "error_message": "injected failure"})
        );
    }
}

#[test]
fn holds_responses_for_the_set_latency() {
    let addr = start(Options {
        latency: Latency::Fixed(Duration::from_millis(150)),
        ..Options::default()
    });
    let mut conn = connect(addr);
    let started = Instant::now();
    let (status, _) = get(&mut conn, WESTWOOD);
    assert_eq!(status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn unknown_paths_are_404() {
    let addr = start(Options::default());
    let mut conn = connect(addr);
    conn.get_mut()
        .write_all(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("write");
    let mut line = String::new();
    conn.read_line(&mut line).expect("status");
    assert!(line.starts_with("HTTP/1.1 404"), "{line}");
}

#[test]
fn shuts_down_when_told_even_with_an_idle_keep_alive_connection() {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let places = table();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let result = rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            addr_tx
                .send(listener.local_addr().expect("addr"))
                .expect("report addr");
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            places::serve(listener, places, Options::default(), shutdown).await
        });
        let _ = done_tx.send(result.map_err(|e| e.to_string()));
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("service started");
    let mut conn = connect(addr);
    let (status, _) = get(&mut conn, WESTWOOD);
    assert_eq!(status, 200);
    stop_tx.send(()).expect("service still running");
    // The bound is only there so a hang fails the test instead of stalling the suite.
    let result = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("serve returned after shutdown");
    assert_eq!(result, Ok(()));
    // The idle connection was closed rather than left dangling.
    let mut rest = Vec::new();
    let read = conn.read_to_end(&mut rest).expect("read after shutdown");
    assert_eq!(read, 0, "{:?}", String::from_utf8_lossy(&rest));
}
