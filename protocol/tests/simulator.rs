//! A deterministic in-memory herd over the sans-IO core (quinn's test `Pair`, generalised).
//!
//! N [`Node`]s built from a generated config, a FIFO queue per directed link (a TCP stream),
//! a virtual clock and a seeded scheduler that picks which queue delivers next. Links go down
//! (queued lines are lost, as with a dropped connection) and come back up with anti-entropy.
//! Every step is checked against an oracle: replies, stores and floods must be exactly what
//! the protocol says, and after the queues drain every server must hold every client's
//! newest record. Each scenario runs over 20 seeds, so many delivery orders are tried, and
//! the same ones on every run.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use herd_protocol::message::iamat_line;
use herd_protocol::{ClientStep, Flood, HerdConfig, LinkId, Nanos, Node, PeerStep, Record, Skew};

const SEEDS: std::ops::Range<u64> = 1..21;
const SEC: i128 = Nanos::NANOS_PER_SEC;

/// A directed link by server index: the handle a node names in each [`Flood`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct EdgeId {
    from: usize,
    to: usize,
}

/// xorshift64: a few lines, no dependency, same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Spread small seeds over the state; xorshift must never hold zero.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn nanos_below(&mut self, n: i128) -> i128 {
        i128::from(self.next()) % n
    }
}

/// Server names and undirected links `(a, b)` with `a < b`.
struct Topology {
    names: Vec<String>,
    links: Vec<(usize, usize)>,
}

impl Topology {
    fn numbered(n: usize, linked: impl Fn(usize, usize) -> bool) -> Topology {
        let links = (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .filter(|&(a, b)| linked(a, b))
            .collect();
        // Zero-padded so that name order (which decides who dials) is index order.
        let names = (0..n).map(|i| format!("S{i:02}")).collect();
        Topology { names, links }
    }

    fn default_herd() -> Topology {
        let names = ["Bernard", "Clark", "Jaquez", "Johnson", "Juzang"];
        Topology {
            names: names.map(String::from).to_vec(),
            links: vec![(0, 2), (0, 3), (0, 4), (1, 2), (1, 4), (3, 4)],
        }
    }

    fn line(n: usize) -> Topology {
        Topology::numbered(n, |a, b| b == a + 1)
    }

    fn ring(n: usize) -> Topology {
        Topology::numbered(n, |a, b| b == a + 1 || (a == 0 && b == n - 1))
    }

    fn mesh(n: usize) -> Topology {
        Topology::numbered(n, |_, _| true)
    }

    /// The herd as TOML, parsed the way every backend reads its config.
    fn config(&self) -> HerdConfig {
        let mut text = String::from(
            "[herd]\nkey = \"sim\"\n\n[places]\nbase_url = \"http://127.0.0.1:9\"\nkey = \"pk\"\n",
        );
        for (i, name) in self.names.iter().enumerate() {
            let neighbours: Vec<String> = self
                .links
                .iter()
                .filter_map(|&(a, b)| (a == i).then_some(b).or((b == i).then_some(a)))
                .map(|j| format!("{:?}", self.names[j]))
                .collect();
            text += &format!(
                "\n[[server]]\nname = {name:?}\naddr = \"127.0.0.1:{}\"\nneighbours = [{}]\n",
                12_000 + i,
                neighbours.join(", ")
            );
        }
        HerdConfig::parse(&text, "sim.toml").expect("generated herds are valid")
    }
}

/// Counts of the interesting events, so a scenario can show it exercised them.
#[derive(Debug, Default)]
struct Stats {
    stale_iamats: usize,
    stale_news: usize,
    snapshot_lines: usize,
    lost_lines: usize,
}

struct Sim {
    names: Vec<String>,
    links: Vec<(usize, usize)>,
    nodes: Vec<Node<EdgeId>>,
    /// Live directed links, with the id the sending node gave each.
    up: BTreeMap<EdgeId, LinkId>,
    /// Lines in flight per directed link, with their newline.
    queues: BTreeMap<EdgeId, VecDeque<Arc<[u8]>>>,
    clock: Nanos,
    rng: Rng,
    /// A running hash of every delivery (link and line), to show runs repeat exactly.
    trace: u64,
    /// Every (link, client, time) flooded so far: an update crosses a link at most once.
    flooded: HashSet<(EdgeId, Arc<str>, Nanos)>,
    /// The oracle: per client, the time and AT line of its newest IAMAT.
    newest: HashMap<String, (Nanos, String)>,
    /// Client and time of every AT line made (parsing each delivery again would dominate
    /// the run time in debug builds, and an unknown line is itself a failure).
    made: HashMap<Arc<[u8]>, (Arc<str>, Nanos)>,
    /// AT lines made since [`Sim::partition`], with the index of the server that made each.
    made_since_cut: Vec<(usize, String)>,
    stats: Stats,
}

impl Sim {
    /// A herd with every link up and nothing stored.
    fn new(topology: &Topology, seed: u64) -> Sim {
        let config = topology.config();
        let nodes: Vec<Node<EdgeId>> = topology
            .names
            .iter()
            .map(|n| Node::new(&config, n).expect("a server of the herd"))
            .collect();
        // Exactly one end of each link dials it (the lower name), so no duplicate links.
        for &(a, b) in &topology.links {
            let dials = |x: usize, y: usize| {
                nodes[x]
                    .dials()
                    .iter()
                    .any(|d| *d.peer == topology.names[y])
            };
            assert!(
                dials(a, b) && !dials(b, a),
                "{a} dials {b}, not the reverse"
            );
        }
        let mut sim = Sim {
            names: topology.names.clone(),
            links: topology.links.clone(),
            nodes,
            up: BTreeMap::new(),
            queues: BTreeMap::new(),
            clock: Nanos(1_700_000_000 * SEC),
            rng: Rng::new(seed),
            trace: 0,
            flooded: HashSet::new(),
            newest: HashMap::new(),
            made: HashMap::new(),
            made_since_cut: Vec::new(),
            stats: Stats::default(),
        };
        for (a, b) in topology.links.clone() {
            sim.link_up(a, b);
        }
        sim
    }

