//! The fixed-rate scenarios, propagation and idle connections as tables.

use std::fmt::Write as _;

use super::{View, kib, ms, rate, spread_ms, us};

pub(super) fn performance(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Performance implications\n");
    let _ = writeln!(
        out,
        "Fixed-rate scenarios, median [min–max] over repetitions (`summary.csv`). CPU per command is the servers' (all five) and the load generator's at that one rate; it depends on the rate, since more commands per wake-up cost less each, and the chart of server CPU per IAMAT against offered rate shows how, backend by backend (`sweep.csv`):\n"
    );
    let _ = writeln!(
        out,
        "| backend | scenario | achieved | p50 | p99 | p99.9 | server CPU per command | load generator CPU per command | peak RSS, 5 servers | failed |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for ((backend, scenario), s) in &v.stats {
        let _ = writeln!(
            out,
            "| {} | {scenario} | {} | {} | {} | {} | {} | {} | {:.1} MiB | {} |",
            v.name(backend),
            rate(s.achieved_rate.median),
            spread_ms(&s.p50_us),
            spread_ms(&s.p99_us),
            spread_ms(&s.p999_us),
            us(s.cpu_us_per_command.median),
            us(s.loadgen_cpu_us_per_command.median),
            s.peak_rss_sum_bytes.median / f64::from(1u32 << 20),
            s.failed
        );
    }
    if !v.run.propagation.is_empty() {
        let _ = writeln!(out, "\nPropagation of an update (`propagation.csv`):\n");
        let _ = writeln!(out, "| backend | hops | samples | p50 | p99 |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for r in &v.run.propagation {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                v.name(&r.backend),
                r.hops,
                r.samples,
                ms(r.p50_us as f64),
                ms(r.p99_us as f64)
            );
        }
    }
    if !v.run.idle.is_empty() {
        let _ = writeln!(
            out,
            "\nIdle connections (`idle.csv`): K connections to the herd, each sends one IAMAT and stays open; the servers' resident memory over that before any, per connection, median over repetitions:\n"
        );
        let _ = writeln!(
            out,
            "| backend | connections | per connection | server threads |"
        );
        let _ = writeln!(out, "|---|---|---|---|");
        let mut keys: Vec<(String, usize)> = v
            .run
            .idle
            .iter()
            .map(|r| (r.backend.clone(), r.connections))
            .collect();
        keys.sort();
        keys.dedup();
        for (b, k) in keys {
            let rows: Vec<_> = v
                .run
                .idle
                .iter()
                .filter(|r| r.backend == b && r.connections == k)
                .collect();
            let per = crate::stats::spread(rows.iter().map(|r| r.bytes_per_connection));
            let threads = rows.iter().map(|r| r.threads_after).max().unwrap_or(0);
            let _ = writeln!(
                out,
                "| {} | {k} | {} [{}–{}] | {threads} |",
                v.name(&b),
                kib(per.median),
                kib(per.min),
                kib(per.max)
            );
        }
    }
    let _ = writeln!(out);
}
