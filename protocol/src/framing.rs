//! Line framing with a hard length cap.
//!
//! Bytes arrive in arbitrary pieces; [`LineBuffer`] hands back whole lines without their
//! terminator (`\n`, or `\r\n`: one `\r` before the `\n` is dropped). A line that grows past
//! [`MAX_LINE_BYTES`] without a newline is an error the caller answers by closing the
//! connection, so a client can never make the buffer grow without bound.

/// Longest line, in bytes without its terminator, that any server accepts. A longer line
/// closes the connection that sent it.
pub const MAX_LINE_BYTES: usize = 65_536;

/// Longest server name a config may give (bytes). Server names travel in every `AT` line,
/// so bounding them is what lets [`MAX_PEER_LINE_BYTES`] be a fixed number.
pub const MAX_SERVER_NAME_BYTES: usize = 255;

/// Longest skew an `AT` line made here can carry: sign, up to 21 integer digits (a client
/// time is at most `u64::MAX` seconds and a server clock within about 10^19 seconds of the
/// epoch, so the difference stays below 10^21 s), the point and nine fractional digits.
pub const MAX_SKEW_BYTES: usize = 1 + 21 + 1 + 9;

/// Longest line, without its terminator, that a peer link accepts. An `AT` line is its
/// IAMAT with `IAMAT` replaced by `AT <server> <skew>` and spacing made canonical, so it is
/// at most `MAX_SERVER_NAME_BYTES + MAX_SKEW_BYTES - 1` bytes longer than the IAMAT: a link
/// must carry every record its server accepted from a client, or an IAMAT at the client cap
/// would reset the link on every anti-entropy resend.
pub const MAX_PEER_LINE_BYTES: usize = MAX_LINE_BYTES + MAX_SERVER_NAME_BYTES + MAX_SKEW_BYTES;

