//! The bound on a client that does not read its replies: every backend drops a client
//! whose reply (one `ClientAction::Write`) is not taken within [`WRITE_STALL`]. Its slot
//! of `limits.max_connections` and its descriptor are freed; other clients and the links
//! are not affected, as the write waits only in that client's task. docs/PROTOCOL.md states
//! the rule.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long one write to a client may wait for the client to read.
pub const WRITE_STALL: Duration = Duration::from_secs(10);

/// `write_all` on a blocking socket that fails with `TimedOut` once `limit` has passed
/// (the async shells bound theirs with their runtime's timeout). It leaves a write timeout
/// set on the socket; a caller that hands the socket on clears it.
pub fn write_all_within(
    stream: &mut TcpStream,
    mut bytes: &[u8],
    limit: Duration,
) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    while !bytes.is_empty() {
        let rest = deadline.saturating_duration_since(Instant::now());
        if rest.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_write_timeout(Some(rest))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A blocking socket's write timeout reads as WouldBlock on Unix.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::ErrorKind::TimedOut.into());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn pair(listener: &TcpListener) -> io::Result<(TcpStream, TcpStream)> {
        let client = TcpStream::connect(listener.local_addr()?)?;
        Ok((client, listener.accept()?.0))
    }

    #[test]
    fn a_write_nobody_reads_times_out() -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let (_client, mut server) = pair(&listener)?;
        // Far more than the socket buffers hold, so the write must wait for a reader.
        let big = vec![b'x'; 64 << 20];
        let limit = Duration::from_millis(200);
        let started = Instant::now();
        let err = write_all_within(&mut server, &big, limit).expect_err("nobody reads");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= limit);
        Ok(())
    }

    #[test]
    fn a_write_that_is_read_completes() -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let (mut client, mut server) = pair(&listener)?;
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            client.read_to_end(&mut all).map(|_| all.len())
        });
        write_all_within(&mut server, &vec![b'x'; 8 << 20], Duration::from_secs(60))?;
        drop(server);
        assert_eq!(reader.join().expect("the reader thread")?, 8 << 20);
        Ok(())
    }
}
