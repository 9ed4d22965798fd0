use std::process::ExitCode;
use std::sync::Arc;

use smol::Executor;

fn main() -> ExitCode {
    herd_shell::run(|server| {
        // smol's global executor runs on one thread; the comparison gives every runtime the
        // same number of worker threads, so run one Executor on `threads` threads. Each runs
        // it under `smol::block_on` (async-io's), which polls the reactor itself while its
        // tasks wait, as smol's own executor threads do; `future::block_on` (futures-lite's)
        // only parks, leaving every readiness event to async-io's helper thread and a
        // cross-thread wake-up (it halved the single server's rate, docs/PERFORMANCE.md).
        let ex = Arc::new(Executor::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let workers: Vec<_> = (1..server.threads)
            .map(|i| {
                let (ex, stopped) = (Arc::clone(&ex), stopped.clone());
                std::thread::Builder::new()
                    .name(format!("smol-{i}"))
                    .spawn(move || smol::block_on(ex.run(stopped.recv())))
            })
            .collect::<Result<_, _>>()?;
        let result = smol::block_on(ex.run(herd_smol::serve(Arc::clone(&ex), server)));
        drop(stop);
        for worker in workers {
            let _ = worker.join();
        }
        result
    })
}
