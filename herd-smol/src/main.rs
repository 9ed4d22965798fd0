use std::process::ExitCode;
use std::sync::Arc;

use smol::{Executor, future};

fn main() -> ExitCode {
    herd_shell::run(|server| {
        // smol's global executor runs on one thread; the comparison gives every runtime the
        // same number of worker threads, so run one Executor on `threads` threads.
        let ex = Arc::new(Executor::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let workers: Vec<_> = (1..server.threads)
            .map(|i| {
                let (ex, stopped) = (Arc::clone(&ex), stopped.clone());
                std::thread::Builder::new()
                    .name(format!("smol-{i}"))
                    .spawn(move || future::block_on(ex.run(stopped.recv())))
            })
            .collect::<Result<_, _>>()?;
        let result = future::block_on(ex.run(herd_smol::serve(Arc::clone(&ex), server)));
        drop(stop);
        for worker in workers {
            let _ = worker.join();
        }
        result
    })
}
