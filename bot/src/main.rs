use clap::Parser;
use tracing_subscriber::EnvFilter;

// Renders are parsed into millions of small values on several threads: glibc's malloc spent a
// third of the bot's own CPU of a cold tick, and its per-thread arenas kept freed memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = ake_bot::cli::Cli::parse();
    // First, before any thread: the run's temp directory, removed however the run ends.
    let run_dir = match ake_bot::run_dir::RunDir::create() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot create a temporary directory: {e}");
            return ake_bot::ExitStatus::Error.into();
        }
    };
    let default = match cli.global.verbose {
        0 => "warn,ake_bot=info",
        1 => "info,ake_bot=debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
        )
        .with_target(false)
        .init();
    // Few blocking threads: parsing multi-MB renders on many threads spreads the heap over as
    // many per-thread heaps (measured with glibc: peak RSS of a cold 120-entry plan more than
    // halved). Blocking work is CPU-bound anyway.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(cores * 2)
        .enable_all()
        .build()
        .expect("a tokio runtime can be built on any supported OS");
    let status = runtime.block_on(ake_bot::run(cli));
    // Children and blocking tasks end with the runtime, before their directory goes.
    drop(runtime);
    drop(run_dir);
    status.into()
}