    /// Virtual time moves by up to a millisecond per event.
    fn tick(&mut self) {
        self.clock = Nanos(self.clock.0 + 1 + self.rng.nanos_below(1_000_000));
    }

    fn is_up(&self, a: usize, b: usize) -> bool {
        self.up.contains_key(&EdgeId { from: a, to: b })
    }

    /// Both ends learn of the link; each end's snapshot goes first on its queue, so the other
    /// end reads it before anything flooded later.
    fn link_up(&mut self, a: usize, b: usize) {
        for (from, to) in [(a, b), (b, a)] {
            let edge = EdgeId { from, to };
            let (id, snapshot) = self.nodes[from]
                .link_up(&self.names[to], edge)
                .expect("neighbours");
            let mut lines: Vec<Arc<[u8]>> = snapshot
                .split_inclusive(|&b| b == b'\n')
                .map(Arc::from)
                .collect();
            // The store is a HashMap, so its snapshot order differs from run to run. The
            // order is the node's choice; a seeded shuffle keeps runs repeatable.
            lines.sort_unstable();
            for i in (1..lines.len()).rev() {
                lines.swap(i, self.rng.below(i + 1));
            }
            let lines = VecDeque::from(lines);
            assert_eq!(lines.len(), self.nodes[from].store().len(), "whole store");
            self.stats.snapshot_lines += lines.len();
            assert!(self.up.insert(edge, id).is_none(), "was down");
            assert!(
                self.queues.insert(edge, lines).is_none(),
                "no queue while down"
            );
        }
    }

