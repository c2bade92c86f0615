//! ake-bot keeps the addons of a managed-Kubernetes platform current on every release branch.
//!
//! Modules follow the data's path: `config` → `upstream` → `render` → `manifest` →
//! `validate` → `git` → `forge` → `jobs` (the reconcilers, each a plan and an executor) →
//! `report` (what people read on GitHub). `workspace` is what every job starts from; `cmd`
//! is the command-line shell and `output` the only place that writes a command's output.

pub mod apis;
pub mod cli;
pub mod cluster;
mod cmd;
pub mod config;
pub mod forge;
pub mod fs;
pub mod git;
pub mod jobs;
pub mod manifest;
pub mod model;
pub mod output;
pub mod policy;
pub mod render;
pub mod report;
pub mod retry;
pub mod run_dir;
pub mod tenant;
pub mod upstream;
pub mod validate;
pub mod version;
pub mod workspace;
pub mod yaml;

/// How a run ended. 0: done (or nothing to do); 1: done, but something needs a human (a
/// config problem, an addon that failed while others went on); 2: could not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    Failure,
    Error,
    /// Stopped by SIGINT (130) or SIGTERM (143), as shells report it.
    Interrupted(u8),
}

impl ExitStatus {
    /// The process exit code: 0, 1 or 2.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Error => 2,
            ExitStatus::Interrupted(code) => code,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s.code())
    }
}

/// An error and its sources on one line (`a: b: c`), for messages a user reads.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Run a parsed command line: the command, then its output by the output contract. SIGINT or
/// SIGTERM stops the command (its tasks and child processes end with it), says what was
/// finished, and the run's temporary files go with the run.
pub async fn run(cli: cli::Cli) -> ExitStatus {
    tokio::select! {
        (command, reply) = cmd::dispatch(&cli) => output::emit(command, cli.global.output, reply),
        (signal, code) = interrupted() => {
            let done = jobs::progress::take();
            let finished = if done.is_empty() {
                "nothing was finished".to_string()
            } else {
                format!("finished before it: {}", done.join("; "))
            };
            eprintln!("error: interrupted by {signal}: {finished}");
            ExitStatus::Interrupted(code)
        }
    }
}

/// The first SIGINT or SIGTERM, with the exit code a shell would give.
async fn interrupted() -> (&'static str, u8) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => ("SIGINT", 130),
            _ = term.recv() => ("SIGTERM", 143),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        ("Ctrl-C", 130)
    }
}
