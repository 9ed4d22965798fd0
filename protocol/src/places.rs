//! The places call a WHATSAT needs: the HTTP request to make, the incremental parsing of the
//! HTTP/1.1 answer, and the reply built from it.
//!
//! The shell only connects, writes [`PlacesCall::request`], feeds what it reads into a
//! [`ResponseReader`] and hands the outcome to [`PlacesCall::finish`]. Everything that could
//! make two backends answer differently (URL, headers, framing, JSON trimming, error
//! replies) is decided here.

use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use crate::config::PlacesConfig;
use crate::message::{Radius, Record};

/// Largest places response body accepted; a larger one is a failure, not an allocation.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
const MAX_HEADERS: usize = 64;
const NEARBY_PATH: &str = "/maps/api/place/nearbysearch/json";
/// Characters left as they are in query values (RFC 3986 unreserved).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where places requests go, resolved once from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port` to connect to.
    authority: String,
    /// Path prefix from the base URL, without a trailing `/`.
    prefix: String,
    key: String,
    timeout: Duration,
}

impl Endpoint {
    /// The endpoint of a validated config: nothing left to check.
    pub fn new(config: &PlacesConfig) -> Endpoint {
        Endpoint {
            authority: config.base_url.authority().to_owned(),
            prefix: config.base_url.prefix().to_owned(),
            key: config.key.clone(),
            timeout: config.timeout(),
        }
    }

    /// The call for a WHATSAT about `record` within `radius`, trimmed to `bound` results.
    pub fn call(&self, record: &Record, radius: &Radius, bound: u32) -> PlacesCall {
        let location = record.location().query_value();
        let request = format!(
            "GET {prefix}{NEARBY_PATH}?location={loc}&radius={radius}&key={key} HTTP/1.1\r\n\
             Host: {host}\r\nAccept: application/json\r\nConnection: keep-alive\r\n\r\n",
            prefix = self.prefix,
            loc = utf8_percent_encode(&location, QUERY_VALUE),
            radius = radius.metres(),
            key = utf8_percent_encode(&self.key, QUERY_VALUE),
            host = self.authority,
        );
        PlacesCall {
            at_wire: Arc::clone(record.wire()),
            bound,
            authority: self.authority.clone(),
            request: request.into_bytes(),
            timeout: self.timeout,
        }
    }
}

/// A places request the shell must carry out, and how to turn its outcome into the reply.
#[derive(Debug, Clone)]
#[must_use = "a WHATSAT has no reply until its places call is finished"]
pub struct PlacesCall {
    at_wire: Arc<[u8]>,
    bound: u32,
    authority: String,
    request: Vec<u8>,
    timeout: Duration,
}

/// Why a places call produced no usable HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacesFailure {
    #[error("places service unreachable: {0}")]
    Io(String),
    #[error("places service did not answer within {0:?}")]
    Timeout(Duration),
    #[error("places service closed the connection before a full response")]
    Truncated,
    #[error("places service sent a malformed HTTP response: {0}")]
    Malformed(String),
    #[error("places response body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
}

impl From<std::io::Error> for PlacesFailure {
    fn from(e: std::io::Error) -> Self {
        PlacesFailure::Io(e.to_string())
    }
}

impl PlacesCall {
    /// `host:port` to connect to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The bytes to write.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The whole exchange (connect, write, read) must finish within this.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether to try once more on a fresh connection. A kept-alive connection may have been
    /// closed by the server while idle; that is no fault of the service, so one retry on a
    /// new connection is made, and only then.
    pub fn retry_on_fresh_connection(&self, failure: &PlacesFailure, reused: bool) -> bool {
        reused && matches!(failure, PlacesFailure::Io(_) | PlacesFailure::Truncated)
    }

    /// The full WHATSAT reply: the stored AT line, the (trimmed) JSON and a blank line.
    pub fn finish(&self, outcome: Result<HttpResponse, PlacesFailure>) -> Vec<u8> {
        let body = match outcome {
            Ok(response) => json_for(&response, self.bound),
            Err(failure) => error_json("UNKNOWN_ERROR", &failure.to_string()),
        };
        let mut text = serde_json::to_string_pretty(&body).unwrap_or_default();
        // Pretty JSON never holds a blank line (string newlines are escaped), so the reply's
        // only "\n\n" is its end.
        text.push_str("\n\n");
        let mut reply = Vec::with_capacity(self.at_wire.len() + text.len());
        reply.extend_from_slice(&self.at_wire);
        reply.extend_from_slice(text.as_bytes());
        reply
    }
}

fn error_json(status: &str, message: &str) -> Value {
    json!({
        "html_attributions": [],
        "results": [],
        "status": status,
        "error_message": message,
    })
}

