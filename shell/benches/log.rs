//! What the log costs the request path per event: formatting the line on the request's
//! thread and appending it to the shared buffer (the writer thread writes the file beside
//! it). A logging server pays one `Input` per command and one `Output` per write;
//! docs/PERFORMANCE.md compares this with a server's CPU per command, log off and on
//! (`cargo bench -p herd-shell`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use herd_protocol::Nanos;
use herd_shell::{Event, Logger};

const IAMAT: &[u8] = b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";
const REPLY: &[u8] =
    b"AT Clark +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\n";

fn events(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Logger::to_dir(dir.path(), "Clark").expect("log");
    let now = Nanos(1_621_464_828_223_371_889);
    let mut group = c.benchmark_group("log");
    group.bench_function("input event", |b| {
        b.iter(|| {
            let line = black_box(IAMAT);
            log.event(now, Event::Input { conn: 17, line });
        });
    });
    group.bench_function("output event", |b| {
        b.iter(|| {
            let bytes = black_box(REPLY);
            log.event(now, Event::Output { conn: 17, bytes });
        });
    });
    group.finish();
    log.flush();
    let written = std::fs::metadata(dir.path().join("Clark.log")).expect("log file");
    assert!(written.len() > 0, "the benchmark's events reached the file");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = events
}
criterion_main!(benches);
