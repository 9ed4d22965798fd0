//! The driver against small responders written here: bounded, loopback only, and no speed
//! asserted — only the shape of what is measured.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use loadgen::driver::{Plan, run};
use loadgen::schedule::{Schedule, Stop};
use loadgen::{hist, workload};

/// A thread-per-connection responder answering IAMAT with an AT line. While `stall` holds
/// its lock every connection waits; `dead` makes every connection close.
struct Responder {
    addr: SocketAddr,
    stall: Arc<Mutex<()>>,
    dead: Arc<AtomicBool>,
}

fn responder() -> Responder {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stall = Arc::new(Mutex::new(()));
    let dead = Arc::new(AtomicBool::new(false));
    let (s, d) = (Arc::clone(&stall), Arc::clone(&dead));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (s, d) = (Arc::clone(&s), Arc::clone(&d));
            std::thread::spawn(move || serve(stream, &s, &d));
        }
    });
    Responder { addr, stall, dead }
}

fn serve(stream: TcpStream, stall: &Mutex<()>, dead: &AtomicBool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        if dead.load(Ordering::Acquire) {
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) if line.ends_with('\n') => {
                drop(stall.lock());
                let f: Vec<&str> = line.split_whitespace().collect();
                let reply = format!("AT T +0.000000000 {} {} {}\n", f[1], f[2], f[3]);
                if writer.write_all(reply.as_bytes()).is_err() {
                    return;
                }
                line.clear();
            }
            _ => {}
        }
    }
}

fn plan(addr: SocketAddr, schedule: Schedule, seconds: u64) -> Plan {
    Plan {
        targets: vec![addr],
        connections: 4,
        pipeline: 1,
        schedule,
        warmup: Duration::from_millis(200),
        stop: Stop::After(Duration::from_secs(seconds)),
        drain: Duration::from_secs(1),
        churn: false,
        threads: 1,
        workload: Arc::new(workload::iamat),
    }
}

#[test]
fn every_command_is_accounted_for() {
    let r = responder();
    for schedule in [Schedule::Open { rate: 2_000.0 }, Schedule::Closed] {
        let o = run(&plan(r.addr, schedule, 1)).expect("run");
        assert!(o.sent > 0);
        assert_eq!(
            o.sent,
            o.ok + o.wrong + o.errors + o.timeouts,
            "{schedule:?}"
        );
        assert_eq!(o.latency.len(), o.ok);
        assert_eq!(
            (o.wrong, o.errors, o.timeouts),
            (0, 0, 0),
            "{schedule:?}: {:?}",
            o.first_error
        );
    }
}

#[test]
fn open_loop_charges_a_stall_to_every_command_it_delayed() {
    // The same 200 ms server stall under both schedules.
    let measure = |schedule| {
        let r = responder();
        let stall = Arc::clone(&r.stall);
        let staller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(900));
            let _held = stall.lock();
            std::thread::sleep(Duration::from_millis(200));
        });
        let o = run(&plan(r.addr, schedule, 2)).expect("run");
        staller.join().expect("staller");
        o
    };
    let open = measure(Schedule::Open { rate: 1_000.0 });
    let closed = measure(Schedule::Closed);
    // Open loop: ~200 commands were due during the stall, about 10% of the window, so the
    // p99 sits inside the stall.
    assert!(
        open.latency.value_at_quantile(0.99) >= 100_000,
        "open p99 {} us",
        open.latency.value_at_quantile(0.99)
    );
    // Closed loop: only the 4 commands in flight waited; the stall vanishes from p99 even
    // though it is in the max. This is coordinated omission.
    assert!(
        closed.latency.max() >= 150_000,
        "closed max {} us",
        closed.latency.max()
    );
    assert!(
        closed.latency.value_at_quantile(0.99) < 50_000,
        "closed p99 {} us",
        closed.latency.value_at_quantile(0.99)
    );
}

#[test]
fn a_server_that_dies_gives_errors_not_a_hang() {
    let r = responder();
    let dead = Arc::clone(&r.dead);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        dead.store(true, Ordering::Release);
    });
    let started = Instant::now();
    let o = run(&plan(r.addr, Schedule::Open { rate: 1_000.0 }, 2)).expect("run");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(o.errors > 0, "no errors recorded: {o:?}");
    assert!(o.first_error.is_some());
    assert_eq!(o.sent, o.ok + o.wrong + o.errors + o.timeouts);
    // The timeline counts every one of them, whichever way the command failed (on the
    // dead connection, queued behind it, or scheduled after it died).
    let per_second =
        |f: fn(&loadgen::driver::Failed) -> u64| -> u64 { o.failed_per_second.iter().map(f).sum() };
    assert_eq!(per_second(|f| f.errors), o.errors);
    assert_eq!(per_second(|f| f.timeouts), o.timeouts);
    assert_eq!(per_second(|f| f.wrong), o.wrong);
    let oks: u64 = o.seconds.iter().map(Histogram::len).sum();
    assert_eq!(oks, o.ok);
}

#[test]
fn interval_logs_from_two_processes_merge_to_the_combined_histogram() {
    let dir = tempfile::tempdir().expect("tempdir");
    let new = || Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("h");
    let (mut a, mut b, mut both) = (vec![new(), new()], vec![new(), new()], new());
    for i in 0..5_000u64 {
        let v = 10 + (i * 7919) % 100_000;
        let (side, second) = if i % 3 == 0 {
            (&mut a, (i % 2) as usize)
        } else {
            (&mut b, (i % 2) as usize)
        };
        side[second].record(v).expect("record");
        both.record(v).expect("record");
    }
    let start = std::time::SystemTime::now();
    let (pa, pb) = (dir.path().join("a.hlog"), dir.path().join("b.hlog"));
    hist::write_interval_log(&pa, start, &a, "a").expect("write a");
    hist::write_interval_log(&pb, start, &b, "b").expect("write b");
    let merged = hist::merge_interval_logs(&[&pa, &pb]).expect("merge");
    assert_eq!(merged.len(), both.len());
    for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(
            merged.value_at_quantile(q),
            both.value_at_quantile(q),
            "q={q}"
        );
    }
}

#[test]
fn churn_opens_a_connection_per_command() {
    let r = responder();
    let mut p = plan(r.addr, Schedule::Open { rate: 200.0 }, 1);
    p.churn = true;
    let o = run(&p).expect("run");
    assert!(o.ok > 100 && o.errors == 0, "{o:?}");
}

#[test]
fn commands_stuck_behind_a_full_pipeline_still_count_as_sent() {
    // The server answers nothing for the whole run: one command per connection is in
    // flight, the rest wait in the backlog, and all of them end as timeouts.
    let r = responder();
    let stall = Arc::clone(&r.stall);
    let (locked, is_locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let staller = std::thread::spawn(move || {
        let _held = stall.lock();
        let _ = locked.send(());
        let _ = released.recv_timeout(Duration::from_secs(10));
    });
    is_locked
        .recv_timeout(Duration::from_secs(5))
        .expect("stall started");
    let mut p = plan(r.addr, Schedule::Open { rate: 500.0 }, 1);
    p.drain = Duration::from_millis(300);
    let o = run(&p).expect("run");
    let _ = release.send(());
    staller.join().expect("staller");
    let counts = format!(
        "sent {} ok {} wrong {} errors {} timeouts {}",
        o.sent, o.ok, o.wrong, o.errors, o.timeouts
    );
    assert!(
        o.timeouts > o.sent / 2,
        "most commands should time out: {counts}"
    );
    assert_eq!(o.sent, o.ok + o.wrong + o.errors + o.timeouts, "{counts}");
}
