//! The server-herd protocol as a sans-IO core.
//!
//! Everything every herd backend must agree on lives here: line framing with a length cap
//! ([`framing`]), parsing and formatting of every line ([`message`]), exact times and skews
//! ([`time`]), the location store ([`store`]), the per-server state machine with flooding
//! and anti-entropy ([`node`]), the places HTTP call and the reply built from it
//! ([`places`]), the herd configuration ([`config`]) and the reconnect schedule
//! ([`backoff`]), and the sequencing of every connection as sans-IO sessions
//! ([`session`]). [`client`] frames replies for load generators and tests.
//!
//! It deliberately does no I/O: it opens no socket, reads no clock (times are arguments)
//! and spawns nothing. A backend ("shell") moves bytes between sockets and these types, so
//! two backends can only differ in how their runtime moves bytes, never in what they say.

pub mod backoff;
pub mod client;
pub mod config;
pub mod framing;
pub mod message;
pub mod node;
pub mod places;
pub mod session;
pub mod store;
pub mod time;

pub use config::{
    BadPlacesUrl, ConfigError, HerdConfig, Limits, PlacesConfig, PlacesUrl, ServerConfig,
};
pub use framing::{
    LineBuffer, LineTooLong, MAX_LINE_BYTES, MAX_PEER_LINE_BYTES, MAX_SERVER_NAME_BYTES,
    MAX_SKEW_BYTES,
};
pub use message::{Command, Invalid, Record};
pub use node::{ClientStep, Dial, Flood, HandshakeError, LinkId, Node, PeerStep, UnknownServer};
pub use places::{HttpResponse, PlacesCall, PlacesFailure, ResponseReader};
pub use session::{
    ClientAction, ClientCore, ClientSession, Closed, DialError, DialHandshake, FLOOD_WAIT, LinkEnd,
    LinkReader, Outbox, PlacesExchange, PlacesStep, Redial,
};
pub use time::{Nanos, Skew};
