//! The herd config parser: TOML text in, a validated `HerdConfig` or a `ConfigError` out.
//!
//! A config that validates must survive `to_toml` and parsing again unchanged (the launcher
//! writes configs that way), and an error must point at a line that exists.
#![no_main]

use herd_protocol::HerdConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match HerdConfig::parse(text, "fuzz.toml") {
        Ok(config) => {
            let written = config.to_toml();
            let again = HerdConfig::parse(&written, "written.toml")
                .unwrap_or_else(|e| panic!("to_toml output rejected: {e}\n{written}"));
            assert_eq!(again, config);
            for server in &config.servers {
                assert!(config.server(&server.name).is_some());
                for n in &server.neighbours {
                    assert!(config.server(n).is_some(), "unknown neighbour {n} accepted");
                }
            }
        }
        Err(e) => {
            if let Some(line) = e.line {
                assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "{e}");
            }
        }
    }
});