    /// The connection drops: whatever was in flight is lost, and both ends are told.
    fn link_down(&mut self, a: usize, b: usize) {
        for (from, to) in [(a, b), (b, a)] {
            let edge = EdgeId { from, to };
            let lost = self.queues.remove(&edge).expect("queue of a live link");
            self.stats.lost_lines += lost.len();
            let id = self.up.remove(&edge).expect("was up");
            assert!(self.nodes[from].link_down(&self.names[to], id));
            let links = self.nodes[from].links_up();
            assert!(!links.iter().any(|n| **n == self.names[to]), "{links:?}");
        }
    }

    /// Sends one IAMAT to server `at` and checks the reply, the store and the floods.
    fn iamat(&mut self, at: usize, client: &str, location: &str, time: &str, t: Nanos) {
        self.tick();
        let before = self.nodes[at].store().get(client).cloned();
        let line = iamat_line(client, location, time);
        let mut floods = Vec::new();
        let step = self.nodes[at].client_line(line.trim_end().as_bytes(), self.clock, &mut floods);
        let skew = Skew(self.clock.0 - t.0);
        let want = format!("AT {} {skew} {client} {location} {time}", self.names[at]);
        let ClientStep::Reply(reply) = step else {
            panic!("IAMAT answered with {step:?}");
        };
        // Stale or not, the client gets its own AT line back.
        assert_eq!(String::from_utf8_lossy(&reply), format!("{want}\n"));

        let newer = before.as_ref().is_none_or(|b| t > b.time());
        let held = self.nodes[at].store().get(client).cloned();
        if newer {
            assert_eq!(held.map(|r| r.line().to_owned()), Some(want.clone()));
        } else {
            assert_eq!(held, before, "a stale IAMAT changed {}", self.names[at]);
            self.stats.stale_iamats += 1;
        }
        if self.newest.get(client).is_none_or(|(n, _)| t > *n) {
            self.newest.insert(client.to_owned(), (t, want.clone()));
        }
        let wire: Arc<[u8]> = reply.into();
        self.made.insert(wire, (client.into(), t));
        self.made_since_cut.push((at, want));
        self.take_floods(at, None, newer, floods);
    }

    /// Delivers the head of one random non-empty queue; false when all are empty.
    fn deliver_one(&mut self) -> bool {
        let ready: Vec<EdgeId> = self
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(e, _)| *e)
            .collect();
        if ready.is_empty() {
            return false;
        }
        let edge = ready[self.rng.below(ready.len())];
        let wire = self
            .queues
            .get_mut(&edge)
            .and_then(VecDeque::pop_front)
            .expect("chosen because non-empty");
        self.tick();
        for &b in [edge.from as u8, edge.to as u8].iter().chain(wire.iter()) {
            self.trace = (self.trace ^ u64::from(b)).wrapping_mul(0x100_0000_01B3); // FNV-1a
        }
        let line = wire.strip_suffix(b"\n").expect("lines end with a newline");
        let (client, time) = self.made[&wire].clone();

        let to = edge.to;
        let before = self.nodes[to].store().get(&client).cloned();
        let mut floods = Vec::new();
        let step = self.nodes[to].peer_line(&self.names[edge.from], line, &mut floods);
        let held = self.nodes[to].store().get(&client).cloned();
        let newer = before.as_ref().is_none_or(|b| time > b.time());
        if newer {
            assert_eq!(step, PeerStep::Stored);
            assert_eq!(held.map(|r| r.wire().clone()), Some(wire));
        } else {
            // Ties and older news end the flood and change nothing.
            assert_eq!(step, PeerStep::Stale);
            assert_eq!(held, before, "stale news changed {}", self.names[to]);
            self.stats.stale_news += 1;
        }
        self.take_floods(to, Some(edge.from), newer, floods);
        true
    }

