//! The herd's configuration: servers, links, the places endpoint and limits, from TOML.
//!
//! Parsing here is pure (text in, validated [`HerdConfig`] out); reading the file is the
//! caller's job. Every error names the source and, where it can, the line at fault.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::framing::MAX_SERVER_NAME_BYTES;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// A bad configuration, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// File name (or another label for the text's origin).
    pub source: String,
    /// 1-based line, when the fault has one.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A validated herd.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HerdConfig {
    pub herd: HerdSection,
    pub places: PlacesConfig,
    pub limits: Limits,
    #[serde(rename = "server")]
    pub servers: Vec<ServerConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HerdSection {
    /// Shared secret a peer must present in its HELLO line.
    pub key: String,
    /// Send every stored record when a link comes up. Only fault tests turn it off, to
    /// prove the lost-update checker can fail.
    #[serde(default = "anti_entropy_on")]
    pub anti_entropy: bool,
}

fn anti_entropy_on() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacesConfig {
    /// `http://host:port` with an optional path prefix.
    pub base_url: PlacesUrl,
    pub key: String,
    #[serde(default = "default_places_timeout_ms")]
    pub timeout_ms: u64,
}

impl PlacesConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The places service's base URL, parsed once: `http://`, a host with an optional port
/// (80 by default), and an optional path prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlacesUrl {
    text: String,
    /// `host:port` to connect to.
    authority: String,
    /// Path prefix without a trailing `/` (may be empty).
    prefix: String,
}

/// A places URL the herd cannot use. The config's author is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPlacesUrl {
    #[error(
        "places.base_url {0:?} must start with http:// (put a TLS proxy in front of an https endpoint)"
    )]
    NotHttp(String),
    #[error("places.base_url {0:?} has no usable host")]
    NoHost(String),
}

impl PlacesUrl {
    pub fn parse(text: &str) -> Result<PlacesUrl, BadPlacesUrl> {
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| BadPlacesUrl::NotHttp(text.to_owned()))?;
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() || authority.contains(['@', '?', '#', ' ']) {
            return Err(BadPlacesUrl::NoHost(text.to_owned()));
        }
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
        Ok(PlacesUrl {
            text: text.to_owned(),
            authority: if has_port {
                authority.to_owned()
            } else {
                format!("{authority}:80")
            },
            prefix: prefix.trim_end_matches('/').to_owned(),
        })
    }

    /// `host:port` to connect to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The path prefix, without a trailing `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for PlacesUrl {
    type Error = BadPlacesUrl;
    fn try_from(text: String) -> Result<Self, BadPlacesUrl> {
        PlacesUrl::parse(&text)
    }
}

impl From<PlacesUrl> for String {
    fn from(url: PlacesUrl) -> String {
        url.text
    }
}

impl fmt::Display for PlacesUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn default_places_timeout_ms() -> u64 {
    5_000
}

/// Bounds on everything that grows. Identical for every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Distinct clients a server stores; past it, new clients are refused (known ones still
    /// update).
    pub max_clients: usize,
    /// Open connections (clients and peers) a server accepts; past it, a connection gets a
    /// refusal line and is closed.
    pub max_connections: usize,
    /// Lines queued for one peer link; a link that falls this far behind is reset and
    /// catches up by anti-entropy when it comes back.
    pub peer_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_clients: 1_000_000,
            max_connections: 20_000,
            peer_queue: 65_536,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerConfig {
    pub name: String,
    pub addr: SocketAddr,
    pub neighbours: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    herd: HerdSection,
    places: PlacesConfig,
    #[serde(default)]
    limits: Limits,
    #[serde(rename = "server", default)]
    servers: Vec<RawServer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    name: Spanned<String>,
    addr: Spanned<String>,
    #[serde(default)]
    neighbours: Vec<Spanned<String>>,
}

impl HerdConfig {
    /// Parses and validates TOML text; `source` names it in errors (usually the file path).
    pub fn parse(text: &str, source: &str) -> Result<HerdConfig, ConfigError> {
        // Counted in bytes: a span may point inside a multi-byte character (slicing the text
        // there would panic), and a newline byte is never part of one.
        let line_of = |offset: usize| {
            let before = &text.as_bytes()[..offset.min(text.len())];
            before.iter().filter(|&&b| b == b'\n').count() + 1
        };
        let err = |span: Option<std::ops::Range<usize>>, message: String| ConfigError {
            source: source.to_owned(),
            line: span.map(|s| line_of(s.start)),
            message,
        };
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| err(e.span(), e.message().to_owned()))?;

