use std::io::Write;
use std::net::SocketAddr;
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
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Delay added to every response: 0, 20ms, 1.5s, normal:MEAN,STDDEV, exp:MEAN or
    /// uniform:LOW,HIGH.
    #[arg(long, default_value = "0")]
    latency: Latency,
    /// Fraction of requests answered with HTTP 500 (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    error_rate: f64,
    /// Refuse (REQUEST_DENIED) requests that do not carry this key.
    #[arg(long)]
    require_key: Option<String>,
    /// Seed for the latency and failure draws [default: from the clock].
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads. Default 1: this is a fixture and should leave the other cores to
    /// the servers under test.
    #[arg(long, default_value_t = 1)]
    threads: usize,
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
    let options = Options {
        latency: args.latency,
        error_rate: args.error_rate,
        key: args.require_key,
        seed,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        places::serve(listener, places, options, shutdown_signal()).await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