fn json_for(response: &HttpResponse, bound: u32) -> Value {
    let parsed: Option<Map<String, Value>> = serde_json::from_slice(&response.body).ok();
    let upstream_status = parsed
        .as_ref()
        .and_then(|m| m.get("status"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match (response.status, parsed, upstream_status) {
        (200, Some(mut body), Some(_)) if body.get("results").is_some_and(Value::is_array) => {
            if let Some(Value::Array(results)) = body.get_mut("results") {
                results.truncate(bound as usize);
            }
            Value::Object(body)
        }
        (status, Some(body), Some(upstream)) if upstream != "OK" => {
            let message = body
                .get("error_message")
                .and_then(Value::as_str)
                .map_or_else(
                    || format!("places service answered HTTP {status}"),
                    str::to_owned,
                );
            error_json(&upstream, &message)
        }
        (200, _, _) => error_json(
            "UNKNOWN_ERROR",
            "places service answered with unexpected JSON",
        ),
        (status, _, _) => error_json(
            "UNKNOWN_ERROR",
            &format!("places service answered HTTP {status}"),
        ),
    }
}

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// Whether the connection may carry another request.
    pub keep_alive: bool,
}

#[derive(Debug)]
enum Body {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Parses one HTTP/1.1 response from bytes fed as they arrive.
#[derive(Debug, Default)]
pub struct ResponseReader {
    buf: Vec<u8>,
    /// End of the received bytes in `buf`; past it lies room lent by `read_buf`.
    len: usize,
    head: Option<Head>,
}

/// Room [`ResponseReader::read_buf`] lends for one read.
const READ_ROOM: usize = 8 * 1024;

#[derive(Debug)]
struct Head {
    status: u16,
    body: Body,
    keep_alive: bool,
    /// Offset of the body in `buf`.
    body_start: usize,
}

impl ResponseReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes; returns the response once it is complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<HttpResponse>, PlacesFailure> {
        self.buf.truncate(self.len);
        self.buf.extend_from_slice(bytes);
        self.len = self.buf.len();
        self.parse()
    }

    /// Room to read into directly; report what arrived with [`ResponseReader::filled`].
    pub fn read_buf(&mut self) -> &mut [u8] {
        self.buf.truncate(self.len);
        self.buf.resize(self.len + READ_ROOM, 0);
        &mut self.buf[self.len..]
    }

    /// `n` bytes were read into the room [`ResponseReader::read_buf`] lent; returns the
    /// response once it is complete.
    pub fn filled(&mut self, n: usize) -> Result<Option<HttpResponse>, PlacesFailure> {
        self.len = (self.len + n).min(self.buf.len());
        self.buf.truncate(self.len);
        self.parse()
    }

    fn parse(&mut self) -> Result<Option<HttpResponse>, PlacesFailure> {
        if self.buf.len() > MAX_BODY_BYTES + 64 * 1024 {
            return Err(PlacesFailure::TooLarge);
        }
        if self.head.is_none() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&self.buf) {
                Ok(httparse::Status::Partial) => return Ok(None),
                Ok(httparse::Status::Complete(len)) => {
                    self.head = Some(head_of(&parsed, len)?);
                }
                Err(e) => return Err(PlacesFailure::Malformed(e.to_string())),
            }
        }
        self.try_complete()
    }

    /// The peer closed the connection: a close-delimited body ends here, anything else was
    /// cut short.
    pub fn finish_at_eof(mut self) -> Result<HttpResponse, PlacesFailure> {
        self.buf.truncate(self.len);
        match self.head.take() {
            Some(Head {
                status,
                body: Body::UntilClose,
                body_start,
                ..
            }) => Ok(HttpResponse {
                status,
                body: self.buf.split_off(body_start),
                keep_alive: false,
            }),
            _ => Err(PlacesFailure::Truncated),
        }
    }

    fn try_complete(&mut self) -> Result<Option<HttpResponse>, PlacesFailure> {
        let Some(head) = &self.head else {
            return Ok(None);
        };
        let data = &self.buf[head.body_start..];
        let body = match head.body {
            Body::Length(n) if data.len() >= n => data[..n].to_vec(),
            Body::Length(_) | Body::UntilClose => return Ok(None),
            Body::Chunked => match dechunk(data)? {
                Some(body) => body,
                None => return Ok(None),
            },
        };
        Ok(Some(HttpResponse {
            status: head.status,
            body,
            keep_alive: head.keep_alive,
        }))
    }
}

