//! A deterministic in-memory herd over the sans-IO core: N nodes, a FIFO queue per directed
//! link, a virtual clock and a seeded scheduler that picks which queue delivers next.
//! Partitions drop queues and take links down; heals bring them up with anti-entropy.
//! Every scenario runs over many seeds, so many delivery orders are tried, repeatably.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use herd_protocol::{HerdConfig, LinkId, Nanos, Node};

/// A directed link (from, to) by node index; also the node's link handle.
type Edge = (usize, usize);

struct Sim {
    nodes: Vec<Node<Edge>>,
    names: Vec<String>,
    neighbours: BTreeSet<Edge>,
    /// Queued lines per directed link (snapshot lines are queued without being counted).
    queues: BTreeMap<Edge, VecDeque<Arc<[u8]>>>,
    live: HashMap<Edge, LinkId>,
    rng: u64,
    clock: i128,
    /// Flooded (not snapshot) lines per (edge, line): each update crosses a link once.
    flooded: HashMap<(Edge, Vec<u8>), usize>,
    /// Newest client time per client, as made by IAMATs (times are unique per client).
    newest: HashMap<String, i128>,
}

fn config(servers: &[(String, Vec<String>)]) -> HerdConfig {
    let mut text = String::from(
        "[herd]\nkey = \"k\"\n[places]\nbase_url = \"http://127.0.0.1:9\"\nkey = \"p\"\n",
    );
    for (i, (name, neighbours)) in servers.iter().enumerate() {
        let list: Vec<String> = neighbours.iter().map(|n| format!("{n:?}")).collect();
        text += &format!(
            "[[server]]\nname = {name:?}\naddr = \"127.0.0.1:{}\"\nneighbours = [{}]\n",
            20_000 + i,
            list.join(", ")
        );
    }
    HerdConfig::parse(&text, "sim").expect("valid topology")
}

fn shape(n: usize, linked: impl Fn(usize, usize) -> bool) -> Vec<(String, Vec<String>)> {
    (0..n)
        .map(|i| {
            let ns = (0..n)
                .filter(|&j| j != i && (linked(i, j) || linked(j, i)))
                .map(|j| format!("N{j}"))
                .collect();
            (format!("N{i}"), ns)
        })
        .collect()
}

fn default_herd() -> Vec<(String, Vec<String>)> {
    let links = [
        ("Bernard", "Jaquez"),
        ("Bernard", "Johnson"),
        ("Bernard", "Juzang"),
        ("Clark", "Jaquez"),
        ("Clark", "Juzang"),
        ("Johnson", "Juzang"),
    ];
    ["Bernard", "Clark", "Jaquez", "Johnson", "Juzang"]
        .iter()
        .map(|s| {
            let ns = links
                .iter()
                .filter_map(|(a, b)| (a == s).then_some(*b).or((b == s).then_some(*a)))
                .map(String::from)
                .collect();
            (s.to_string(), ns)
        })
        .collect()
}

impl Sim {
    fn new(servers: &[(String, Vec<String>)], seed: u64) -> Sim {
        let config = config(servers);
        let names: Vec<String> = servers.iter().map(|(n, _)| n.clone()).collect();
        let index = |n: &str| names.iter().position(|m| m == n).expect("known name");
        let neighbours = servers
            .iter()
            .flat_map(|(n, ns)| ns.iter().map(move |m| (n, m)))
            .map(|(n, m)| (index(n), index(m)))
            .collect();
        let nodes = names
            .iter()
            .map(|n| Node::new(&config, n).expect("node"))
            .collect();
        let mut sim = Sim {
            nodes,
            names,
            neighbours,
            queues: BTreeMap::new(),
            live: HashMap::new(),
            rng: seed | 1,
            clock: 1_000 * Nanos::NANOS_PER_SEC,
            flooded: HashMap::new(),
            newest: HashMap::new(),
        };
        let edges: Vec<Edge> = sim
            .neighbours
            .iter()
            .copied()
            .filter(|(a, b)| a < b)
            .collect();
        for (a, b) in edges {
            sim.link_up(a, b);
        }
        sim
    }