    /// Checks what node `at` flooded and queues it: a stored update goes to every live link
    /// except the one it came from, once; anything else floods nothing.
    fn take_floods(
        &mut self,
        at: usize,
        came_from: Option<usize>,
        stored: bool,
        floods: Vec<Flood<EdgeId>>,
    ) {
        let mut targets: Vec<usize> = floods.iter().map(|f| f.link.to).collect();
        targets.sort_unstable();
        let want: Vec<usize> = if stored {
            let live = self.up.keys().filter(|e| e.from == at);
            live.filter(|e| Some(e.to) != came_from)
                .map(|e| e.to)
                .collect()
        } else {
            Vec::new()
        };
        assert_eq!(targets, want, "floods from {}", self.names[at]);
        // One update per call: every flood carries the same line.
        let Some(wire) = floods.first().map(|f| Arc::clone(&f.wire)) else {
            return;
        };
        let (client, time) = self
            .made
            .get(&wire)
            .expect("a line some IAMAT made")
            .clone();
        for f in floods {
            assert_eq!(f.link.from, at, "a node floods only on its own links");
            assert_ne!(
                Some(f.link.to),
                came_from,
                "news flooded back where it came from"
            );
            assert_eq!(Some(&f.link_id), self.up.get(&f.link), "the live link's id");
            assert_eq!(*f.peer, self.names[f.link.to]);
            assert_eq!(f.wire, wire);
            let key = (f.link, Arc::clone(&client), time);
            let twice = String::from_utf8_lossy;
            assert!(self.flooded.insert(key), "{} flooded twice", twice(&wire));
            self.queues.entry(f.link).or_default().push_back(f.wire);
        }
    }

    /// Runs the scheduler until every queue is empty.
    fn drain(&mut self) {
        // Each update crosses each link at most once, so this bound is never reached unless
        // a flood fails to stop.
        for _ in 0..1_000_000 {
            if !self.deliver_one() {
                return;
            }
        }
        panic!("queues never drained: a flood does not stop");
    }

    /// One IAMAT from a random client at a random server, with a client time that is newer
    /// than any so far, older, or an exact replay of an older one.
    fn random_iamat(&mut self, clients: usize) {
        let at = self.rng.below(self.nodes.len());
        let client = format!("client-{}", self.rng.below(clients));
        let newest = self.newest.get(&client).map(|(t, _)| t.0);
        // Every line made so far, stale ones included, is a candidate for a replay.
        let mut older: Vec<Nanos> = (self.made.values())
            .filter(|(c, t)| **c == *client && newest.is_some_and(|n| t.0 < n))
            .map(|(_, t)| *t)
            .collect();
        older.sort_unstable(); // `made` is a HashMap: fix the order before drawing from it
        // Never a tie with the newest: two IAMATs of one client at one time leave servers
        // holding whichever arrived first, by design ("ties change nothing").
        let delta = self.rng.nanos_below(5 * SEC);
        let t = match (newest, self.rng.below(4)) {
            (None, _) => self.round(1_600_000_000 * SEC + delta),
            (Some(n), 0 | 1) => Some(self.round(n + 1 + delta))
                .filter(|&r| r > n)
                .unwrap_or(n + 1 + delta),
            (Some(_), 2) if !older.is_empty() => older[self.rng.below(older.len())].0,
            (Some(n), _) => self.round(n - 1 - delta),
        };
        let t = Nanos(t);
        let time = self.time_text(t);
        let location = self.location();
        self.iamat(at, &client, &location, &time, t);
    }

    /// Drops low digits at random, since clients send 0-9 fraction digits.
    fn round(&mut self, t: i128) -> i128 {
        let unit = 10i128.pow(self.rng.below(10) as u32);
        t - t % unit
    }

    /// The shortest text for `t`, sometimes padded with zeros (`1.5` and `1.500` are equal).
    fn time_text(&mut self, t: Nanos) -> String {
        let (secs, nanos) = (t.0 / SEC, t.0 % SEC);
        let digits = format!("{nanos:09}");
        let needed = digits.trim_end_matches('0').len();
        let shown = needed + self.rng.below(10 - needed);
        match shown {
            0 => secs.to_string(),
            _ => format!("{secs}.{}", &digits[..shown]),
        }
    }

