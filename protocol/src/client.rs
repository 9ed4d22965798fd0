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
    /// Initialised bytes; `start..end` are received and not yet returned. Room past `end`
    /// stays allocated (and initialised) so reads can go straight into it.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    limit: usize,
}

impl ReplyReader {
    /// `limit` caps one reply's size; past it [`ReplyReader::next_reply`] reports an error.
    pub fn new(limit: usize) -> Self {
        ReplyReader {
            buf: Vec::new(),
            start: 0,
            end: 0,
            limit,
        }
    }

    /// Makes room for `more` bytes after `end`: returned bytes are dropped first (free when
    /// every byte was returned, the usual case; a move of the unreturned tail otherwise).
    fn room(&mut self, more: usize) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && (self.start * 2 >= self.end || self.end + more > self.buf.len())
        {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end + more > self.buf.len() {
            self.buf.resize(self.end + more, 0);
        }
    }

    pub fn extend(&mut self, bytes: &[u8]) {
        self.room(bytes.len());
        self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
    }

    /// One `read` of at most `max` bytes from `src` straight into the buffer (no copy
    /// through a caller's buffer); returns what `read` returned.
    pub fn read_from(
        &mut self,
        src: &mut impl std::io::Read,
        max: usize,
    ) -> std::io::Result<usize> {
        self.room(max);
        let n = src.read(&mut self.buf[self.end..self.end + max])?;
        self.end += n;
        Ok(n)
    }

    /// The next complete reply of the expected kind, `Ok(None)` if more bytes are needed.
    pub fn next_reply(&mut self, expect: Expect) -> Result<Option<&[u8]>, ReplyTooLong> {
        let pending = &self.buf[self.start..self.end];
        let end = match expect {
            Expect::Line => newline(pending).map(|i| i + 1),
            Expect::Whatsat if pending.starts_with(b"? ") => newline(pending).map(|i| i + 1),
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
        &self.buf[self.start..self.end]
    }
}

/// The first `\n` in `bytes`, looked for eight bytes at a time (a byte loop was a visible
/// share of a load generator's time per reply).
fn newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8])) ^ NEWLINES;
        // Nonzero exactly when some byte of `word` is zero, i.e. some byte was a newline.
        if word.wrapping_sub(ONES) & !word & HIGHS != 0 {
            return chunk.iter().position(|&b| b == b'\n').map(|i| at + i);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| at + i)
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
    fn newlines_are_found_wherever_they_are() {
        for len in 0..40 {
            for at in 0..len {
                let mut bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                // Bytes whose low bits look like a newline's, and high bytes, must not match.
                if at > 0 {
                    bytes[at - 1] = 0x8a;
                }
                bytes[at] = b'\n';
                assert_eq!(newline(&bytes), Some(at), "{len} {at}");
                bytes[at] = b'\x0b';
                assert_eq!(newline(&bytes), None, "{len} {at}");
            }
        }
    }

    #[test]
    fn reads_go_straight_into_the_buffer_and_keep_unreturned_bytes() {
        let mut r = ReplyReader::new(1 << 20);
        let mut src: &[u8] = b"AT a\nAT b\nAT ";
        assert_eq!(r.read_from(&mut src, 64).ok(), Some(13));
        assert_eq!(r.next_reply(Expect::Line), Ok(Some(&b"AT a\n"[..])));
        assert_eq!(r.next_reply(Expect::Line), Ok(Some(&b"AT b\n"[..])));
        assert_eq!(r.next_reply(Expect::Line), Ok(None));
        // The unreturned tail moves to the front before the next read, and reads that
        // return less than they were offered leave only what they read.
        let mut src: &[u8] = b"c\nAT d";
        assert_eq!(r.read_from(&mut src, 4).ok(), Some(4));
        assert_eq!(r.pending(), b"AT c\nAT");
        assert_eq!(r.next_reply(Expect::Line), Ok(Some(&b"AT c\n"[..])));
        assert_eq!(r.read_from(&mut src, 64).ok(), Some(2));
        r.extend(b"\n");
        assert_eq!(r.next_reply(Expect::Line), Ok(Some(&b"AT d\n"[..])));
        assert!(r.pending().is_empty());
    }

    #[test]
    fn overlong_reply_is_an_error() {
        let mut r = ReplyReader::new(4);
        r.extend(b"123456");
        assert_eq!(r.next_reply(Expect::Line), Err(ReplyTooLong));
    }
}
