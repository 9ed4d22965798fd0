//! Herd shapes: which servers exist and which are linked.

use std::path::Path;

use anyhow::Context;
use herd_protocol::HerdConfig;

/// Server names with their neighbours, in order; addresses are given at start time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub name: String,
    pub servers: Vec<(String, Vec<String>)>,
}

impl Topology {
    /// The herd config of this shape with the given ports (one per server, in order),
    /// validated by the protocol crate.
    pub(crate) fn config(
        &self,
        ports: &[u16],
        places_url: &str,
        timeout_ms: u64,
    ) -> anyhow::Result<HerdConfig> {
        use std::fmt::Write as _;
        let mut text = format!(
            "[herd]\nkey = \"launcher-link-key\"\n\n[places]\nbase_url = \"{places_url}\"\nkey = \"launcher-places-key\"\ntimeout_ms = {timeout_ms}\n"
        );
        for ((name, neighbours), port) in self.servers.iter().zip(ports) {
            let quoted: Vec<String> = neighbours.iter().map(|n| format!("{n:?}")).collect();
            let _ = write!(
                text,
                "\n[[server]]\nname = {name:?}\naddr = \"127.0.0.1:{port}\"\nneighbours = [{}]\n",
                quoted.join(", ")
            );
        }
        Ok(HerdConfig::parse(&text, &self.name)?)
    }

    fn from_links(name: &str, n: usize, linked: impl Fn(usize, usize) -> bool) -> Topology {
        let names: Vec<String> = (0..n).map(|i| format!("S{i:02}")).collect();
        let servers = (0..n)
            .map(|i| {
                let neighbours = (0..n)
                    .filter(|&j| j != i && (linked(i, j) || linked(j, i)))
                    .map(|j| names[j].clone())
                    .collect();
                (names[i].clone(), neighbours)
            })
            .collect();
        Topology {
            name: format!("{name}-{n}"),
            servers,
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|(n, _)| n.as_str())
    }
}

/// The five-server herd of SPEC.md, from `config/herd.toml`.
pub fn default_herd(root: &Path) -> anyhow::Result<Topology> {
    let path = root.join("config/herd.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let config = HerdConfig::parse(&text, &path.display().to_string())?;
    Ok(Topology {
        name: "default".into(),
        servers: config
            .servers
            .into_iter()
            .map(|s| (s.name, s.neighbours))
            .collect(),
    })
}

pub fn line(n: usize) -> Topology {
    Topology::from_links("line", n, |i, j| j == i + 1)
}

pub fn ring(n: usize) -> Topology {
    Topology::from_links("ring", n, |i, j| n > 1 && j == (i + 1) % n)
}

pub fn star(n: usize) -> Topology {
    Topology::from_links("star", n, |i, j| i == 0 && j > 0)
}

pub fn mesh(n: usize) -> Topology {
    Topology::from_links("mesh", n, |i, j| i != j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_shapes_are_valid_configs_with_the_right_hops() {
        let cases = [
            (line(10), "S00", "S09", 9),
            (ring(10), "S00", "S05", 5),
            (star(6), "S03", "S05", 2),
            (mesh(6), "S01", "S04", 1),
        ];
        for (topology, from, to, hops) in cases {
            let ports: Vec<u16> = (0..topology.servers.len() as u16)
                .map(|i| 20_000 + i)
                .collect();
            let config = topology
                .config(&ports, "http://127.0.0.1:9", 1000)
                .expect("valid");
            assert_eq!(config.hops(from, to), Some(hops), "{}", topology.name);
        }
    }

    #[test]
    fn default_herd_has_spec_links() {
        let t = default_herd(&crate::workspace_root().expect("root")).expect("loads");
        let clark = t.servers.iter().find(|(n, _)| n == "Clark").expect("Clark");
        assert_eq!(clark.1, ["Jaquez", "Juzang"]);
    }
}