    fn location(&mut self) -> String {
        let sign = |rng: &mut Rng| if rng.below(2) == 0 { '+' } else { '-' };
        format!(
            "{}{}.{:06}{}{}.{:06}",
            sign(&mut self.rng),
            self.rng.below(90),
            self.rng.below(1_000_000),
            sign(&mut self.rng),
            self.rng.below(180),
            self.rng.below(1_000_000),
        )
    }

    /// Random IAMATs interleaved with random deliveries, so updates race each other.
    fn churn(&mut self, clients: usize, steps: usize) {
        for _ in 0..steps {
            self.random_iamat(clients);
            for _ in 0..self.rng.below(6) {
                self.deliver_one();
            }
        }
    }

    /// Every server holds, for every client, exactly the record of its newest IAMAT.
    fn assert_converged(&self, what: &str) {
        for (i, node) in self.nodes.iter().enumerate() {
            assert_eq!(node.store().len(), self.newest.len(), "{what}: clients");
            for (client, (time, line)) in &self.newest {
                let held = node.store().get(client).map(|r| (r.time(), r.line()));
                assert_eq!(
                    held,
                    Some((*time, line.as_str())),
                    "{what}: {} holds a stale {client}",
                    self.names[i]
                );
            }
        }
    }

    /// Takes down every link between the two sides; returns the cut links.
    fn partition(&mut self, side: &[bool]) -> Vec<(usize, usize)> {
        let cut: Vec<(usize, usize)> = (self.links.iter().copied())
            .filter(|&(a, b)| side[a] != side[b] && self.is_up(a, b))
            .collect();
        for &(a, b) in &cut {
            self.link_down(a, b);
        }
        self.made_since_cut.clear();
        cut
    }

    /// Nothing made on one side of a partition reached the other.
    fn assert_nothing_crossed(&self, side: &[bool]) {
        for (origin, line) in &self.made_since_cut {
            let client = Record::parse(line.as_bytes()).expect("valid");
            for (i, node) in self.nodes.iter().enumerate() {
                if side[i] != side[*origin] {
                    let held = node.store().get(client.client()).map(Record::line);
                    assert_ne!(held, Some(line.as_str()), "crossed the cut to {i}");
                }
            }
        }
    }
}

fn converges(topology: Topology, what: &str) {
    let mut total = Stats::default();
    for seed in SEEDS {
        let mut sim = Sim::new(&topology, seed);
        sim.churn(6, 100);
        sim.drain();
        sim.assert_converged(&format!("{what}, seed {seed}"));
        total.stale_iamats += sim.stats.stale_iamats;
        total.stale_news += sim.stats.stale_news;
    }
    // The runs must actually race updates, or convergence proves little.
    assert!(total.stale_iamats > 0 && total.stale_news > 0, "{total:?}");
}

#[test]
fn default_herd_converges() {
    converges(Topology::default_herd(), "default herd");
}

#[test]
fn line_of_ten_converges() {
    converges(Topology::line(10), "line of 10");
}

#[test]
fn ring_of_ten_converges() {
    converges(Topology::ring(10), "ring of 10");
}

#[test]
fn full_mesh_of_six_converges() {
    converges(Topology::mesh(6), "mesh of 6");
}

