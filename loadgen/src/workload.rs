//! The commands each scenario sends, built with the protocol crate.

use std::sync::Arc;
use std::time::SystemTime;

use herd_protocol::Nanos;
use herd_protocol::client::Expect;
use herd_protocol::message::{format_client_time, format_location, iamat_line, whatsat_line};

use crate::driver::{Request, Workload};

/// Distinct clients each connection updates in turn.
const CLIENTS_PER_CONNECTION: u64 = 8;

fn now_text() -> String {
    format_client_time(Nanos::from_system_time(SystemTime::now()))
}

/// A location spread over populated latitudes so WHATSATs find places.
fn location(n: u64) -> String {
    let lat = -40.0 + (n * 37 % 100) as f64 * 0.9;
    let lng = -170.0 + (n * 53 % 340) as f64;
    format_location(lat, lng)
}

pub fn iamat(conn: usize, seq: u64) -> Request {
    let n = conn as u64 * CLIENTS_PER_CONNECTION + seq % CLIENTS_PER_CONNECTION;
    let client = format!("lg{n}");
    Request {
        bytes: iamat_line(&client, &location(n), &now_text()).into_bytes(),
        expect: Expect::Line,
        client,
    }
}

/// Clients registered before a WHATSAT run, so every query has a known location.
pub fn seed_client(i: usize) -> (String, String) {
    (
        format!("seed{i}"),
        format_location(48.8566 + i as f64 * 0.01, 2.3522),
    )
}

pub fn whatsat(seeds: usize) -> impl Fn(usize, u64) -> Request + Send + Sync {
    move |conn, seq| {
        let (client, _) = seed_client((conn + seq as usize) % seeds.max(1));
        Request {
            bytes: whatsat_line(&client, "10", 5).into_bytes(),
            expect: Expect::Whatsat,
            client,
        }
    }
}

/// `iamat_percent` of commands are IAMATs, the rest WHATSATs, interleaved evenly.
pub fn mixed(iamat_percent: u64, seeds: usize) -> Workload {
    let query = whatsat(seeds);
    Arc::new(move |conn, seq| {
        if (seq * 7 + conn as u64) % 100 < iamat_percent {
            iamat(conn, seq)
        } else {
            query(conn, seq)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_protocol::message::parse_line;

    #[test]
    fn every_workload_command_is_valid() {
        let mixed = mixed(50, 4);
        for conn in 0..5 {
            for seq in 0..40 {
                let r = mixed(conn, seq);
                let line = std::str::from_utf8(&r.bytes).expect("utf8");
                assert!(
                    matches!(parse_line(line.trim_end().as_bytes()), Ok(Some(_))),
                    "{line}"
                );
                assert!(line.contains(&r.client));
            }
        }
    }

    #[test]
    fn mixed_honours_the_ratio() {
        let mixed = mixed(80, 4);
        let iamats = (0..1000)
            .filter(|&s| mixed(3, s).expect == Expect::Line)
            .count();
        assert!((750..=850).contains(&iamats), "{iamats}");
    }
}
