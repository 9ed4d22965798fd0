//! A 50 km query over the whole table: backs the claim that the index answers well under a
//! millisecond, so the places service is never the slow part unless told to be.

use criterion::{Criterion, criterion_group, criterion_main};
use places::Places;

fn nearby(c: &mut Criterion) {
    let places = Places::load().expect("table loads");
    c.bench_function("nearby 50 km, Paris (dense)", |b| {
        b.iter(|| places.nearby(48.8566, 2.3522, 50_000.0, 20))
    });
    c.bench_function("nearby 50 km, Westwood", |b| {
        b.iter(|| places.nearby(34.06893, -118.445127, 50_000.0, 20))
    });
}

criterion_group!(benches, nearby);
criterion_main!(benches);
