//! What an idle client connection holds in tokio beyond its socket: the task of
//! `herd_shell::drive::client`, whose future keeps the state of every await in it, the
//! largest included, for the connection's whole life.

use std::net::SocketAddr;

use herd_shell::drive::{self, HubOf, Runtime};
use herd_shell::{HerdConfig, Server};
use herd_tokio::Tokio;

const CONFIG: &str = "[herd]\nkey = \"k\"\n[places]\nbase_url = \"http://127.0.0.1:9\"\nkey = \"p\"\n\
     [[server]]\nname = \"A\"\naddr = \"127.0.0.1:9\"\nneighbours = []\n";

#[tokio::test]
async fn an_idle_client_task_is_small() {
    let config = HerdConfig::parse(CONFIG, "test").expect("config");
    let server = Server::new(config, "test", "A", 1).expect("server");
    let hub = HubOf::<Tokio>::new(server, (), Tokio::offer).expect("hub");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (stream, from): (_, SocketAddr) = listener.accept().await.expect("accept");
    let task = drive::client::<Tokio>(hub, stream, from);
    let bytes = std::mem::size_of_val(&task);
    eprintln!("client task future: {bytes} bytes");
    // 1,864 bytes before the rare steps (a places connect, a peer link) were boxed; 752 after.
    assert!(
        bytes <= 1024,
        "{bytes} bytes: is a rarely taken await no longer boxed?"
    );
}