/// Splits the herd in two at random, updates both sides (the same clients included), checks
/// nothing leaked across, then heals and expects convergence by anti-entropy.
fn partition_heals(topology: Topology, what: &str) {
    let mut lost = 0;
    for seed in SEEDS {
        let mut sim = Sim::new(&topology, seed);
        sim.churn(5, 40);
        let n = sim.nodes.len();
        let mut side: Vec<bool> = (0..n).map(|_| sim.rng.below(2) == 0).collect();
        side[0] = true;
        side[n - 1] = false;
        let cut = sim.partition(&side);
        // Both sides certainly update one shared client, then the usual churn.
        for at in [0, n - 1] {
            let t = Nanos(1_800_000_000 * SEC + sim.rng.nanos_below(SEC) * 1_000);
            let time = sim.time_text(t);
            sim.iamat(at, "shared", "+1-1", &time, t);
        }
        sim.churn(5, 60);
        sim.drain();
        sim.assert_nothing_crossed(&side);
        for (a, b) in cut {
            sim.link_up(a, b);
        }
        sim.churn(5, 10);
        sim.drain();
        sim.assert_converged(&format!("{what} healed, seed {seed}"));
        lost += sim.stats.lost_lines;
    }
    assert!(lost > 0, "some cuts should drop lines in flight");
}

#[test]
fn default_herd_converges_after_a_partition_heals() {
    partition_heals(Topology::default_herd(), "default herd");
}

#[test]
fn ring_converges_after_a_partition_heals() {
    partition_heals(Topology::ring(10), "ring of 10");
}

/// Links drop and return at random while updates flow; once all are back, anti-entropy
/// must make up for every line lost in flight.
#[test]
fn flapping_links_converge_once_all_are_up() {
    for (topology, what) in [
        (Topology::mesh(6), "mesh of 6"),
        (Topology::line(10), "line of 10"),
    ] {
        let mut snapshots = 0;
        for seed in SEEDS {
            let mut sim = Sim::new(&topology, seed);
            for _ in 0..200 {
                match sim.rng.below(10) {
                    0 => {
                        let (a, b) = sim.links[sim.rng.below(sim.links.len())];
                        if sim.is_up(a, b) {
                            sim.link_down(a, b);
                        } else {
                            sim.link_up(a, b);
                        }
                    }
                    1..=3 => sim.random_iamat(6),
                    _ => {
                        sim.deliver_one();
                    }
                }
            }
            for (a, b) in sim.links.clone() {
                if !sim.is_up(a, b) {
                    sim.link_up(a, b);
                }
            }
            sim.drain();
            sim.assert_converged(&format!("{what} with flapping links, seed {seed}"));
            snapshots += sim.stats.snapshot_lines;
        }
        assert!(snapshots > 0, "rejoins should carry snapshots");
    }
}

/// The newest IAMAT lands at one server while stale ones (older and exact replays) hit
/// every other server, before and after the news reaches them: none of them wins anywhere.
#[test]
fn stale_iamats_never_replace_newer_ones() {
    for seed in SEEDS {
        let mut sim = Sim::new(&Topology::default_herd(), seed);
        let n = sim.nodes.len();
        let old = Nanos(1_000 * SEC + 250_000_000);
        sim.iamat(0, "kiwi", "+34.068930-118.445127", "1000.25", old);
        let newest = sim.rng.below(n);
        let new = Nanos(2000 * SEC + 1);
        sim.iamat(newest, "kiwi", "+1+1", "2000.000000001", new);
        for at in (0..n).filter(|&i| i != newest) {
            for _ in 0..sim.rng.below(4) {
                sim.deliver_one();
            }
            // `1000.250` is the first time again, written differently: still a tie.
            sim.iamat(at, "kiwi", "-5+5", "1000.250", old);
            sim.iamat(at, "kiwi", "-5+5", "1999.999999999", Nanos(2000 * SEC - 1));
        }
        sim.drain();
        sim.assert_converged(&format!("seed {seed}"));
        assert!(sim.stats.stale_iamats > 0);
    }
}

/// Same seed, same run: every delivery in the same order, snapshots included.
#[test]
fn the_scheduler_is_deterministic() {
    let run = |seed| {
        let mut sim = Sim::new(&Topology::ring(10), seed);
        sim.churn(4, 50);
        sim.link_down(0, 1);
        sim.churn(4, 20);
        sim.link_up(0, 1);
        sim.drain();
        (sim.trace, sim.clock)
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8), "different seeds should give different runs");
}
