//! Where things run: the load generator and the servers on disjoint CPUs.
//!
//! A load generator sharing cores with the servers it measures takes from them what it
//! spends, so by default the CPUs this process may use are split: the last few for the load
//! generator, the rest for the servers (and the places service). CPU affinity is inherited
//! by threads and child processes, so the load generator pins its own main thread before it
//! starts any thread, and starts servers from a thread briefly pinned to the servers' CPUs
//! (no `taskset` needed). With one CPU nothing is pinned. The soak pins each of its lanes
//! the same way.

use std::io;
use std::process::{Child, Command};

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// The CPUs of each side; an empty list means "not pinned".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    pub loadgen: Vec<usize>,
    pub servers: Vec<usize>,
}

impl Placement {
    /// The default split of `available` CPUs: `loadgen_threads` of them (at least one, at
    /// most half) for the load generator, taken from the end, and the rest for the servers.
    pub fn split(available: &[usize], loadgen_threads: usize) -> Placement {
        if available.len() < 2 {
            return Placement::default();
        }
        let n = loadgen_threads.clamp(1, available.len() / 2);
        let (servers, loadgen) = available.split_at(available.len() - n);
        Placement {
            loadgen: loadgen.to_vec(),
            servers: servers.to_vec(),
        }
    }

    /// Both sides unpinned.
    pub fn none() -> Placement {
        Placement::default()
    }
}

/// The CPUs of each of `lanes` jobs run side by side (the soak's lanes): `available` dealt
/// into contiguous, disjoint shares as even as they go (the first lanes get one more when
/// it does not divide). One lane is not pinned (an empty list). More lanes than CPUs is an
/// error: two herds on one CPU would measure each other.
pub fn lanes(available: &[usize], lanes: usize) -> anyhow::Result<Vec<Vec<usize>>> {
    if lanes <= 1 {
        return Ok(vec![Vec::new()]);
    }
    if lanes > available.len() {
        anyhow::bail!(
            "{lanes} lanes need at least {lanes} CPUs, this process may use {}",
            available.len()
        );
    }
    let (each, extra) = (available.len() / lanes, available.len() % lanes);
    let mut rest = available;
    Ok((0..lanes)
        .map(|i| {
            let (lane, tail) = rest.split_at(each + usize::from(i < extra));
            rest = tail;
            lane.to_vec()
        })
        .collect())
}

/// The CPUs this thread may run on.
pub fn available() -> io::Result<Vec<usize>> {
    let set = sched_getaffinity(None)?;
    Ok((0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect())
}

/// Confines the calling thread (and every thread or process it starts later) to `cpus`;
/// an empty list leaves it as it is.
pub fn pin_current_thread(cpus: &[usize]) -> io::Result<()> {
    if cpus.is_empty() {
        return Ok(());
    }
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(c);
    }
    sched_setaffinity(None, &set)?;
    Ok(())
}

/// Runs `f` with the calling thread on `cpus`, so processes it starts inherit them, then
/// puts the thread back where it was.
pub fn with_cpus<T>(cpus: &[usize], f: impl FnOnce() -> T) -> io::Result<T> {
    if cpus.is_empty() {
        return Ok(f());
    }
    let before = sched_getaffinity(None)?;
    pin_current_thread(cpus)?;
    let out = f();
    sched_setaffinity(None, &before)?;
    Ok(out)
}

/// Spawns `command` on `cpus`.
pub fn spawn(command: &mut Command, cpus: &[usize]) -> io::Result<Child> {
    with_cpus(cpus, || command.spawn())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_disjoint_and_cover_the_machine() {
        // (available, loadgen threads, loadgen CPUs, server CPUs)
        type Case<'a> = (&'a [usize], usize, &'a [usize], &'a [usize]);
        let cases: &[Case<'_>] = &[
            (&[0, 1], 1, &[1], &[0]),
            (&[0, 1], 4, &[1], &[0]),
            (&[0, 1, 2, 3, 4, 5, 6, 7], 1, &[7], &[0, 1, 2, 3, 4, 5, 6]),
            (&[0, 1, 2, 3, 4, 5, 6, 7], 2, &[6, 7], &[0, 1, 2, 3, 4, 5]),
            (&[2, 5, 9], 1, &[9], &[2, 5]),
            (&[3], 1, &[], &[]),
            (&[], 1, &[], &[]),
        ];
        for &(available, threads, loadgen, servers) in cases {
            let p = Placement::split(available, threads);
            assert_eq!(
                (p.loadgen.as_slice(), p.servers.as_slice()),
                (loadgen, servers),
                "{available:?} with {threads}"
            );
        }
    }

    #[test]
    fn lanes_share_the_cpus_without_overlap() {
        type Case<'a> = (&'a [usize], usize, &'a [&'a [usize]]);
        let cases: &[Case<'_>] = &[
            (&[0, 1], 1, &[&[]]),
            (&[0, 1], 2, &[&[0], &[1]]),
            (&[0, 1, 2], 2, &[&[0, 1], &[2]]),
            (
                &[0, 1, 2, 3, 4, 5, 6, 7],
                3,
                &[&[0, 1, 2], &[3, 4, 5], &[6, 7]],
            ),
            (&[2, 5], 2, &[&[2], &[5]]),
            (&[4], 0, &[&[]]),
        ];
        for &(available, n, want) in cases {
            let got = lanes(available, n).expect("enough CPUs");
            let want: Vec<Vec<usize>> = want.iter().map(|l| l.to_vec()).collect();
            assert_eq!(got, want, "{available:?} in {n} lanes");
        }
        let err = lanes(&[0, 1], 3).expect_err("three lanes on two CPUs");
        assert!(
            err.to_string().contains("3 lanes need at least 3 CPUs"),
            "{err}"
        );
    }

    #[test]
    fn a_spawned_process_inherits_the_cpus_and_the_caller_is_put_back() {
        let cpus = available().expect("affinity");
        let before = cpus.clone();
        let one = [cpus[cpus.len() - 1]];
        let out = spawn(
            Command::new("grep")
                .args(["Cpus_allowed_list", "/proc/self/status"])
                .stdout(std::process::Stdio::piped()),
            &one,
        )
        .expect("spawn")
        .wait_with_output()
        .expect("output");
        let text = String::from_utf8_lossy(&out.stdout);
        let list = text.split(':').nth(1).map(str::trim);
        assert_eq!(list, Some(one[0].to_string().as_str()), "{text}");
        assert_eq!(available().expect("affinity"), before);
    }
}
