//! `render`: re-render each bundle's pinned version for the branch the work tree holds, and
//! write (or check) `bundles/<addon>/rendered/manifests.yaml`.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::config::{self, LoadedBundle, TrainBranch};
use crate::git::{self, Tree};
use crate::render::Helm;
use crate::upstream::{Fetcher, UpstreamError};

use super::JobError;

#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub repo: PathBuf,
    pub addons: Vec<String>,
    /// The train branch the work tree holds; `None`: the checked-out git branch, else main.
    pub branch: Option<String>,
    /// Compare only; write nothing.
    pub check: bool,
    pub cache_dir: PathBuf,
}

/// What happened to one bundle's committed render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenderOutcome {
    Unchanged,
    /// Written (or, with `check`, would be).
    Updated,
}

#[derive(Debug, Clone, Serialize)]
pub struct RenderResult {
    pub addon: String,
    pub file: PathBuf,
    pub version: String,
    pub outcome: Result<RenderOutcome, String>,
}

pub async fn rerender(req: &RenderRequest) -> Result<(TrainBranch, Vec<RenderResult>), JobError> {
    let repo = req.repo.clone();
    let (train, bundles) = tokio::task::spawn_blocking(move || {
        let train = config::load_train(&repo)?;
        let bundles = config::load_bundles(&Tree::Dir(repo.clone()))?;
        Ok::<_, JobError>((train, bundles))
    })
    .await
    .expect("config loading does not panic")?;
    let branch_name = match &req.branch {
        Some(b) => b.clone(),
        None => git::current_branch(&req.repo)
            .filter(|b| train.branch(b).is_some())
            .unwrap_or_else(|| "main".to_string()),
    };
    let branch = train
        .branch(&branch_name)
        .cloned()
        .ok_or_else(|| JobError::UnknownBranch {
            name: branch_name.clone(),
            known: train
                .branches
                .iter()
                .map(|b| b.name.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    super::check_addons(&req.addons, &bundles.names())?;
    let wanted = |n: &str| req.addons.is_empty() || req.addons.iter().any(|a| a == n);
    let helm = Arc::new(Helm::locate().map_err(JobError::HelmMissing)?);
    let fetcher = Arc::new(Fetcher::new(train.mirrors.clone(), req.cache_dir.clone())?);
    let permits = Arc::new(super::helm_permits());

    let mut results = Vec::new();
    for p in bundles.problems.iter().filter(|p| wanted(&p.dir)) {
        results.push(RenderResult {
            addon: p.dir.clone(),
            file: PathBuf::from(config::BUNDLES_DIR)
                .join(&p.dir)
                .join(config::RENDERED_FILE),
            version: String::new(),
            outcome: Err(config::ConfigErrors(p.errors.clone()).to_string()),
        });
    }
    let mut tasks = tokio::task::JoinSet::new();
    for lb in bundles
        .loaded
        .into_iter()
        .filter(|b| wanted(b.bundle.name.as_str()))
    {
        let (helm, fetcher, permits, branch) = (
            helm.clone(),
            fetcher.clone(),
            permits.clone(),
            branch.clone(),
        );
        let (repo, check) = (req.repo.clone(), req.check);
        tasks.spawn(async move {
            let outcome = one(&fetcher, &helm, &permits, &lb, &branch, &repo, check).await;
            RenderResult {
                addon: lb.bundle.name.to_string(),
                file: lb.bundle.rendered_file(),
                version: lb.bundle.version.to_string(),
                outcome,
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        results.push(r.expect("render tasks do not panic"));
    }
    results.sort_by(|a, b| a.addon.cmp(&b.addon));
    Ok((branch, results))
}

async fn one(
    fetcher: &Fetcher,
    helm: &Helm,
    permits: &tokio::sync::Semaphore,
    lb: &LoadedBundle,
    branch: &TrainBranch,
    repo: &std::path::Path,
    check: bool,
) -> Result<RenderOutcome, String> {
    let b = &lb.bundle;
    let (_, rendered) = render_pinned(fetcher, helm, permits, lb, branch).await?;
    if lb.rendered.as_deref() == Some(rendered.text.as_str()) {
        return Ok(RenderOutcome::Unchanged);
    }
    if !check {
        let path = repo.join(b.rendered_file());
        crate::fs::write_atomically_async(&path, rendered.text.into_bytes())
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(RenderOutcome::Updated)
}

/// Render the version `lb` pins for `branch`; also returns the index entry it came from (its
/// `kubeVersion`, for admissibility checks). Errors are one line naming chart and version.
pub(crate) async fn render_pinned(
    fetcher: &Fetcher,
    helm: &Helm,
    permits: &tokio::sync::Semaphore,
    lb: &LoadedBundle,
    branch: &TrainBranch,
) -> Result<(crate::upstream::Release, crate::render::Rendered), String> {
    let release = pinned_release(fetcher, lb).await?;
    let rendered = super::render_release(fetcher, helm, permits, lb, branch, &release).await?;
    Ok((release, rendered))
}

/// The index entry of the version `lb` pins.
pub(crate) async fn pinned_release(
    fetcher: &Fetcher,
    lb: &LoadedBundle,
) -> Result<crate::upstream::Release, String> {
    let b = &lb.bundle;
    let index = fetcher
        .index(&b.helm().repo)
        .await
        .map_err(|e| e.to_string())?;
    index
        .releases(&b.helm().chart)
        .releases
        .into_iter()
        .find(|r| r.version == b.version)
        .ok_or_else(|| {
            UpstreamError::VersionMissing {
                chart: b.helm().chart.clone(),
                version: b.version.to_string(),
                index: index.location.clone(),
            }
            .to_string()
        })
}
