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
pub mod render;
pub mod report;
pub mod retry;
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
}

impl ExitStatus {
    /// The process exit code: 0, 1 or 2.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Error => 2,
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

/// Run a parsed command line: the command, then its output by the output contract.
pub async fn run(cli: cli::Cli) -> ExitStatus {
    let (command, reply) = cmd::dispatch(&cli).await;
    output::emit(command, cli.global.output, reply)
}
