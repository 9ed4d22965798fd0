//! The reply check: does a whole reply, as the protocol's `ReplyReader` cut it out of the
//! stream, answer the command that was sent?
//!
//! An IAMAT is answered by an `AT` line naming its client. A WHATSAT is answered by such a
//! line and the places JSON; it counts as answered only when the JSON's top-level `status`
//! is `OK` or `ZERO_RESULTS`, read by parsing the JSON, not by searching its text, so the
//! server's spacing and key order do not matter. Anything else from a server that did
//! answer the right client (a places failure passed on) is an error; a reply about another
//! client, or no `AT` line at all, is wrong.

use herd_protocol::client::Expect;
use serde::Deserialize;

/// What a reply says about the command it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Not an answer to this command (another client, a `? ` rejection, no `AT` line).
    Wrong,
    /// The right client's answer, reporting a failure (the places call failed).
    Error,
}

/// The name a reply must carry, held inline: checking a reply allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClientName {
    len: u8,
    bytes: [u8; ClientName::CAP],
}

impl ClientName {
    pub const CAP: usize = 47;

    /// `None` for a name longer than [`ClientName::CAP`] bytes.
    pub fn new(name: &[u8]) -> Option<ClientName> {
        let len = u8::try_from(name.len())
            .ok()
            .filter(|&l| usize::from(l) <= Self::CAP)?;
        let mut bytes = [0; Self::CAP];
        bytes[..name.len()].copy_from_slice(name);
        Some(ClientName { len, bytes })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for ClientName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// The part of a places reply the check reads; every other field is skipped unparsed.
#[derive(Deserialize)]
struct PlacesStatus<'a> {
    #[serde(borrow)]
    status: std::borrow::Cow<'a, str>,
}

/// Judges `reply` (terminators included) as the answer to a command of kind `expect` for
/// `client`.
pub fn check(reply: &[u8], expect: Expect, client: &[u8]) -> Verdict {
    // ReplyReader cut an IAMAT's reply at its newline: no need to look for it again.
    let line_end = match expect {
        Expect::Line => reply.len().saturating_sub(1),
        Expect::Whatsat => reply
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(reply.len()),
    };
    let line = &reply[..line_end];
    // AT <server> <skew> <client> <location> <time>
    let names_client = line
        .strip_prefix(b"AT ")
        .and_then(after_field)
        .and_then(after_field)
        .is_some_and(|rest| {
            rest.strip_prefix(client)
                .is_some_and(|after| after.is_empty() || after[0] == b' ')
        });
    if !names_client {
        return Verdict::Wrong;
    }
    match expect {
        Expect::Line => Verdict::Ok,
        Expect::Whatsat => {
            let body = reply.get(line_end + 1..).unwrap_or_default();
            match serde_json::from_slice::<PlacesStatus<'_>>(body) {
                Ok(p) if p.status == "OK" || p.status == "ZERO_RESULTS" => Verdict::Ok,
                // The server answered, but its places call failed (or passed on garbage).
                _ => Verdict::Error,
            }
        }
    }
}

/// What follows the first space-terminated field.
fn after_field(text: &[u8]) -> Option<&[u8]> {
    let space = text.iter().position(|&b| b == b' ')?;
    Some(&text[space + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "AT Clark +0.000123456 kiwi +34.068930-118.445127 1621464827.959498503";

    #[test]
    fn replies_are_judged_by_their_meaning() {
        let whatsat = |json: &str| format!("{AT}\n{json}\n\n");
        let cases: Vec<(String, Expect, &str, Verdict)> = vec![
            (format!("{AT}\n"), Expect::Line, "kiwi", Verdict::Ok),
            (format!("{AT}\n"), Expect::Line, "kiw", Verdict::Wrong),
            (format!("{AT}\n"), Expect::Line, "kiwi2", Verdict::Wrong),
            (
                "? IAMAT kiwi x y\n".into(),
                Expect::Line,
                "kiwi",
                Verdict::Wrong,
            ),
            ("AT Clark\n".into(), Expect::Line, "kiwi", Verdict::Wrong),
            (
                "AT Clark +0.1 kiwi\n".into(),
                Expect::Line,
                "kiwi",
                Verdict::Ok,
            ),
            (
                "AT Clark +0.1 kiwi2 x y\n".into(),
                Expect::Line,
                "kiwi",
                Verdict::Wrong,
            ),
            (
                "AT  Clark +0.1 kiwi x y\n".into(),
                Expect::Line,
                "kiwi",
                Verdict::Wrong,
            ),
            (
                "IAMAT Clark +0.1 kiwi x y\n".into(),
                Expect::Line,
                "kiwi",
                Verdict::Wrong,
            ),
            (String::new(), Expect::Line, "kiwi", Verdict::Wrong),
            // The server's own spacing, compact JSON, and keys in another order all pass.
            (
                whatsat("{\n    \"results\": [],\n    \"status\": \"OK\"\n}"),
                Expect::Whatsat,
                "kiwi",
                Verdict::Ok,
            ),
            (
                whatsat(r#"{"status":"OK","results":[{"name":"x","business_status":"CLOSED"}]}"#),
                Expect::Whatsat,
                "kiwi",
                Verdict::Ok,
            ),
            (
                whatsat("{ \"status\" :\"ZERO_RESULTS\", \"results\": [] }"),
                Expect::Whatsat,
                "kiwi",
                Verdict::Ok,
            ),
            // A nested "status": "OK" does not make a failed call a success.
            (
                whatsat(
                    r#"{"results":[{"status":"OK"}],"status":"REQUEST_DENIED","error_message":"no"}"#,
                ),
                Expect::Whatsat,
                "kiwi",
                Verdict::Error,
            ),
            (
                whatsat(r#"{"results": [], "note": "\"status\": \"OK\""}"#),
                Expect::Whatsat,
                "kiwi",
                Verdict::Error,
            ),
            (whatsat("not json"), Expect::Whatsat, "kiwi", Verdict::Error),
            (
                "? WHATSAT kiwi 10 5\n".into(),
                Expect::Whatsat,
                "kiwi",
                Verdict::Wrong,
            ),
        ];
        for (reply, expect, client, verdict) in cases {
            assert_eq!(
                check(reply.as_bytes(), expect, client.as_bytes()),
                verdict,
                "{reply:?} for {client}"
            );
        }
    }

    #[test]
    fn client_names_are_held_inline_up_to_the_cap() {
        let name = ClientName::new(b"lg12345").expect("short");
        assert_eq!(name.as_bytes(), b"lg12345");
        assert!(ClientName::new(&[b'x'; ClientName::CAP]).is_some());
        assert!(ClientName::new(&[b'x'; ClientName::CAP + 1]).is_none());
    }
}
