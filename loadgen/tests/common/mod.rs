//! A small responder for the test binaries that need nothing more.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};

/// Answers every line with an AT line naming the client (thread per connection).
pub fn responder() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().expect("clone");
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    let f: Vec<&str> = line.split(' ').collect();
                    let reply = format!("AT T +0.000000000 {} {} {}\n", f[1], f[2], f[3]);
                    if writer.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
