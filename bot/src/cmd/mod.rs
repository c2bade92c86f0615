//! One file per subcommand: arguments → the workspace → the job (plan, then act unless
//! `--dry-run`) → a [`Reply`] for the output contract. No job logic lives here.

pub mod backport;
pub mod branch_cut;
pub mod check;
pub mod diff;
pub mod e2e;
pub mod matrix;
pub mod policy;
pub mod release;
pub mod render;
pub mod scan;
pub mod sync;
pub mod tenants;
pub mod validate;

use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::{Cli, Command, GitHubArgs, GlobalArgs};
use crate::git::Identity;
use crate::jobs::JobError;
use crate::output::Reply;
use crate::workspace::{GitHubSettings, Settings, View, Workspace};

/// Run the command `cli` names; returns its name (for the JSON envelope) and its reply.
pub async fn dispatch(cli: &Cli) -> (&'static str, Reply) {
    let g = &cli.global;
    let (name, result) = match &cli.command {
        Command::Check => ("check", check::run(&settings(g, None)).await),
        Command::Sync(a) => ("sync", sync::run(settings(g, Some(&a.github)), a).await),
        Command::Render(a) => {
            let mut s = settings(g, None);
            s.worktree_branch = a.branch.clone();
            ("render", render::run(s, a).await)
        }
        Command::Diff(a) => ("diff", diff::run(&settings(g, None), a, g.output).await),
        Command::Release(a) => (
            "release",
            release::run(settings(g, Some(&a.github)), a).await,
        ),
        Command::Validate(a) => ("validate", validate::run(settings(g, None), a).await),
        Command::E2e(a) => {
            let mut s = settings(g, None);
            if a.work_tree {
                s.worktree_branch = a.branch.clone();
            }
            ("e2e", e2e::run(s, a).await)
        }
        Command::Matrix(a) => ("matrix", matrix::run(settings(g, None), a, g.output).await),
        Command::Scan(a) => ("scan", scan::run(a, g.output).await),
        Command::Backport(a) => (
            "backport",
            backport::run(settings(g, Some(&a.github)), a).await,
        ),
        Command::Tenants(a) => (
            "tenants",
            tenants::run(settings(g, Some(&a.github)), a).await,
        ),
        Command::Policy(crate::cli::PolicyCommand::Verify(a)) => {
            ("policy verify", policy::verify(g, a))
        }
        Command::Branch(crate::cli::BranchCommand::Cut(a)) => (
            "branch cut",
            branch_cut::run(settings(g, Some(&a.github)), a).await,
        ),
    };
    (name, result.unwrap_or_else(|e| Reply::failed(&e)))
}

/// Open the workspace, shared with the tasks a job spawns.
pub(crate) async fn open(settings: Settings, view: View) -> Result<Arc<Workspace>, JobError> {
    Workspace::open(settings, view).await.map(Arc::new)
}

/// The view a job that acts reads: the remote, fetched first unless it is a dry run.
pub(crate) fn remote_view(dry_run: bool) -> View {
    View::Remote { fetched: !dry_run }
}

fn settings(g: &GlobalArgs, github: Option<&GitHubArgs>) -> Settings {
    Settings {
        repo: g.repo.clone(),
        cache_dir: cache_dir(g),
        schemas: g.schemas.clone(),
        render_cache_max_bytes: g.render_cache_mb.saturating_mul(1 << 20),
        upstream_timeout: std::time::Duration::from_secs(g.upstream_timeout.max(1)),
        worktree_branch: None,
        base_ref: g.base_ref.clone(),
        github: github.map_or_else(GitHubSettings::default, |a| GitHubSettings {
            api_url: a.github_api_url.clone(),
            repository: a.github_repository.clone(),
            token: a.github_token.clone(),
            branch_prefix: a.branch_prefix.clone(),
            remote: a.remote.clone(),
            identity: Identity {
                name: a.author_name.clone(),
                email: a.author_email.clone(),
            },
        }),
    }
}

/// The cache directory: flag, then `$XDG_CACHE_HOME/ake-bot`, then `~/.cache/ake-bot`, then a
/// directory under the system temp dir.
fn cache_dir(global: &GlobalArgs) -> PathBuf {
    if let Some(d) = &global.cache_dir {
        return d.clone();
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("ake-bot");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".cache").join("ake-bot");
    }
    crate::run_dir::system_temp().join("ake-bot-cache")
}

/// `(dry run: …)` or `(… not looked up: …)` notes, shared by the jobs that act.
pub(crate) const DRY_RUN_NOTE: &str = "(dry run: nothing pushed, nothing written to GitHub)";