        if raw.servers.is_empty() {
            return Err(err(
                None,
                "no [[server]] entries: a herd needs at least one server".into(),
            ));
        }
        let mut names = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        let mut servers = Vec::with_capacity(raw.servers.len());
        for s in &raw.servers {
            let name = s.name.get_ref();
            if !valid_name(name) {
                return Err(err(
                    Some(s.name.span()),
                    format!(
                        "server name {name:?} must be 1-{MAX_SERVER_NAME_BYTES} bytes with no whitespace or control characters"
                    ),
                ));
            }
            if names.insert(name.clone(), s).is_some() {
                return Err(err(
                    Some(s.name.span()),
                    format!("server {name:?} is defined twice"),
                ));
            }
            let addr: SocketAddr = s.addr.get_ref().parse().map_err(|_| {
                err(
                    Some(s.addr.span()),
                    format!(
                        "server {name:?}: addr {:?} is not ip:port (e.g. 127.0.0.1:12000)",
                        s.addr.get_ref()
                    ),
                )
            })?;
            if let Some(other) = addrs.insert(addr, name.clone()) {
                return Err(err(
                    Some(s.addr.span()),
                    format!("server {name:?} uses {addr}, already used by {other:?}"),
                ));
            }
            if addr.port() == 0 {
                return Err(err(
                    Some(s.addr.span()),
                    format!("server {name:?} needs a fixed port, not 0"),
                ));
            }
            servers.push(ServerConfig {
                name: name.clone(),
                addr,
                neighbours: s.neighbours.iter().map(|n| n.get_ref().clone()).collect(),
            });
        }
        for s in &raw.servers {
            let name = s.name.get_ref();
            let mut seen = BTreeSet::new();
            for n in &s.neighbours {
                let neighbour = n.get_ref();
                let Some(other) = names.get(neighbour) else {
                    return Err(err(
                        Some(n.span()),
                        format!(
                            "server {name:?} lists neighbour {neighbour:?}, which is not a server of this herd"
                        ),
                    ));
                };
                if neighbour == name {
                    return Err(err(
                        Some(n.span()),
                        format!("server {name:?} lists itself as a neighbour"),
                    ));
                }
                if !seen.insert(neighbour) {
                    return Err(err(
                        Some(n.span()),
                        format!("server {name:?} lists {neighbour:?} twice"),
                    ));
                }
                if !other.neighbours.iter().any(|m| m.get_ref() == name) {
                    return Err(err(
                        Some(n.span()),
                        format!(
                            "link {name:?} -> {neighbour:?} is one-sided: add {name:?} to the neighbours of {neighbour:?}"
                        ),
                    ));
                }
            }
        }
        Ok(HerdConfig {
            herd: raw.herd,
            places: raw.places,
            limits: raw.limits,
            servers,
        })
    }

    /// The configuration as TOML text, which [`HerdConfig::parse`] reads back.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// Names of all servers, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|s| s.name.as_str())
    }

    /// Hop distance between two servers (breadth-first), or `None` if not connected.
    pub fn hops(&self, from: &str, to: &str) -> Option<usize> {
        let mut frontier = vec![from];
        let mut seen = BTreeSet::from([from]);
        for distance in 0.. {
            if frontier.is_empty() {
                return None;
            }
            if frontier.contains(&to) {
                return Some(distance);
            }
            let mut next = Vec::new();
            for name in frontier {
                for n in self
                    .server(name)
                    .map(|s| s.neighbours.as_slice())
                    .unwrap_or_default()
                {
                    if seen.insert(n.as_str()) {
                        next.push(n.as_str());
                    }
                }
            }
            frontier = next;
        }
        None
    }
}

/// Server names travel in lines split on whitespace, so they may hold none.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SERVER_NAME_BYTES
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const TWO: &str = r#"
[herd]
key = "k"

[places]
base_url = "http://127.0.0.1:8090"
key = "pk"

[[server]]
name = "A"
addr = "127.0.0.1:12001"
neighbours = ["B"]

