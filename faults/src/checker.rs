//! The checker: reads what every server holds and compares it with what was acknowledged.
//!
//! In the spirit of Jepsen: the load keeps, per client, the newest update any server
//! acknowledged (its AT reply). After a fault heals, with the load paused, the checker asks
//! every server `WHATSAT <client> 1 1` for every such client; the reply's first line is the
//! stored AT line, whose client time says which update the server holds. A pair (server,
//! client) has converged when the server holds the acknowledged update or a newer one.
//!
//! - **recovery time**: from the heal until every pair has converged (resolution: one round
//!   of reads, which re-asks only the pairs not yet converged);
//! - **stale**: pairs still behind when the deadline passes (the server answers WHATSAT with
//!   an older location, or none);
//! - **lost**: acknowledged updates (one per client) that at least one server still does not
//!   show at the deadline: a reader there never sees an update the herd acknowledged.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use herd_protocol::client::{Expect, ReplyReader};
use herd_protocol::message::whatsat_line;
use herd_protocol::{Nanos, Record};

use crate::load::client_id;

/// WHATSATs written before their replies are read (bounds what sits in socket buffers).
const BATCH: usize = 64;
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between rounds of reads while waiting for convergence.
const ROUND_PAUSE: Duration = Duration::from_millis(10);

/// Lost updates and stale pairs, as defined in the module documentation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub lost: usize,
    pub stale: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.lost += other.lost;
        self.stale += other.stale;
    }
}

/// Judges reads against the acknowledged state: `held[s][c]` is what server `s` holds for
/// client `c` (`None`: nothing), `acked[c]` the newest acknowledged time (`None`: never
/// acknowledged, nothing to check).
pub fn tally(acked: &[Option<Nanos>], held: &[Vec<Option<Nanos>>]) -> Tally {
    let mut t = Tally::default();
    for (c, want) in acked.iter().enumerate() {
        let Some(want) = want else { continue };
        let behind = held
            .iter()
            .filter(|server| server.get(c).copied().flatten() < Some(*want))
            .count();
        t.stale += behind;
        t.lost += usize::from(behind > 0);
    }
    t
}

/// Clients whose acknowledged update some server in `held` lacks.
pub fn behind_clients(acked: &[Option<Nanos>], held: &[Vec<Option<Nanos>>]) -> Vec<usize> {
    (0..acked.len())
        .filter(|&c| {
            acked[c].is_some() && held.iter().any(|s| s.get(c).copied().flatten() < acked[c])
        })
        .collect()
}

/// The outcome of waiting for a herd to converge after a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Convergence {
    /// Heal until every server agreed; `None` if the deadline passed first.
    pub recovered: Option<Duration>,
    /// What was still behind at the deadline (zero when recovered).
    pub tally: Tally,
    /// The clients whose updates were lost.
    pub lost: Vec<usize>,
}

/// One reading connection per server, reopened when it fails.
#[derive(Debug)]
pub struct Observer {
    addrs: Vec<SocketAddr>,
    conns: Vec<Option<(TcpStream, ReplyReader)>>,
}

impl Observer {
    pub fn new(addrs: Vec<SocketAddr>) -> Observer {
        let conns = addrs.iter().map(|_| None).collect();
        Observer { addrs, conns }
    }

