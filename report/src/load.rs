//! Reads everything a run wrote; nothing here interprets it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use herd_records::*;

/// One point of an HdrHistogram percentile file: latency (ms) at a percentile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectrumPoint {
    pub value_ms: f64,
    pub percentile: f64,
}

/// A run as read from `results/<run-id>/`.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    pub meta: RunMeta,
    pub summary: Vec<SummaryRow>,
    pub timeline: Vec<TimelineRow>,
    pub sweep: Vec<SweepRow>,
    pub propagation: Vec<PropagationRow>,
    pub idle: Vec<IdleRow>,
    pub ceiling: Vec<CeilingRow>,
    pub sustainable: Vec<SustainableRow>,
    pub failures: Vec<FailureRow>,
    /// The `single` scenario: one server alone and the ceiling responder (`single.csv`).
    pub single: Vec<SingleRow>,
    pub source: Option<SourceFacts>,
    pub reliability: ReliabilityRows,
    /// Percentile spectra by file stem (`<backend>-<scenario>-<rate>-r<rep>`).
    pub spectra: Vec<(String, Vec<SpectrumPoint>)>,
}

/// The reliability part of a run: fault cycles and per-kind summaries, hostile cases, soak
/// samples and growth. Each is empty when that part did not run.
#[derive(Debug, Clone, Default)]
pub struct ReliabilityRows {
    pub faults: Vec<FaultRow>,
    pub fault_summary: Vec<FaultSummaryRow>,
    pub hostile: Vec<HostileRow>,
    pub soak: Vec<SoakSampleRow>,
    pub soak_growth: Vec<SoakGrowthRow>,
}

/// Parses the value and percentile columns of a `.hgrm` file.
pub fn parse_hgrm(text: &str) -> Vec<SpectrumPoint> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(SpectrumPoint {
                value_ms: f.next()?.parse().ok()?,
                percentile: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

impl Run {
    pub fn load(dir: &Path) -> anyhow::Result<Run> {
        let meta = read_meta(dir)?;
        let mut spectra = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir.join("hgrm")) {
            let mut paths: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "hgrm"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                spectra.push((stem, parse_hgrm(&text)));
            }
        }
        let source_path = dir.join(SOURCE_FILE);
        Ok(Run {
            dir: dir.to_path_buf(),
            meta,
            summary: read_csv(&dir.join(SUMMARY_FILE))?,
            timeline: read_csv(&dir.join(TIMELINE_FILE))?,
            sweep: read_csv(&dir.join(SWEEP_FILE))?,
            propagation: read_csv(&dir.join(PROPAGATION_FILE))?,
            idle: read_csv(&dir.join(IDLE_FILE))?,
            ceiling: read_csv(&dir.join(CEILING_FILE))?,
            sustainable: read_csv(&dir.join(SUSTAINABLE_FILE))?,
            failures: read_csv(&dir.join(FAILURES_FILE))?,
            single: read_csv(&dir.join(SINGLE_FILE))?,
            source: source_path
                .exists()
                .then(|| read_json(&source_path))
                .transpose()?,
            reliability: ReliabilityRows {
                faults: read_csv(&dir.join(FAULTS_FILE))?,
                fault_summary: read_csv(&dir.join(FAULT_SUMMARY_FILE))?,
                hostile: read_csv(&dir.join(HOSTILE_FILE))?,
                soak: read_csv(&dir.join(SOAK_FILE))?,
                soak_growth: read_csv(&dir.join(SOAK_GROWTH_FILE))?,
            },
            spectra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hgrm_columns_and_skips_the_footer() {
        let text = "       Value     Percentile TotalCount 1/(1-Percentile)\n\n       0.038 0.000000000000          1           1.00\n       1.500 0.990000000000        990         100.00\n#[Mean    =        0.430, StdDeviation   =        0.543]\n";
        assert_eq!(
            parse_hgrm(text),
            vec![
                SpectrumPoint {
                    value_ms: 0.038,
                    percentile: 0.0
                },
                SpectrumPoint {
                    value_ms: 1.5,
                    percentile: 0.99
                }
            ]
        );
    }
}
