//! ake-bot keeps the addons of a managed-Kubernetes platform current on every release branch.
//!
//! Modules follow the data's path: `config` → `upstream` → `render` → `manifest` → `report`
//! → `train` (the jobs), with `git` reading trees and `cmd` as the command-line shell.

pub mod apis;
pub mod cli;
pub mod cluster;
mod cmd;
pub mod config;
pub mod forge;
pub mod fs;
pub mod git;
pub mod manifest;
pub mod model;
pub mod output;
pub mod render;
pub mod report;
pub mod train;
pub mod upstream;
pub mod validate;
pub mod version;
pub mod yaml;

/// How a run ended. 0: done (or nothing to do); 1: done, but something needs a human (a
/// config problem, an addon that failed while others went on); 2: could not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    Failure,
    Error,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(match s {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Error => 2,
        })
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

/// Run a parsed command line.
pub async fn run(cli: cli::Cli) -> ExitStatus {
    let mut out = output::Printer::default();
    match &cli.command {
        cli::Command::Check => cmd::check::run(&cli.global, &mut out).await,
        cli::Command::Sync(args) => cmd::sync::run(&cli.global, args, &mut out).await,
        cli::Command::Render(args) => cmd::render::run(&cli.global, args, &mut out).await,
        cli::Command::Diff(args) => cmd::diff::run(&cli.global, args, &mut out).await,
        cli::Command::Release(args) => cmd::release::run(&cli.global, args, &mut out).await,
        cli::Command::Validate(args) => cmd::validate::run(&cli.global, args, &mut out).await,
        cli::Command::E2e(args) => cmd::e2e::run(&cli.global, args, &mut out).await,
        cli::Command::Backport(args) => cmd::backport::run(&cli.global, args, &mut out).await,
        cli::Command::Branch(cli::BranchCommand::Cut(args)) => {
            cmd::branch_cut::run(&cli.global, args, &mut out).await
        }
    }
}
