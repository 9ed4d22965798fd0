//! The client's side of the protocol: splitting a byte stream of replies back into replies.
//!
//! A client knows what it asked, so it says what it expects: an IAMAT (or anything invalid)
//! is answered by one line; a WHATSAT by its AT line and JSON up to a blank line, unless it
//! was rejected with a one-line `? ` reply. Load generators and tests use this instead of
//! framing replies by hand.

/// What the next reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// One line (IAMAT replies, `? ` rejections).
    Line,
    /// A WHATSAT reply: ends with `\n\n`, or is one `? ` line.
    Whatsat,
}

/// Buffers reply bytes and hands back whole replies, terminators included.
#[derive(Debug, Default)]
pub struct ReplyReader {
    buf: Vec<u8>,
    start: usize,
    limit: usize,
}

impl ReplyReader {
    /// `limit` caps one reply's size; past it [`ReplyReader::next_reply`] reports an error.
    pub fn new(limit: usize) -> Self {
        ReplyReader {
            buf: Vec::new(),
            start: 0,
            limit,
        }
    }

    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete reply of the expected kind, `Ok(None)` if more bytes are needed.
    pub fn next_reply(&mut self, expect: Expect) -> Result<Option<&[u8]>, ReplyTooLong> {
        let pending = &self.buf[self.start..];
        let end = match expect {
            Expect::Line => pending.iter().position(|&b| b == b'\n').map(|i| i + 1),
            Expect::Whatsat if pending.starts_with(b"? ") => {
                pending.iter().position(|&b| b == b'\n').map(|i| i + 1)
            }
            Expect::Whatsat => pending.windows(2).position(|w| w == b"\n\n").map(|i| i + 2),
        };
        match end {
            Some(end) => {
                let from = self.start;
                self.start += end;
                Ok(Some(&self.buf[from..from + end]))
            }
            None if pending.len() > self.limit => Err(ReplyTooLong),
            None => Ok(None),
        }
    }

    /// Bytes received and not yet returned as a reply.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("reply larger than the client's limit")]
pub struct ReplyTooLong;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_mixed_replies() {
        let mut r = ReplyReader::new(1 << 20);
        r.extend(b"AT S +0.000000000 c +1+1 1\nAT S +0.0");
        assert_eq!(
            r.next_reply(Expect::Line),
            Ok(Some(&b"AT S +0.000000000 c +1+1 1\n"[..]))
        );
        assert_eq!(r.next_reply(Expect::Whatsat), Ok(None));
        r.extend(b"00000000 c +1+1 1\n{\n \"a\": 1\n}\n\n? WHATSAT x 1 1\n");
        assert_eq!(
            r.next_reply(Expect::Whatsat),
            Ok(Some(
                &b"AT S +0.000000000 c +1+1 1\n{\n \"a\": 1\n}\n\n"[..]
            ))
        );
        assert_eq!(
            r.next_reply(Expect::Whatsat),
            Ok(Some(&b"? WHATSAT x 1 1\n"[..]))
        );
        assert!(r.pending().is_empty());
    }

    #[test]
    fn overlong_reply_is_an_error() {
        let mut r = ReplyReader::new(4);
        r.extend(b"123456");
        assert_eq!(r.next_reply(Expect::Line), Err(ReplyTooLong));
    }
}
