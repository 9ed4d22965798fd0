//! `chaos`: one proxy from the command line, driven by lines on stdin.

use std::io::BufRead;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use herd_chaos::{Direction, Proxy};

/// A chaos TCP proxy on loopback. Prints `listening on ADDR`, then reads one command per
/// line on stdin until `quit` or end of input:
///
///   delay MS        hold every chunk back MS milliseconds
///   drop            reset open connections, refuse new ones
///   cut to|from     discard bytes going to the target (`to`) or coming back (`from`)
///   heal            forward normally again
///   target ADDR     send new connections to ADDR
///   stats           print counters
///   quit
#[derive(Parser, Debug)]
#[command(verbatim_doc_comment)]
struct Args {
    /// Where to listen (loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to forward (loopback only).
    #[arg(long)]
    target: Option<SocketAddr>,
}

fn command(proxy: &Proxy, line: &str) -> anyhow::Result<bool> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => {}
        ["delay", ms] => proxy.set_delay(Duration::from_millis(ms.parse().context("ms")?)),
        ["drop"] => proxy.drop_link(),
        ["cut", "to"] => proxy.cut(Direction::ToTarget),
        ["cut", "from"] => proxy.cut(Direction::FromTarget),
        ["heal"] => proxy.heal(),
        ["target", addr] => proxy.set_target(addr.parse().context("addr")?)?,
        ["stats"] => println!("{:?} open={}", proxy.stats(), proxy.open_connections()),
        ["quit"] => return Ok(false),
        _ => bail!("unknown command {line:?} (see --help)"),
    }
    Ok(true)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let proxy = Proxy::start_on(args.listen, args.target)?;
    println!("listening on {}", proxy.addr());
    for line in std::io::stdin().lock().lines() {
        match command(&proxy, &line?) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => eprintln!("error: {e:#}"),
        }
    }
    Ok(())
}
