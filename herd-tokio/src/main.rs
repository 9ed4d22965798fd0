use std::process::ExitCode;

fn main() -> ExitCode {
    herd_shell::run(|server| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(server.threads)
            .enable_all()
            .build()?
            .block_on(herd_tokio::serve(server))
    })
}
