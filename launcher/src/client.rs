//! A blocking protocol client with a timeout on every operation, so no caller can hang.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use herd_protocol::client::{Expect, ReplyReader};
use herd_protocol::message::{iamat_line, whatsat_line};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest reply accepted: a WHATSAT reply with 20 places is a few kilobytes.
const MAX_REPLY: usize = 1 << 20;

#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    replies: ReplyReader,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, DEFAULT_TIMEOUT)?;
        stream.set_nodelay(true)?;
        let client = Client {
            stream,
            replies: ReplyReader::new(MAX_REPLY),
        };
        client.set_timeout(DEFAULT_TIMEOUT)?;
        Ok(client)
    }

    pub fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))?;
        self.stream.set_write_timeout(Some(timeout))
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next reply of the expected kind, terminators included.
    pub fn reply(&mut self, expect: Expect) -> io::Result<Vec<u8>> {
        let mut buf = [0; 16 * 1024];
        loop {
            match self.replies.next_reply(expect) {
                Ok(Some(reply)) => return Ok(reply.to_vec()),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(ErrorKind::InvalidData, e)),
            }
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            }
            self.replies.extend(&buf[..n]);
        }
    }

    /// Sends an IAMAT and returns the reply line without its newline.
    pub fn iamat(&mut self, client: &str, location: &str, time: &str) -> io::Result<String> {
        self.send(iamat_line(client, location, time).as_bytes())?;
        self.text(Expect::Line)
    }

    /// Sends a WHATSAT and returns the whole reply.
    pub fn whatsat(&mut self, client: &str, radius_km: &str, bound: u32) -> io::Result<String> {
        self.send(whatsat_line(client, radius_km, bound).as_bytes())?;
        self.text(Expect::Whatsat)
    }

    fn text(&mut self, expect: Expect) -> io::Result<String> {
        let reply = self.reply(expect)?;
        let mut text =
            String::from_utf8(reply).map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
        if expect == Expect::Line {
            text.pop();
        }
        Ok(text)
    }

    /// Whether the server closed this connection (reads end or fail within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0; 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}
