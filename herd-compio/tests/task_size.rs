//! What an idle client connection holds in compio beyond its socket: the task of
//! `herd_shell::drive::local::client`, whose future keeps the state of every await in it,
//! the largest included (a read submitted to io_uring, here), for the connection's whole
//! life. The test prints it so docs/PERFORMANCE.md can compare it with tokio's.

use std::net::SocketAddr;

use compio::net::{TcpListener, TcpStream};
use herd_compio::{Compio, Owned};
use herd_shell::drive::local::{self, HubOf, Runtime};
use herd_shell::{HerdConfig, Server};

const CONFIG: &str = "[herd]\nkey = \"k\"\n[places]\nbase_url = \"http://127.0.0.1:9\"\nkey = \"p\"\n\
     [[server]]\nname = \"A\"\naddr = \"127.0.0.1:9\"\nneighbours = []\n";

#[test]
fn an_idle_client_task_is_small() {
    let config = HerdConfig::parse(CONFIG, "test").expect("config");
    let server = Server::new(config, "test", "A", 1).expect("server");
    let runtime = compio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let hub = HubOf::<Compio>::new(server, (), Compio::offer).expect("hub");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (stream, from): (_, SocketAddr) = listener.accept().await.expect("accept");
        let task = local::client::<Compio>(hub, Owned::new(stream), from);
        let bytes = std::mem::size_of_val(&task);
        eprintln!("client task future: {bytes} bytes");
        // 2,000 bytes with compio's `time::timeout` around every write; 1,152 with the
        // deadline raced by hand (`Compio::timed`).
        assert!(
            bytes <= 1280,
            "{bytes} bytes: is `timed` back to compio's timeout, or an await no longer boxed?"
        );
    });
}
