//! Line framing with a hard length cap.
//!
//! Bytes arrive in arbitrary pieces; [`LineBuffer`] hands back whole lines without their
//! terminator (`\n`, or `\r\n`: one `\r` before the `\n` is dropped). A line that grows past
//! [`MAX_LINE_BYTES`] without a newline is an error the caller answers by closing the
//! connection, so a client can never make the buffer grow without bound.

use crate::MAX_LINE_BYTES;

/// The peer sent more than [`MAX_LINE_BYTES`] without ending the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line longer than {limit} bytes")]
pub struct LineTooLong {
    pub limit: usize,
}

/// Accumulates received bytes and splits them into lines.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    /// Start of the first byte not yet handed out as part of a line.
    start: usize,
    /// How far `buf[start..]` has already been searched for `\n`.
    scanned: usize,
    limit: usize,
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl LineBuffer {
    pub fn new() -> Self {
        Self::with_limit(MAX_LINE_BYTES)
    }

    /// A buffer with another cap (tests use small ones).
    pub fn with_limit(limit: usize) -> Self {
        LineBuffer {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            limit,
        }
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        // Compact lazily: only when what was consumed is at least half the buffer, so the
        // cost of moving the unread tail stays amortised O(1) per byte.
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole line, without its terminator; `None` when no full line is buffered.
    ///
    /// Once it returns an error the connection must be closed: the rest of the stream can
    /// no longer be framed reliably.
    pub fn next_line(&mut self) -> Option<Result<&[u8], LineTooLong>> {
        let pending = &self.buf[self.start..];
        match pending[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(offset) => {
                let end = self.scanned + offset;
                let line_start = self.start;
                let mut line = &self.buf[line_start..line_start + end];
                if let [rest @ .., b'\r'] = line {
                    line = rest;
                }
                // The cap is on the line without its terminator, `\r` included.
                if line.len() > self.limit {
                    return Some(Err(LineTooLong { limit: self.limit }));
                }
                self.start += end + 1;
                self.scanned = 0;
                Some(Ok(line))
            }
            None => {
                self.scanned = pending.len();
                // A `\r` may still be followed by `\n`, so allow one byte of slack.
                (pending.len() > self.limit + 1).then_some(Err(LineTooLong { limit: self.limit }))
            }
        }
    }

    /// Bytes received but not yet handed out as lines.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Takes the unconsumed bytes, leaving the buffer empty (used when a connection changes
    /// role, e.g. a client connection that turns out to be a peer link).
    pub fn take_pending(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.start);
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(buf: &mut LineBuffer) -> Vec<Result<Vec<u8>, LineTooLong>> {
        let mut out = Vec::new();
        while let Some(line) = buf.next_line() {
            let failed = line.is_err();
            out.push(line.map(<[u8]>::to_vec));
            if failed {
                break;
            }
        }
        out
    }

    #[test]
    fn splits_on_newline_and_drops_one_cr() {
        let mut buf = LineBuffer::new();
        buf.extend(b"a b\r\nc\n\r\r\n\n");
        assert_eq!(
            lines(&mut buf),
            vec![
                Ok(b"a b".to_vec()),
                Ok(b"c".to_vec()),
                Ok(b"\r".to_vec()),
                Ok(vec![])
            ]
        );
        assert!(buf.pending().is_empty());
    }

    #[test]
    fn joins_pieces_split_anywhere() {
        let input = b"IAMAT kiwi +34-118 1\nWHATSAT kiwi 10 5\r\n";
        for cut in 0..input.len() {
            let mut buf = LineBuffer::new();
            let mut got = Vec::new();
            buf.extend(&input[..cut]);
            got.extend(lines(&mut buf));
            buf.extend(&input[cut..]);
            got.extend(lines(&mut buf));
            assert_eq!(
                got,
                vec![
                    Ok(b"IAMAT kiwi +34-118 1".to_vec()),
                    Ok(b"WHATSAT kiwi 10 5".to_vec())
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn line_at_the_cap_passes_one_past_fails() {
        let mut buf = LineBuffer::with_limit(8);
        buf.extend(b"12345678\n");
        assert_eq!(lines(&mut buf), vec![Ok(b"12345678".to_vec())]);
        buf.extend(b"123456789\n");
        assert_eq!(lines(&mut buf), vec![Err(LineTooLong { limit: 8 })]);
    }

    #[test]
    fn the_cap_excludes_the_crlf_terminator() {
        let mut buf = LineBuffer::with_limit(8);
        buf.extend(b"12345678\r\n123456789\r\n");
        assert_eq!(
            lines(&mut buf),
            vec![Ok(b"12345678".to_vec()), Err(LineTooLong { limit: 8 })]
        );
    }

    #[test]
    fn unterminated_overlong_line_fails_before_its_newline_arrives() {
        let mut buf = LineBuffer::with_limit(8);
        buf.extend(b"1234567890");
        assert_eq!(lines(&mut buf), vec![Err(LineTooLong { limit: 8 })]);
    }

    #[test]
    fn memory_stays_bounded_under_many_small_lines() {
        let mut buf = LineBuffer::with_limit(64);
        for _ in 0..10_000 {
            buf.extend(b"x\n");
            assert_eq!(buf.next_line(), Some(Ok(&b"x"[..])));
        }
        assert!(buf.buf.capacity() < 1024);
    }

    #[test]
    fn take_pending_returns_unread_bytes() {
        let mut buf = LineBuffer::new();
        buf.extend(b"HELLO a k\nAT x");
        assert_eq!(buf.next_line(), Some(Ok(&b"HELLO a k"[..])));
        assert_eq!(buf.take_pending(), b"AT x".to_vec());
        assert!(buf.next_line().is_none());
    }
}