/// Room [`LineBuffer::read_buf`] lends at first, and again once reads come back short: an
/// IAMAT line is about 50-70 bytes, so an idle or strict client's reads fit in this many,
/// and it is all an idle connection's line buffer holds.
pub const FIRST_READ: usize = 128;
/// The most room one read is lent: 16 KiB, as much as a busy pipelining client sends at once.
pub const MAX_READ: usize = 16 * 1024;

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
    /// End of the received bytes in `buf`; past it lies room lent by [`LineBuffer::read_buf`].
    filled: usize,
    /// How far `buf[start..]` has already been searched for `\n`.
    scanned: usize,
    /// The room the next read is lent, learned from the reads before it: doubled when a
    /// read fills all it was lent (more was probably waiting), halved when one comes back
    /// with under a quarter of it (unless the read before filled its room: that short read
    /// is the tail of a burst), always within [`FIRST_READ`]..=[`MAX_READ`].
    room: usize,
    /// Whether the last read filled all the room it was lent.
    last_full: bool,
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
            filled: 0,
            scanned: 0,
            room: FIRST_READ,
            last_full: false,
            limit,
        }
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(bytes);
        self.filled = self.buf.len();
    }

    /// Room to read into directly, so a connection needs no read buffer of its own; report
    /// how much arrived with [`LineBuffer::filled`].
    ///
    /// The room starts at [`FIRST_READ`] bytes. It grows, up to [`MAX_READ`], while reads
    /// fill all of it (a pipelining client: its whole burst then arrives in one read, and
    /// its replies leave in one write) and while an incomplete line fills what is pending;
    /// it shrinks back as reads come back short. An idle connection, or one whose lines
    /// are short and few, holds about [`FIRST_READ`] bytes, and a buffer that has grown is
    /// given back once its lines are consumed and the reads have shrunk.
    pub fn read_buf(&mut self) -> &mut [u8] {
        self.buf.truncate(self.filled);
        self.compact();
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            if self.buf.capacity() > 2 * self.room.max(FIRST_READ) {
                self.buf.shrink_to(self.room);
            }
        }
        let pending = self.buf.len() - self.start;
        let room = pending
            .next_power_of_two()
            .max(self.room)
            .clamp(FIRST_READ, MAX_READ);
        self.filled = self.buf.len();
        self.buf.resize(self.filled + room, 0);
        &mut self.buf[self.filled..]
    }

    /// `n` bytes were read into the room [`LineBuffer::read_buf`] lent.
    pub fn filled(&mut self, n: usize) {
        let lent = self.buf.len() - self.filled;
        let full = lent > 0 && n >= lent;
        if full {
            self.room = (lent * 2).min(MAX_READ);
        } else if n < lent / 4 && !self.last_full {
            self.room = (self.room / 2).max(FIRST_READ);
        }
        self.last_full = full;
        self.filled = (self.filled + n).min(self.buf.len());
        self.buf.truncate(self.filled);
    }

    /// Drops consumed bytes, but only when they are at least half the buffer, so the cost
    /// of moving the unread tail stays amortised O(1) per byte.
    fn compact(&mut self) {
        self.buf.truncate(self.filled);
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
            self.filled = self.buf.len();
        }
    }

    /// The next whole line, without its terminator; `None` when no full line is buffered.
    ///
    /// Once it returns an error the connection must be closed: the rest of the stream can
    /// no longer be framed reliably.
    pub fn next_line(&mut self) -> Option<Result<&[u8], LineTooLong>> {
        let pending = &self.buf[self.start..self.filled];
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
        &self.buf[self.start..self.filled]
    }

    /// Takes the unconsumed bytes, leaving the buffer empty (used when a connection changes
    /// role, e.g. a client connection that turns out to be a peer link).
    pub fn take_pending(&mut self) -> Vec<u8> {
        self.buf.truncate(self.filled);
        let rest = self.buf.split_off(self.start);
        self.buf.clear();
        self.start = 0;
        self.filled = 0;
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

    /// Reads `input` through `read_buf`/`filled` in pieces of at most `piece` bytes.
    fn read_through(buf: &mut LineBuffer, input: &[u8], piece: usize) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        for chunk in input.chunks(piece) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let room = buf.read_buf();
                let n = room.len().min(rest.len());
                room[..n].copy_from_slice(&rest[..n]);
                buf.filled(n);
                rest = &rest[n..];
                while let Some(Ok(line)) = buf.next_line() {
                    got.push(line.to_vec());
                }
            }
        }
        got
    }

    #[test]
    fn reads_in_place_start_small_grow_for_long_lines_and_shrink_back() {
        let mut buf = LineBuffer::new();
        assert_eq!(buf.read_buf().len(), FIRST_READ);
        buf.filled(0);
        let long = vec![b'x'; 40_000];
        let mut input = long.clone();
        input.extend_from_slice(b"\nshort\n");
        let got = read_through(&mut buf, &input, 100_000);
        assert_eq!(got, vec![long, b"short".to_vec()]);
        assert!(
            buf.buf.capacity() >= 40_000,
            "grew while the line was incomplete"
        );
        // Short reads from now on: the room halves with each, back to the first size.
        let mut rooms = Vec::new();
        for _ in 0..8 {
            let room = buf.read_buf();
            rooms.push(room.len());
            room[..2].copy_from_slice(b"a\n");
            buf.filled(2);
            assert_eq!(buf.next_line(), Some(Ok(&b"a"[..])));
        }
        assert!(rooms.windows(2).all(|w| w[1] <= w[0]), "{rooms:?}");
        assert_eq!(
            buf.read_buf().len(),
            FIRST_READ,
            "all consumed, reads short: small again ({rooms:?})"
        );
        assert!(
            buf.buf.capacity() <= 2 * FIRST_READ,
            "and the memory given back"
        );
        buf.filled(0);
        assert!(buf.pending().is_empty(), "lent room is not data");
    }

    #[test]
    fn reads_that_fill_the_room_grow_it_so_a_burst_arrives_in_one_read() {
        let mut buf = LineBuffer::new();
        let line = b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\n";
        let burst: Vec<u8> = line.iter().copied().cycle().take(line.len() * 16).collect();
        // A client that sends bursts of 16 lines: the first bursts take several reads,
        // later ones one read each.
        let mut reads_per_burst = Vec::new();
        for _ in 0..6 {
            let (mut rest, mut reads, mut lines) = (&burst[..], 0, 0);
            while !rest.is_empty() {
                let room = buf.read_buf();
                let n = room.len().min(rest.len());
                room[..n].copy_from_slice(&rest[..n]);
                buf.filled(n);
                rest = &rest[n..];
                reads += 1;
                while let Some(Ok(_)) = buf.next_line() {
                    lines += 1;
                }
            }
            assert_eq!(lines, 16);
            reads_per_burst.push(reads);
        }
        assert!(reads_per_burst[0] > 1, "{reads_per_burst:?}");
        assert_eq!(reads_per_burst[5], 1, "{reads_per_burst:?}");
        assert!(buf.read_buf().len() <= MAX_READ);
        buf.filled(0);
        // An idle client: one short line, and the room stays at the first size.
        let mut idle = LineBuffer::new();
        let room = idle.read_buf();
        room[..line.len()].copy_from_slice(line);
        idle.filled(line.len());
        assert!(idle.next_line().is_some());
        assert_eq!(idle.read_buf().len(), FIRST_READ);
        assert!(idle.buf.capacity() <= FIRST_READ);
    }

    #[test]
    fn read_buf_and_extend_agree_for_any_piece_size() {
        let input = b"IAMAT a +1+1 1\r\n\nWHATSAT a 1 1\nAT x\n";
        for piece in 1..input.len() {
            let mut buf = LineBuffer::new();
            let got = read_through(&mut buf, input, piece);
            assert_eq!(got.len(), 4, "piece {piece}");
            assert_eq!(got[0], b"IAMAT a +1+1 1");
            assert_eq!(got[3], b"AT x");
        }
        let mut buf = LineBuffer::with_limit(8);
        let room = buf.read_buf();
        room[..10].copy_from_slice(b"1234567890");
        buf.filled(10);
        assert_eq!(buf.next_line(), Some(Err(LineTooLong { limit: 8 })));
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
