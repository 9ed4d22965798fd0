use std::io::Write;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use places::{Latency, Options, Places};

/// A places service shaped like Google's legacy Nearby Search, for benchmarks.
///
/// Answers GET /maps/api/place/nearbysearch/json?location=LAT,LNG&radius=METRES&key=KEY
/// from the GeoNames cities1000 table (CC BY 4.0), nearest first, at most 20 results.
/// Prints `listening on <addr>` on stdout once ready.
///
/// Examples:
///   places --listen 127.0.0.1:8090
///   places --listen 127.0.0.1:0 --latency normal:20ms,5ms --error-rate 0.01 --seed 7
///   places --require-key secret --latency exp:30ms --threads 2
///   curl 'http://127.0.0.1:8090/maps/api/place/nearbysearch/json?location=34.0689,-118.4452&radius=5000&key=secret'
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// Address to listen on, IP:PORT (port 0 picks a free port; the readiness line on
    /// stdout gives the one bound). Example: --listen 0.0.0.0:8090
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Delay added to every response: 0, a fixed duration (250us, 20ms, 1.5s),
    /// normal:MEAN,STDDEV (clamped at 0), exp:MEAN or uniform:LOW,HIGH.
    /// Example: --latency normal:20ms,5ms
    #[arg(long, value_name = "SPEC", default_value = "0")]
    latency: Latency,
    /// Fraction of requests answered with HTTP 500 and status UNKNOWN_ERROR, from 0.0 to
    /// 1.0. Example: --error-rate 0.01
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_rate)]
    error_rate: f64,
    /// Answer REQUEST_DENIED to requests whose key= is missing or different.
    /// Without this flag any key (or none) is accepted.
    #[arg(long, value_name = "KEY")]
    require_key: Option<String>,
    /// Seed for the latency and failure draws, to repeat a run exactly
    /// [default: from the clock; the seed used is logged to stderr].
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Tokio worker threads. Default 1: this is a fixture and must not take cores from the
    /// servers under test.
    #[arg(long, value_name = "N", default_value = "1")]
    threads: NonZeroUsize,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{text:?} is not a fraction between 0.0 and 1.0")),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let places = Arc::new(Places::load().context("loading the place table")?);
    eprintln!(
        "places: {} places from {} indexed in {:?}",
        places.len(),
        places::SOURCE,
        started.elapsed()
    );
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    eprintln!(
        "places: seed {seed}, latency {:?}, error rate {}",
        args.latency, args.error_rate
    );
    let options = Options {
        latency: args.latency,
        error_rate: args.error_rate,
        key: args.require_key,
        seed,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.get())
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Handlers go in before the readiness line: a supervisor that reads the line and
        // then sends SIGTERM must get a graceful stop, not the default kill.
        let shutdown = shutdown_signal().context("installing signal handlers")?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        places::serve(listener, places, options, shutdown).await?;
        eprintln!("places: stopped");
        Ok(())
    })
}

/// Resolves on the first SIGINT or SIGTERM. Registered eagerly (not on first poll).
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("places: shutting down");
    })
}
