//! The herd simulator's machinery: topologies, a seeded PRNG, and [`Sim`], which runs N
//! nodes over in-memory connections and checks every step against an oracle. The scenarios
//! live in `simulator.rs`.
//!
//! A connection is modelled as TCP behaves: two FIFO queues, one per direction, that live
//! while the receiving end reads. Each end closes on its own (a half-open link: the other
//! end may keep flooding into the void until it notices), and a reconnect may replace a link
//! an end still thinks live. Every incarnation has its own generation in the link handle,
//! so a node that floods on a replaced link is caught.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use herd_protocol::message::iamat_line;
use herd_protocol::{ClientStep, Flood, HerdConfig, LinkId, Nanos, Node, PeerStep, Record, Skew};

pub const SEC: i128 = Nanos::NANOS_PER_SEC;

/// One direction of one incarnation of a link, by server index: the handle a node names in
/// each [`Flood`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdgeId {
    pub from: usize,
    pub to: usize,
    pub generation: u32,
}

/// xorshift64: a few lines, no dependency, same sequence everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Spread small seeds over the state; xorshift must never hold zero.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn nanos_below(&mut self, n: i128) -> i128 {
        i128::from(self.next()) % n
    }
}

/// Server names and undirected links `(a, b)` with `a < b`.
pub struct Topology {
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

    /// The five servers of SPEC.md §1.
    pub fn default_herd() -> Topology {
        let names = ["Bernard", "Clark", "Jaquez", "Johnson", "Juzang"];
        Topology {
            names: names.map(String::from).to_vec(),
            links: vec![(0, 2), (0, 3), (0, 4), (1, 2), (1, 4), (3, 4)],
        }
    }

    pub fn line(n: usize) -> Topology {
        Topology::numbered(n, |a, b| b == a + 1)
    }

    pub fn ring(n: usize) -> Topology {
        Topology::numbered(n, |a, b| b == a + 1 || (a == 0 && b == n - 1))
    }