fn head_of(parsed: &httparse::Response<'_, '_>, len: usize) -> Result<Head, PlacesFailure> {
    let status = parsed.code.unwrap_or(0);
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.ends_with("chunked"));
    let body = if chunked {
        Body::Chunked
    } else if let Some(length) = header("content-length") {
        let n: usize = length
            .parse()
            .map_err(|_| PlacesFailure::Malformed(format!("bad Content-Length {length:?}")))?;
        if n > MAX_BODY_BYTES {
            return Err(PlacesFailure::TooLarge);
        }
        Body::Length(n)
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Body::Length(0)
    } else {
        Body::UntilClose
    };
    let close = header("connection").is_some_and(|v| v.contains("close"));
    let http10 = parsed.version == Some(0);
    Ok(Head {
        status,
        keep_alive: !close && !http10 && !matches!(body, Body::UntilClose),
        body,
        body_start: len,
    })
}

/// Decodes a chunked body if all of it has arrived (trailers are skipped).
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, PlacesFailure> {
    let mut body = Vec::new();
    loop {
        let (consumed, size) = match httparse::parse_chunk_size(data) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(PlacesFailure::Malformed("bad chunk size".into())),
        };
        data = &data[consumed..];
        let size = usize::try_from(size).map_err(|_| PlacesFailure::TooLarge)?;
        if size == 0 {
            // Trailer section: header lines up to an empty line.
            return Ok(find_blank_line_end(data).map(|_| body));
        }
        // `body` never exceeds the limit, so this cannot overflow, whatever size a chunk
        // claims (a sum could: the fuzzer found a chunk of 0xFFFFFFFFFFFFFFFF bytes).
        if size > MAX_BODY_BYTES - body.len() {
            return Err(PlacesFailure::TooLarge);
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        if &data[size..size + 2] != b"\r\n" {
            return Err(PlacesFailure::Malformed(
                "chunk not followed by CRLF".into(),
            ));
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn find_blank_line_end(data: &[u8]) -> Option<usize> {
    if data.starts_with(b"\r\n") {
        return Some(2);
    }
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Command, parse_line};
    use crate::time::Nanos;

    fn endpoint(base: &str) -> Endpoint {
        Endpoint::new(&PlacesConfig {
            base_url: crate::config::PlacesUrl::parse(base).expect("valid"),
            key: "k y&".into(),
            timeout_ms: 250,
        })
    }

    fn record() -> Record {
        let Ok(Some(Command::Iamat {
            client,
            location,
            time,
        })) = parse_line(b"IAMAT kiwi +34.068930-118.445127 1621464827.959498503")
        else {
            panic!()
        };
        Record::from_iamat(
            "Clark",
            Nanos(1_621_464_828_000_000_000),
            client,
            location,
            time,
        )
    }

    fn call(bound: u32) -> PlacesCall {
        endpoint("http://127.0.0.1:8090").call(&record(), &Radius::parse("10").expect("ok"), bound)
    }

    #[test]
    fn builds_the_request_line_and_host() {
        let c = endpoint("http://places.test/v1/").call(
            &record(),
            &Radius::parse("0.5").expect("ok"),
            3,
        );
        let text = String::from_utf8(c.request().to_vec()).expect("ascii");
        assert!(text.starts_with(
            "GET /v1/maps/api/place/nearbysearch/json?location=34.068930%2C-118.445127&radius=500&key=k%20y%26 HTTP/1.1\r\n"
        ), "{text}");
        assert!(text.contains("\r\nHost: places.test:80\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!(c.authority(), "places.test:80");
        assert_eq!(c.timeout(), Duration::from_millis(250));
    }

    fn feed_all(pieces: &[&[u8]]) -> Result<Option<HttpResponse>, PlacesFailure> {
        let mut r = ResponseReader::new();
        let mut last = Ok(None);
        for p in pieces {
            last = r.feed(p);
            if !matches!(last, Ok(None)) {
                break;
            }
        }
        last
    }

    #[test]
    fn reads_content_length_bodies_in_any_pieces() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..raw.len() {
            let got = feed_all(&[&raw[..cut], &raw[cut..]])
                .expect("ok")
                .expect("complete");
            assert_eq!(
                (got.status, got.body.as_slice(), got.keep_alive),
                (200, &b"hello"[..], true)
            );
        }
    }

    #[test]
    fn reads_chunked_bodies_in_any_pieces() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n";
        for cut in 0..raw.len() {
            let got = feed_all(&[&raw[..cut], &raw[cut..]])
                .expect("ok")
                .expect("complete");
            assert_eq!(got.body, b"abcde");
        }
    }

    #[test]
    fn a_chunk_of_impossible_size_is_too_large_not_a_panic() {
        for size in ["FFFFFFFFFFFFFFFF", "FFFFFFFFFFFFFFFE", "400001"] {
            let raw = format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{{\"a\"\r\n{size}\r\nF\r\n"
            );
            assert_eq!(
                feed_all(&[raw.as_bytes()]),
                Err(PlacesFailure::TooLarge),
                "chunk of 0x{size} bytes"
            );
        }
    }

    #[test]
    fn close_delimited_and_connection_close() {
        let mut r = ResponseReader::new();
        assert_eq!(r.feed(b"HTTP/1.1 200 OK\r\n\r\npart"), Ok(None));
        let got = r.finish_at_eof().expect("complete at eof");
        assert_eq!((got.body.as_slice(), got.keep_alive), (&b"part"[..], false));

        let got = feed_all(&[b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"])
            .expect("ok")
            .expect("complete");
        assert!(!got.keep_alive);

        let mut r = ResponseReader::new();
        assert_eq!(
            r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"),
            Ok(None)
        );
        assert_eq!(r.finish_at_eof(), Err(PlacesFailure::Truncated));
    }

    #[test]
    fn rejects_garbage_and_huge_bodies() {
        assert!(matches!(
            feed_all(&[b"NOT HTTP\r\n\r\n"]),
            Err(PlacesFailure::Malformed(_))
        ));
        let huge = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert_eq!(feed_all(&[huge.as_bytes()]), Err(PlacesFailure::TooLarge));
    }

    fn reply_json(reply: &[u8]) -> (String, Value) {
        let text = String::from_utf8(reply.to_vec()).expect("utf8");
        assert!(text.ends_with("}\n\n"), "{text:?}");
        assert_eq!(text.matches("\n\n").count(), 1, "{text:?}");
        let (first, json) = text.split_once('\n').expect("two parts");
        (first.to_owned(), serde_json::from_str(json).expect("json"))
    }

    fn ok_response(n: usize) -> HttpResponse {
        let results: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("p{i}"), "note": "a\n\nb"}))
            .collect();
        HttpResponse {
            status: 200,
            body: serde_json::to_vec(
                &json!({"html_attributions": [], "results": results, "status": "OK"}),
            )
            .expect("json"),
            keep_alive: true,
        }
    }

    #[test]
    fn finish_trims_results_to_the_bound() {
        let (at, json) = reply_json(&call(3).finish(Ok(ok_response(10))));
        assert_eq!(at, record().line());
        assert_eq!(json["results"].as_array().map(Vec::len), Some(3));
        assert_eq!(json["results"][2]["name"], "p2");
        assert_eq!(json["status"], "OK");
        let (_, json) = reply_json(&call(20).finish(Ok(ok_response(2))));
        assert_eq!(json["results"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn failures_become_unknown_error_or_the_upstream_status() {
        let cases = [
            (
                Err(PlacesFailure::Timeout(Duration::from_secs(5))),
                "UNKNOWN_ERROR",
                "did not answer",
            ),
            (
                Err(PlacesFailure::Io("refused".into())),
                "UNKNOWN_ERROR",
                "unreachable",
            ),
            (
                Ok(HttpResponse {
                    status: 503,
                    body: b"busy".to_vec(),
                    keep_alive: true,
                }),
                "UNKNOWN_ERROR",
                "HTTP 503",
            ),
            (
                Ok(HttpResponse {
                    status: 200,
                    body: b"[1,2]".to_vec(),
                    keep_alive: true,
                }),
                "UNKNOWN_ERROR",
                "unexpected JSON",
            ),
            (
                Ok(HttpResponse {
                    status: 200,
                    body: br#"{"results":[],"status":"REQUEST_DENIED","error_message":"bad key"}"#
                        .to_vec(),
                    keep_alive: true,
                }),
                "REQUEST_DENIED",
                "bad key",
            ),
            (
                Ok(HttpResponse {
                    status: 500,
                    body: br#"{"status":"UNKNOWN_ERROR"}"#.to_vec(),
                    keep_alive: true,
                }),
                "UNKNOWN_ERROR",
                "HTTP 500",
            ),
        ];
        for (outcome, status, words) in cases {
            let (_, json) = reply_json(&call(5).finish(outcome));
            assert_eq!(json["status"], status);
            assert_eq!(json["results"], json!([]));
            assert!(
                json["error_message"]
                    .as_str()
                    .is_some_and(|m| m.contains(words)),
                "{json}"
            );
        }
    }

    #[test]
    fn retries_only_reused_connections_on_transport_faults() {
        let c = call(1);
        assert!(c.retry_on_fresh_connection(&PlacesFailure::Truncated, true));
        assert!(!c.retry_on_fresh_connection(&PlacesFailure::Truncated, false));
        assert!(!c.retry_on_fresh_connection(&PlacesFailure::Timeout(Duration::ZERO), true));
    }
}
