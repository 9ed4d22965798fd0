//! A herd whose every server-to-server link runs through a chaos proxy.
//!
//! Of two neighbours only the one whose name sorts first dials (docs/PROTOCOL.md), so one
//! proxy per link suffices: the dialler's config names its neighbour at the proxy's
//! address, and the proxy forwards to the neighbour's real one. Clients still talk to the
//! servers directly. The launcher's [`PerServerConfig`] hook writes those per-server configs
//! (and turns anti-entropy off when asked), again on every restart.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use herd_chaos::Proxy;
use herd_launcher::{Herd, HerdSpec, Manifest, PerServerConfig, PlacesSpec, Profile, Topology};
use herd_protocol::HerdConfig;

/// A link, named by its two servers in byte order (the first one dials).
pub type Link = (String, String);

pub struct ProxiedHerd {
    pub herd: Herd,
    proxies: Arc<BTreeMap<Link, Proxy>>,
}

impl std::fmt::Debug for ProxiedHerd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxiedHerd")
            .field("herd", &self.herd)
            .field("links", &self.proxies.len())
            .finish()
    }
}

/// Every link of `topology`, each once, dialler first.
pub fn links(topology: &Topology) -> Vec<Link> {
    let mut links: Vec<Link> = topology
        .servers
        .iter()
        .flat_map(|(name, neighbours)| {
            neighbours
                .iter()
                .filter(move |n| name < *n)
                .map(move |n| (name.clone(), n.clone()))
        })
        .collect();
    links.sort();
    links
}

/// Points `server`'s view of each neighbour it dials at that link's proxy, and aims the
/// proxy at the neighbour's real address.
fn rewrite(
    proxies: &BTreeMap<Link, Proxy>,
    anti_entropy: bool,
    server: &str,
    config: &mut HerdConfig,
) {
    config.herd.anti_entropy = anti_entropy;
    for s in &mut config.servers {
        if let Some(proxy) = proxies.get(&(server.to_owned(), s.name.clone())) {
            // Loopback only: the launcher gives servers 127.0.0.1 addresses.
            let _ = proxy.set_target(s.addr);
            s.addr = proxy.addr();
        }
    }
}

impl ProxiedHerd {
    /// Starts `manifest`'s herd of `topology` with proxied links. WHATSAT replies need no
    /// places data here (the checker only reads their AT line), so the places endpoint is
    /// an unreachable loopback port: every WHATSAT fails fast upstream.
    pub fn start(
        root: &Path,
        manifest: &Manifest,
        profile: Profile,
        topology: Topology,
        anti_entropy: bool,
    ) -> anyhow::Result<ProxiedHerd> {
        let proxies: BTreeMap<Link, Proxy> = links(&topology)
            .into_iter()
            .map(|link| Ok((link, Proxy::start(None)?)))
            .collect::<std::io::Result<_>>()
            .context("starting chaos proxies")?;
        let proxies = Arc::new(proxies);
        let mut spec = HerdSpec::new(manifest.clone(), topology, profile);
        spec.places = PlacesSpec::Unreachable;
        spec.places_timeout_ms = 1_000;
        let hook = Arc::clone(&proxies);
        spec.per_server = Some(PerServerConfig(Arc::new(move |server, config| {
            rewrite(&hook, anti_entropy, server, config);
        })));
        let herd = Herd::start(root, spec)?;
        Ok(ProxiedHerd { herd, proxies })
    }

    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.proxies.keys()
    }

    pub fn proxy(&self, link: &Link) -> anyhow::Result<&Proxy> {
        self.proxies
            .get(link)
            .with_context(|| format!("no link {}-{}", link.0, link.1))
    }

    pub fn heal_all(&self) {
        for p in self.proxies.values() {
            p.heal();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_link_once_and_only_the_dialler_sees_the_proxy() {
        let root = herd_launcher::workspace_root().expect("root");
        let topology = herd_launcher::default_herd(&root).expect("default herd");
        let all = links(&topology);
        assert_eq!(all.len(), 6, "{all:?}");
        assert!(all.contains(&("Bernard".into(), "Jaquez".into())));
        assert!(all.iter().all(|(a, b)| a < b));

        let proxies: BTreeMap<Link, Proxy> = all
            .iter()
            .map(|l| (l.clone(), Proxy::start(None).expect("proxy")))
            .collect();
        let text = std::fs::read_to_string(root.join("config/herd.toml")).expect("config");
        let original = HerdConfig::parse(&text, "herd.toml").expect("valid");
        let addr = |c: &HerdConfig, n: &str| c.server(n).expect("server").addr;

        let mut clark = original.clone();
        rewrite(&proxies, false, "Clark", &mut clark);
        assert!(!clark.herd.anti_entropy);
        // Clark dials Jaquez and Juzang; every other address, its own included, stays.
        for n in ["Jaquez", "Juzang"] {
            let proxy = &proxies[&("Clark".to_owned(), n.to_owned())];
            assert_eq!(addr(&clark, n), proxy.addr());
            assert_eq!(proxy.target(), Some(addr(&original, n)));
        }
        for n in ["Clark", "Bernard", "Johnson"] {
            assert_eq!(addr(&clark, n), addr(&original, n), "{n}");
        }
        // Juzang dials nobody (every neighbour sorts first): its config is unchanged.
        let mut juzang = original.clone();
        rewrite(&proxies, true, "Juzang", &mut juzang);
        assert_eq!(juzang, original);
        assert!(HerdConfig::parse(&clark.to_toml(), "clark").is_ok());
    }
}