    pub fn mesh(n: usize) -> Topology {
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
pub struct Stats {
    pub stale_iamats: usize,
    pub stale_news: usize,
    pub snapshot_lines: usize,
    /// Lines in flight when their receiver closed, or flooded to a closed receiver.
    pub lost_lines: usize,
    /// Live links replaced by a reconnect before their end noticed the old one was gone.
    pub replaced_links: usize,
}

pub struct Sim {
    names: Vec<String>,
    pub links: Vec<(usize, usize)>,
    pub nodes: Vec<Node<EdgeId>>,
    /// Each node's live links by `(node, peer)`: the handle and id the node was given.
    up: BTreeMap<(usize, usize), (EdgeId, LinkId)>,
    /// Lines in flight, with their newline, per edge whose receiver still reads it.
    queues: BTreeMap<EdgeId, VecDeque<Arc<[u8]>>>,
    generation: u32,
    /// Ids of replaced links whose `link_down` the shell has yet to report: `(node, peer)`.
    late_downs: Vec<(usize, usize, LinkId)>,
    pub clock: Nanos,
    pub rng: Rng,
    /// A running hash of every delivery (link and line), to show runs repeat exactly.
    pub trace: u64,
    /// Every (sender, receiver, client, time) flooded so far, over every incarnation of the
    /// link: a node stores an update at most once, so it crosses a link at most once.
    flooded: HashSet<(usize, usize, Arc<str>, Nanos)>,
    /// The oracle: per client, the time and AT line of its newest IAMAT.
    newest: HashMap<String, (Nanos, String)>,
    /// Client and time of every AT line made (parsing each delivery again would dominate
    /// the run time in debug builds, and an unknown line is itself a failure).
    made: HashMap<Arc<[u8]>, (Arc<str>, Nanos)>,
    /// AT lines made since [`Sim::partition`], with the index of the server that made each.
    made_since_cut: Vec<(usize, String)>,
    pub stats: Stats,
}

impl Sim {
    /// A herd with every link up and nothing stored.
    pub fn new(topology: &Topology, seed: u64) -> Sim {
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
            generation: 0,
            late_downs: Vec::new(),
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

    /// Node `x` holds a live link to `y` (whether or not `y` still does).
    pub fn has_link(&self, x: usize, y: usize) -> bool {
        self.up.contains_key(&(x, y))
    }

    /// Both ends hold the same incarnation of the link.
    pub fn is_up(&self, a: usize, b: usize) -> bool {
        match (self.up.get(&(a, b)), self.up.get(&(b, a))) {
            (Some((x, _)), Some((y, _))) => x.generation == y.generation,
            _ => false,
        }
    }

    /// A new connection between `a` and `b`: both ends learn of it, and each end's snapshot
    /// goes first on its queue, so the other end reads it before anything flooded later. An
    /// end that still held an older link replaces it and stops reading it; the shell reports
    /// that old link's end later (see [`Sim::fire_late_downs`]).
    pub fn link_up(&mut self, a: usize, b: usize) {
        self.generation += 1;
        for (from, to) in [(a, b), (b, a)] {
            if let Some((old, id)) = self.up.remove(&(from, to)) {
                self.stats.replaced_links += 1;
                self.late_downs.push((from, to, id));
                self.stop_reading(EdgeId {
                    from: to,
                    to: from,
                    generation: old.generation,
                });
            }
            let edge = EdgeId {
                from,
                to,
                generation: self.generation,
            };
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
            assert_eq!(lines.len(), self.nodes[from].store().len(), "whole store");
            self.stats.snapshot_lines += lines.len();
            self.up.insert((from, to), (edge, id));
            self.queues.insert(edge, VecDeque::from(lines));
        }
    }

    /// The receiver of `edge` closes it: whatever was in flight is lost.
    fn stop_reading(&mut self, edge: EdgeId) {
        if let Some(lost) = self.queues.remove(&edge) {
            self.stats.lost_lines += lost.len();
        }
    }

    /// Node `x` closes its end of its live link to `y`: it stops reading and the node is
    /// told. Lines `x` already sent may still reach `y`, and `y` may keep flooding into the
    /// void until it closes too.
    pub fn close(&mut self, x: usize, y: usize) {
        let (edge, id) = self.up.remove(&(x, y)).expect("a live link");
        assert!(self.nodes[x].link_down(&self.names[y], id), "the live id");
        let links = self.nodes[x].links_up();
        assert!(!links.iter().any(|n| **n == self.names[y]), "{links:?}");
        self.stop_reading(EdgeId {
            from: y,
            to: x,
            generation: edge.generation,
        });
    }

    /// The connection drops and both ends notice.
    pub fn link_down(&mut self, a: usize, b: usize) {
        for (x, y) in [(a, b), (b, a)] {
            if self.has_link(x, y) {
                self.close(x, y);
            }
        }
    }

    /// The shell reports the end of every replaced link: each must change nothing.
    pub fn fire_late_downs(&mut self) {
        for (x, y, id) in std::mem::take(&mut self.late_downs) {
            let before = self.nodes[x].links_up();
            assert!(!self.nodes[x].link_down(&self.names[y], id), "a stale id");
            assert_eq!(
                self.nodes[x].links_up(),
                before,
                "a late down changed links"
            );
        }
    }

    /// Sends one IAMAT to server `at` and checks the reply, the store and the floods.
    pub fn iamat(&mut self, at: usize, client: &str, location: &str, time: &str, t: Nanos) {
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
    pub fn deliver_one(&mut self) -> bool {
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
    /// except the one it came from, once, on that link's current handle; anything else
    /// floods nothing.
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
            let live = self.up.keys().filter(|(x, _)| *x == at).map(|&(_, y)| y);
            live.filter(|&y| Some(y) != came_from).collect()
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
            let (from, to) = (f.link.from, f.link.to);
            assert_eq!(from, at, "a node floods only on its own links");
            assert_ne!(Some(to), came_from, "news flooded back where it came from");
            let live = self.up.get(&(from, to)).copied();
            assert_eq!(Some((f.link, f.link_id)), live, "the live handle and id");
            assert_eq!(*f.peer, self.names[to]);
            assert_eq!(f.wire, wire);
            let key = (from, to, Arc::clone(&client), time);
            let twice = String::from_utf8_lossy;
            assert!(self.flooded.insert(key), "{} flooded twice", twice(&wire));
            match self.queues.get_mut(&f.link) {
                Some(queue) => queue.push_back(f.wire),
                // The receiver closed its end: the write goes nowhere.
                None => self.stats.lost_lines += 1,
            }
        }
    }

    /// Runs the scheduler until every queue is empty.
    pub fn drain(&mut self) {
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
    pub fn random_iamat(&mut self, clients: usize) {
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
    pub fn time_text(&mut self, t: Nanos) -> String {
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
    pub fn churn(&mut self, clients: usize, steps: usize) {
        for _ in 0..steps {
            self.random_iamat(clients);
            for _ in 0..self.rng.below(6) {
                self.deliver_one();
            }
        }
    }

    /// Every server holds, for every client, exactly the record of its newest IAMAT.
    pub fn assert_converged(&self, what: &str) {
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
    pub fn partition(&mut self, side: &[bool]) -> Vec<(usize, usize)> {
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
    pub fn assert_nothing_crossed(&self, side: &[bool]) {
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
