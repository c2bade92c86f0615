//! The jobs, as reconcilers: observe (upstream, repo), diff (desired vs actual), act. Planning
//! is separate from acting, so `--dry-run` is the same path with no executor.

pub mod backport;
pub mod branch_cut;
pub mod publish;
pub mod release;
pub mod rerender;
pub mod sync;
pub mod tag_diff;

use crate::config::{self, LoadedBundle, TrainBranch};
use crate::git;
use crate::render::{self, Helm, RenderInput};
use crate::upstream::{Fetcher, Release};

/// Fetch (verified) and render `release` of `bundle` for `branch`. Errors are one line naming
/// the chart and version; callers add addon and branch.
pub(crate) async fn render_release(
    fetcher: &Fetcher,
    helm: &Helm,
    permits: &tokio::sync::Semaphore,
    bundle: &LoadedBundle,
    branch: &TrainBranch,
    release: &Release,
) -> Result<render::Rendered, String> {
    let b = &bundle.bundle;
    let chart_path = fetcher
        .chart(&b.helm().repo, &release.entry)
        .await
        .map_err(|e| e.to_string())?;
    let _permit = permits
        .acquire()
        .await
        .expect("the semaphore is never closed");
    render::render(
        helm,
        RenderInput {
            bundle: b,
            values_template: bundle.values_template.as_deref(),
            branch,
            chart: &release.entry,
            chart_path: &chart_path,
        },
    )
    .await
    .map_err(|e| format!("rendering {} {}: {e}", release.entry.name, release.version))
}

/// One permit per core: helm is CPU-bound, more only adds contention.
pub(crate) fn helm_permits() -> tokio::sync::Semaphore {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// Errors that stop a whole job. Anything scoped to one addon is reported for that addon
/// instead, and the others go on.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Config(#[from] config::ConfigErrors),
    #[error("{0}")]
    Tree(#[from] git::TreeError),
    #[error("{0}")]
    HelmMissing(String),
    /// A tool or service the job needs is not there (kind, a container engine).
    #[error("{0}")]
    Unavailable(String),
    #[error("unknown addon {name:?}: bundles/ has {known}")]
    UnknownAddon { name: String, known: String },
    #[error("unknown branch {name:?}: branches.toml has {known}")]
    UnknownBranch { name: String, known: String },
    #[error("{0}")]
    Upstream(#[from] crate::upstream::UpstreamError),
    #[error("{0}")]
    Git(String),
    #[error("{0}")]
    Forge(String),
}

/// Every name in `requested` must be an addon under `bundles/` (`known`).
pub(crate) fn check_addons(requested: &[String], known: &[String]) -> Result<(), JobError> {
    match requested.iter().find(|r| !known.contains(r)) {
        Some(name) => Err(JobError::UnknownAddon {
            name: name.clone(),
            known: known.join(", "),
        }),
        None => Ok(()),
    }
}

/// The branch names of the train, for messages.
pub(crate) fn branch_names(train: &config::Train) -> String {
    train
        .branches
        .iter()
        .map(|b| b.name.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