    /// What each server holds for each client in `clients` (per server, in order). A server
    /// that cannot be read gives `None` for its pairs, which the caller retries.
    fn read_round(&mut self, clients: &[Vec<usize>]) -> Vec<Vec<Option<Option<Nanos>>>> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .conns
                .iter_mut()
                .zip(&self.addrs)
                .zip(clients)
                .map(|((conn, &addr), wanted)| {
                    scope.spawn(move || match read_server(conn, addr, wanted) {
                        Ok(held) => held.into_iter().map(Some).collect(),
                        Err(_) => {
                            *conn = None;
                            vec![None; wanted.len()]
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .zip(clients)
                .map(|(h, wanted)| h.join().unwrap_or_else(|_| vec![None; wanted.len()]))
                .collect()
        })
    }

    /// Reads until every server holds every acknowledged update in `acked`, or until
    /// `deadline` after `healed`.
    pub fn converge(
        &mut self,
        acked: &[Option<Nanos>],
        healed: Instant,
        deadline: Duration,
    ) -> Convergence {
        let servers = self.addrs.len();
        let mut held: Vec<Vec<Option<Nanos>>> = vec![vec![None; acked.len()]; servers];
        let checked: Vec<usize> = (0..acked.len()).filter(|&c| acked[c].is_some()).collect();
        let mut waiting: Vec<Vec<usize>> = vec![checked; servers];
        loop {
            let round = self.read_round(&waiting);
            for (s, results) in round.into_iter().enumerate() {
                let mut still = Vec::new();
                for (&c, result) in waiting[s].iter().zip(results) {
                    if let Some(time) = result {
                        held[s][c] = time;
                    }
                    if held[s][c] < acked[c] {
                        still.push(c);
                    }
                }
                waiting[s] = still;
            }
            if waiting.iter().all(Vec::is_empty) {
                return Convergence {
                    recovered: Some(healed.elapsed()),
                    tally: Tally::default(),
                    lost: Vec::new(),
                };
            }
            if healed.elapsed() >= deadline {
                return Convergence {
                    recovered: None,
                    tally: tally(acked, &held),
                    lost: behind_clients(acked, &held),
                };
            }
            std::thread::sleep(ROUND_PAUSE);
        }
    }
}

/// Asks one server for `clients` with pipelined WHATSATs, in batches.
fn read_server(
    conn: &mut Option<(TcpStream, ReplyReader)>,
    addr: SocketAddr,
    clients: &[usize],
) -> std::io::Result<Vec<Option<Nanos>>> {
    if conn.is_none() {
        let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        *conn = Some((stream, ReplyReader::new(1 << 20)));
    }
    let Some((stream, replies)) = conn.as_mut() else {
        return Err(std::io::Error::other("no connection"));
    };
    let mut out = Vec::with_capacity(clients.len());
    let mut buf = vec![0; 64 * 1024];
    for batch in clients.chunks(BATCH) {
        let mut request = String::new();
        for &c in batch {
            request.push_str(&whatsat_line(&client_id(c), "1", 1));
        }
        stream.write_all(request.as_bytes())?;
        let mut got = 0;
        while got < batch.len() {
            match replies.next_reply(Expect::Whatsat) {
                Ok(Some(reply)) => {
                    out.push(stored_time(reply)?);
                    got += 1;
                }
                Ok(None) => {
                    let n = stream.read(&mut buf)?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    replies.extend(&buf[..n]);
                }
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
    }
    Ok(out)
}

/// The client time of the AT line a WHATSAT reply starts with; `None` for a `? ` reply
/// (the server knows no location for the client).
fn stored_time(reply: &[u8]) -> std::io::Result<Option<Nanos>> {
    if reply.starts_with(b"? ") {
        return Ok(None);
    }
    let first = reply.split(|&b| b == b'\n').next().unwrap_or_default();
    Record::parse(first)
        .map(|r| Some(r.time()))
        .map_err(|e| std::io::Error::other(format!("reply does not start with an AT line: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_behind_pairs_and_the_updates_they_miss() {
        let t = |n| Some(Nanos(n));
        let acked = [t(10), None, t(30), t(40)];
        type Held = Vec<Vec<Option<Nanos>>>;
        let cases: [(&str, Held, Tally); 5] = [
            (
                "all hold it",
                vec![vec![t(10), None, t(30), t(40)]; 3],
                Tally { lost: 0, stale: 0 },
            ),
            (
                "newer than acknowledged is fine; unacknowledged clients are not checked",
                vec![vec![t(11), t(5), t(31), t(40)]; 3],
                Tally { lost: 0, stale: 0 },
            ),
            (
                "one server behind on one client",
                vec![
                    vec![t(10), None, t(30), t(40)],
                    vec![t(10), None, t(29), t(40)],
                    vec![t(10), None, t(30), t(40)],
                ],
                Tally { lost: 1, stale: 1 },
            ),
            (
                "missing counts as behind; two servers behind on one update is one lost",
                vec![
                    vec![None, None, t(30), t(40)],
                    vec![t(9), None, t(30), None],
                    vec![t(10), None, t(30), t(40)],
                ],
                Tally { lost: 2, stale: 3 },
            ),
            (
                "gone from the whole herd",
                vec![vec![t(10), None, t(30), t(39)]; 3],
                Tally { lost: 1, stale: 3 },
            ),
        ];
        for (what, held, want) in cases {
            assert_eq!(tally(&acked, &held), want, "{what}");
            assert_eq!(behind_clients(&acked, &held).len(), want.lost, "{what}");
        }
    }

    #[test]
    fn stored_time_reads_the_at_line_or_none() {
        let reply = b"AT S1 +0.000100000 f0001 +10.000000+20.000000 1700000000.000001000\n{\n  \"results\": []\n}\n\n";
        assert_eq!(
            stored_time(reply).expect("valid"),
            Some(Nanos(1_700_000_000_000_001_000))
        );
        assert_eq!(stored_time(b"? WHATSAT f0001 1 1\n").expect("valid"), None);
        assert!(stored_time(b"garbage\n\n").is_err());
    }
}