[[server]]
name = "B"
addr = "127.0.0.1:12002"
neighbours = ["A"]
"#;

    #[test]
    fn parses_and_round_trips() {
        let c = HerdConfig::parse(TWO, "two.toml").expect("valid");
        assert_eq!(c.servers.len(), 2);
        assert_eq!(c.places.timeout(), Duration::from_secs(5));
        assert_eq!(c.limits, Limits::default());
        assert_eq!(HerdConfig::parse(&c.to_toml(), "again"), Ok(c));
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let cases = [
            (
                TWO.replace("neighbours = [\"A\"]", "neighbours = []"),
                12,
                "one-sided",
            ),
            (
                TWO.replace("neighbours = [\"B\"]", "neighbours = [\"C\"]"),
                12,
                "not a server",
            ),
            (TWO.replace("12002", "12001"), 16, "already used by \"A\""),
            (
                TWO.replace("name = \"B\"", "name = \"A\""),
                15,
                "defined twice",
            ),
            (
                TWO.replace("neighbours = [\"B\"]", "neighbours = [\"B\", \"B\"]"),
                12,
                "twice",
            ),
            (
                TWO.replace("\"127.0.0.1:12002\"", "\"localhost\""),
                16,
                "not ip:port",
            ),
            (
                TWO.replace("addr = \"127.0.0.1:12002\"", "adr = \"x\""),
                16,
                "unknown field",
            ),
            (
                TWO.replace("http://", "https://"),
                6,
                "must start with http://",
            ),
            (
                TWO.replace("http://127.0.0.1:8090", "http:///x"),
                6,
                "no usable host",
            ),
        ];
        for (text, line, words) in cases {
            let e = HerdConfig::parse(&text, "herd.toml").expect_err(words);
            assert_eq!(e.line, Some(line), "{e}");
            assert!(
                e.to_string().starts_with(&format!("herd.toml:{line}: ")),
                "{e}"
            );
            assert!(e.message.contains(words), "{e}");
        }
    }

    #[test]
    fn server_names_are_bounded_in_bytes_not_characters() {
        // "é" is two bytes: 127 of them and one "x" make exactly the cap.
        let at_cap = format!("{}x", "é".repeat(MAX_SERVER_NAME_BYTES / 2));
        assert_eq!(at_cap.len(), MAX_SERVER_NAME_BYTES);
        let over = format!("{at_cap}y");
        let rename = |name: &str| TWO.replace("\"B\"", &format!("\"{name}\""));
        let c = HerdConfig::parse(&rename(&at_cap), "herd.toml").expect("a name at the cap");
        assert!(c.server(&at_cap).is_some());
        let e = HerdConfig::parse(&rename(&over), "herd.toml").expect_err("one byte past");
        assert_eq!(e.line, Some(15), "{e}");
        assert!(e.message.contains("must be 1-255 bytes"), "{e}");
    }

    #[test]
    fn an_error_at_a_multi_byte_character_names_its_line() {
        // Found by the config fuzz target: the error's span starts inside "ü"'s two bytes.
        let e = HerdConfig::parse("[places]\nü = 1\n", "herd.toml").expect_err("bad key");
        assert_eq!(e.line, Some(2), "{e}");
        let e = HerdConfig::parse("[herd]\nkey = \"é\"\n[x]\nü = 1\n", "h").expect_err("bad");
        assert!(e.line.is_some_and(|l| l >= 3), "{e}");
    }

    #[test]
    fn places_url_is_parsed_once_into_its_parts() {
        let cases = [
            ("http://127.0.0.1:8090", "127.0.0.1:8090", ""),
            ("http://places.test/v1/", "places.test:80", "/v1"),
            ("http://h:99/a/b", "h:99", "/a/b"),
        ];
        for (text, authority, prefix) in cases {
            let url = PlacesUrl::parse(text).expect(text);
            assert_eq!(
                (url.authority(), url.prefix()),
                (authority, prefix),
                "{text}"
            );
            assert_eq!(url.as_str(), text);
        }
        assert!(matches!(
            PlacesUrl::parse("http://u@h/"),
            Err(BadPlacesUrl::NoHost(_))
        ));
        let c = HerdConfig::parse(TWO, "two.toml").expect("valid");
        let back = HerdConfig::parse(&c.to_toml(), "again").expect("round trip");
        assert_eq!(back.places.base_url, c.places.base_url);
    }

    #[test]
    fn hops_follow_links() {
        let c = HerdConfig::parse(TWO, "two.toml").expect("valid");
        assert_eq!(c.hops("A", "A"), Some(0));
        assert_eq!(c.hops("A", "B"), Some(1));
        assert_eq!(c.hops("A", "Z"), None);
    }
}
