//! Histogram outputs other tools read: HdrHistogram percentile files (`.hgrm`) and interval
//! logs (V2, deflate-compressed) that merge across load generator processes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

/// The percentile distribution in HdrHistogram's text format (values in milliseconds, as
/// HdrHistogram's own tools and plotters expect with a 1000 µs scaling ratio).
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    let mut total = 0;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64 / 1000.0;
        if q < 1.0 {
            let _ = writeln!(
                out,
                "{value:12.3} {q:14.12} {total:10} {:14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(out, "{value:12.3} {q:14.12} {total:10}",);
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n#[Max     = {:12.3}, Total count    = {:12}]\n#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0,
        h.max() as f64 / 1000.0,
        h.len(),
        h.buckets(),
        h.distinct_values(),
    );
    out
}

/// Writes one histogram per interval (e.g. per second) as an interval log.
pub fn write_interval_log(
    path: &Path,
    start: SystemTime,
    intervals: &[Histogram<u64>],
    tag: &str,
) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .add_comment("herdbench loadgen latency, microseconds")
        .with_start_time(start)
        .with_base_time(start)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut file, &mut serializer)?;
    let tag = hdrhistogram::serialization::interval_log::Tag::new(tag);
    for (i, h) in intervals.iter().enumerate() {
        writer
            .write_histogram(
                h,
                Duration::from_secs(i as u64),
                Duration::from_secs(1),
                tag,
            )
            .map_err(|e| anyhow::anyhow!("writing interval {i}: {e:?}"))?;
    }
    drop(writer);
    file.flush()?;
    Ok(())
}

/// Adds up every interval histogram of every log: the merged view of several load
/// generator processes that ran at once.
pub fn merge_interval_logs(paths: &[&Path]) -> anyhow::Result<Histogram<u64>> {
    let mut total: Histogram<u64> = Histogram::new_with_bounds(1, 3_600_000_000, 3)?;
    let mut deserializer = Deserializer::new();
    for path in paths {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for entry in IntervalLogIterator::new(&bytes) {
            let entry = entry.map_err(|e| {
                anyhow::anyhow!("{}: bad interval log entry: {e:?}", path.display())
            })?;
            if let LogEntry::Interval(interval) = entry {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(interval.encoded_histogram())?;
                let h: Histogram<u64> = deserializer
                    .deserialize(&mut raw.as_slice())
                    .map_err(|e| anyhow::anyhow!("{}: bad histogram: {e:?}", path.display()))?;
                total.add(&h)?;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hgrm_has_the_standard_header_and_footer() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("h");
        for v in 1..=1000 {
            h.record(v).expect("record");
        }
        let text = hgrm(&h);
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
        assert!(
            text.contains("#[Max     =        1.000, Total count    =         1000]"),
            "{text}"
        );
    }
}