    fn random(&mut self, below: usize) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % below as u64) as usize
    }

    fn enqueue(
        &mut self,
        from: usize,
        floods: Vec<herd_protocol::Flood<Edge>>,
        source: Option<usize>,
    ) {
        for f in floods {
            assert_eq!(f.link.0, from, "a node floods only on its own links");
            assert_ne!(
                Some(f.link.1),
                source,
                "news must not go back where it came from"
            );
            let count = self.flooded.entry((f.link, f.wire.to_vec())).or_default();
            *count += 1;
            assert_eq!(
                *count,
                1,
                "{} flooded twice over {:?}",
                String::from_utf8_lossy(&f.wire),
                f.link
            );
            self.queues.entry(f.link).or_default().push_back(f.wire);
        }
    }

    fn link_up(&mut self, a: usize, b: usize) {
        for (from, to) in [(a, b), (b, a)] {
            let (id, snapshot) = self.nodes[from]
                .link_up(&self.names[to], (from, to))
                .expect("neighbours");
            self.live.insert((from, to), id);
            let queue = self.queues.entry((from, to)).or_default();
            for line in snapshot.split_inclusive(|&b| b == b'\n') {
                queue.push_back(Arc::from(line));
            }
        }
    }

    fn link_down(&mut self, a: usize, b: usize) {
        for (from, to) in [(a, b), (b, a)] {
            self.queues.remove(&(from, to));
            let id = self.live.remove(&(from, to)).expect("was up");
            assert!(self.nodes[from].link_down(&self.names[to], id));
        }
    }

    fn iamat(&mut self, at: usize, client: &str, time: i128) {
        self.clock += 1_000_000;
        let line = format!("IAMAT {client} +{}-{} {}", time % 90, time % 180, time);
        let mut floods = Vec::new();
        let step = self.nodes[at].client_line(line.as_bytes(), Nanos(self.clock), &mut floods);
        assert!(
            matches!(step, herd_protocol::ClientStep::Reply(ref r) if r.starts_with(b"AT ")),
            "{step:?}"
        );
        let newest = self.newest.entry(client.to_owned()).or_insert(time);
        *newest = (*newest).max(time);
        self.enqueue(at, floods, None);
    }

    /// Delivers queued lines in a seeded random order until every queue is empty.
    fn drain(&mut self) {
        while self.deliver_one() {}
    }

    fn assert_converged(&self, what: &str) {
        for (client, time) in &self.newest {
            for (i, node) in self.nodes.iter().enumerate() {
                let held = node.store().get(client).map(|r| r.time());
                assert_eq!(
                    held,
                    Some(Nanos(*time * Nanos::NANOS_PER_SEC)),
                    "{what}: {} has a stale {client}",
                    self.names[i]
                );
            }
        }
    }

    /// Random IAMATs: each client gets distinct times in shuffled order (so some arrive
    /// stale), at random servers, interleaved with random deliveries.
    fn churn(&mut self, clients: usize, updates: usize, base: i128) {
        let mut times: Vec<i128> = (0..updates as i128).map(|t| base + t).collect();
        for i in (1..times.len()).rev() {
            let j = self.random(i + 1);
            times.swap(i, j);
        }
        for (k, time) in times.into_iter().enumerate() {
            let at = self.random(self.nodes.len());
            self.iamat(at, &format!("c{}", k % clients), time);
            for _ in 0..self.random(4) {
                self.deliver_one();
            }
        }
    }

    /// Delivers the head of one random non-empty queue; false when all are empty.
    fn deliver_one(&mut self) -> bool {
        let ready: Vec<Edge> = self
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(e, _)| *e)
            .collect();
        if ready.is_empty() {
            return false;
        }
        let (from, to) = ready[self.random(ready.len())];
        if let Some(wire) = self
            .queues
            .get_mut(&(from, to))
            .and_then(VecDeque::pop_front)
        {
            let mut floods = Vec::new();
            let from_name = self.names[from].clone();
            let _ = self.nodes[to].peer_line(&from_name, &wire[..wire.len() - 1], &mut floods);
            self.enqueue(to, floods, Some(from));
        }
        true
    }
}

fn converges(servers: Vec<(String, Vec<String>)>, what: &str) {
    for seed in 1..=20 {
        let mut sim = Sim::new(&servers, seed);
        sim.drain();
        sim.churn(7, 60, 1_000_000);
        sim.drain();
        sim.assert_converged(&format!("{what}, seed {seed}"));
    }
}

#[test]
fn default_herd_converges() {
    converges(default_herd(), "default herd");
}

#[test]
fn line_of_ten_converges() {
    converges(shape(10, |i, j| j == i + 1), "line of 10");
}

#[test]
fn ring_of_ten_converges() {
    converges(shape(10, |i, j| j == (i + 1) % 10), "ring of 10");
}

#[test]
fn full_mesh_of_six_converges() {
    converges(shape(6, |i, j| i != j), "mesh of 6");
}

#[test]
fn partitioned_herd_converges_after_healing() {
    for seed in 1..=20 {
        let mut sim = Sim::new(&default_herd(), seed);
        sim.churn(4, 20, 1_000);
        sim.drain();
        // Cutting Bernard-Jaquez and Clark-Juzang leaves {Clark, Jaquez} on their own.
        let cut = [(0, 2), (1, 4)];
        for (a, b) in cut {
            sim.link_down(a, b);
        }
        // Updates on both sides of the cut, to the same clients.
        sim.churn(4, 40, 2_000);
        sim.drain();
        for (a, b) in cut {
            sim.link_up(a, b);
        }
        sim.drain();
        sim.assert_converged(&format!("healed partition, seed {seed}"));
    }
}

#[test]
fn a_restarted_node_catches_up_by_anti_entropy() {
    let servers = shape(5, |i, j| j == i + 1);
    let mut sim = Sim::new(&servers, 9);
    sim.drain();
    // Node 4 (end of the line) loses its only link; the rest keep taking updates.
    sim.link_down(3, 4);
    sim.churn(5, 30, 5_000);
    sim.drain();
    sim.link_up(3, 4);
    sim.drain();
    sim.assert_converged("line after rejoin");
}

#[test]
fn stale_updates_never_replace_newer_ones() {
    let mut sim = Sim::new(&default_herd(), 3);
    sim.drain();
    sim.iamat(0, "x", 500);
    sim.drain();
    sim.iamat(3, "x", 400);
    sim.drain();
    for node in &sim.nodes {
        assert_eq!(
            node.store().get("x").map(|r| r.time()),
            Some(Nanos(500 * Nanos::NANOS_PER_SEC))
        );
    }
}
