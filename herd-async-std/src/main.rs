use std::process::ExitCode;

use async_global_executor::GlobalExecutorConfig;

fn main() -> ExitCode {
    herd_shell::run(|server| {
        // async-std reads its thread count from an environment variable; configuring its
        // executor before first use sets the same count without mutating the environment.
        let threads = server.threads;
        async_global_executor::init_with_config(
            GlobalExecutorConfig::default()
                .with_min_threads(threads)
                .with_max_threads(threads),
        );
        async_std::task::block_on(herd_async_std::serve(server))
    })
}
