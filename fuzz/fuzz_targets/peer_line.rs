//! Location news from a peer: `Record::parse`, then the node that stores and floods it.
//!
//! Checks that a parsed record is canonical (reparsing its own line gives it back), and that
//! feeding lines to a real `Node` over a three-server line herd never panics and stores
//! only records that parse again.
#![no_main]

use std::sync::OnceLock;

use herd_protocol::message::Record;
use herd_protocol::{HerdConfig, Node};
use libfuzzer_sys::fuzz_target;

const HERD: &str = r#"
[herd]
key = "k"
[places]
base_url = "http://127.0.0.1:9"
key = "p"
[limits]
max_clients = 64
[[server]]
name = "A"
addr = "127.0.0.1:1"
neighbours = ["B"]
[[server]]
name = "B"
addr = "127.0.0.1:2"
neighbours = ["A", "C"]
[[server]]
name = "C"
addr = "127.0.0.1:3"
neighbours = ["B"]
"#;

fn config() -> &'static HerdConfig {
    static CONFIG: OnceLock<HerdConfig> = OnceLock::new();
    CONFIG.get_or_init(|| HerdConfig::parse(HERD, "fuzz").expect("the fixed herd is valid"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::parse(data) {
        let line = record.line();
        assert!(record.wire().ends_with(b"\n"));
        assert_eq!(Record::parse(line.as_bytes()).as_ref(), Ok(&record));
        assert!(!record.client().is_empty() && !record.server().is_empty());
        assert!(line.contains(record.location().as_str()));
    }

    let mut node: Node<u8> = Node::new(config(), "B").expect("B is in the herd");
    let _ = node.link_up("A", 1);
    let _ = node.link_up("C", 3);
    let mut floods = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let _ = node.peer_line("A", line, &mut floods);
    }
    for flood in &floods {
        assert_ne!(flood.link, 1, "news is never sent back where it came from");
    }
    for record in node.store().iter() {
        assert_eq!(Record::parse(record.line().as_bytes()).as_ref(), Ok(record));
    }
    assert!(node.store().len() <= 64, "max_clients holds");
});
