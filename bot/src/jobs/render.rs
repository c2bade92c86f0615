//! `render`: re-render each bundle's pinned version for the branch the work tree holds and
//! write `bundles/<addon>/rendered/manifests.yaml` ([`run`]; `--check` compares only).
//!
//! Unlike the jobs that act on GitHub, render has no separate executor: each addon's file is
//! written (atomically) as soon as its render is ready, so a run interrupted while
//! kube-prometheus-stack still renders keeps — and reports — the addons it finished. With
//! `--check`, the same path writes nothing.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::{check_addons, wanted, JobError, Problem};
use crate::workspace::Workspace;

/// What happens to one bundle's committed render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenderOutcome {
    Unchanged,
    /// Rendering gives different output: the file is stale (written by `execute`).
    Updated,
}

#[derive(Debug, Clone, Serialize)]
pub struct RenderResult {
    pub addon: String,
    pub file: PathBuf,
    pub version: String,
    pub outcome: RenderOutcome,
}

/// Every bundle of the work tree, rendered for its branch.
#[derive(Debug, Clone, Serialize)]
pub struct RenderPlan {
    pub branch: String,
    pub results: Vec<RenderResult>,
    #[serde(skip)]
    pub problems: Vec<Problem>,
}

/// Render the work tree's bundles (`addons`, all when empty) for the branch it holds, writing
/// each stale render unless `check`.
pub async fn run(
    ws: &Arc<Workspace>,
    addons: &[String],
    check: bool,
) -> Result<RenderPlan, JobError> {
    let branch = ws.branch(ws.checkout().as_str())?.clone();
    ws.remove_stale_temps().await;
    let bundles = ws.worktree_bundles().await?;
    check_addons(addons, &bundles.names())?;
    ws.helm()?;
    let mut plan = RenderPlan {
        branch: branch.name.to_string(),
        results: Vec::new(),
        problems: Vec::new(),
    };
    for p in bundles.problems.iter().filter(|p| wanted(addons, &p.dir)) {
        for e in &p.errors {
            plan.problems
                .push(Problem::from_config(e).addon(&p.dir).branch(&branch.name));
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for lb in bundles
        .loaded
        .into_iter()
        .filter(|b| wanted(addons, b.bundle.name.as_str()))
    {
        let (ws, branch) = (ws.clone(), branch.clone());
        tasks.spawn(async move {
            let rendered = ws.render_pinned(&lb, &branch).await;
            (lb, rendered)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (lb, rendered) =
            joined.map_err(|e| JobError::Internal(format!("a render task failed: {e}")))?;
        let b = &lb.bundle;
        let r = match rendered {
            Err(cause) => {
                plan.problems
                    .push(Problem::new(cause).addon(&b.name).branch(&branch.name));
                continue;
            }
            Ok((_, r)) => r,
        };
        let same = lb.rendered.as_deref() == Some(r.text.as_str());
        let result = RenderResult {
            addon: b.name.to_string(),
            file: b.rendered_file(),
            version: b.version.to_string(),
            outcome: if same {
                RenderOutcome::Unchanged
            } else {
                RenderOutcome::Updated
            },
        };
        if !same && !check {
            if let Err(p) = write(ws, &result, r.text, &plan.branch).await {
                plan.problems.push(p);
                continue;
            }
        }
        plan.results.push(result);
    }
    plan.results.sort_by(|a, b| a.addon.cmp(&b.addon));
    plan.problems.sort_by(|a, b| a.addon.cmp(&b.addon));
    Ok(plan)
}

/// Write one render (atomically: a crash never leaves half a file) and record it as finished.
async fn write(
    ws: &Workspace,
    r: &RenderResult,
    text: String,
    branch: &str,
) -> Result<(), Problem> {
    let path = ws.repo().join(&r.file);
    crate::fs::write_atomically_async(&path, text.into_bytes())
        .await
        .map_err(|e| {
            Problem::new(format!("cannot write {}: {e}", path.display()))
                .addon(&r.addon)
                .branch(branch)
        })?;
    super::progress::finished(format!("wrote {} ({})", r.file.display(), r.addon));
    Ok(())
}
