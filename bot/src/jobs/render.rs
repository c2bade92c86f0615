//! `render`: re-render each bundle's pinned version for the branch the work tree holds
//! ([`plan`]: what would change) and write `bundles/<addon>/rendered/manifests.yaml`
//! ([`execute`]; `--check` leaves it out).

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
    /// The new render, for `Updated`.
    #[serde(skip)]
    pub text: Option<String>,
}

/// Every bundle of the work tree, rendered for its branch.
#[derive(Debug, Clone, Serialize)]
pub struct RenderPlan {
    pub branch: String,
    pub results: Vec<RenderResult>,
    #[serde(skip)]
    pub problems: Vec<Problem>,
}

/// Render the work tree's bundles (`addons`, all when empty) for the branch it holds.
pub async fn plan(ws: &Arc<Workspace>, addons: &[String]) -> Result<RenderPlan, JobError> {
    let branch = ws.branch(ws.checkout().as_str())?.clone();
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
        match rendered {
            Err(cause) => plan
                .problems
                .push(Problem::new(cause).addon(&b.name).branch(&branch.name)),
            Ok((_, r)) => {
                let same = lb.rendered.as_deref() == Some(r.text.as_str());
                plan.results.push(RenderResult {
                    addon: b.name.to_string(),
                    file: b.rendered_file(),
                    version: b.version.to_string(),
                    outcome: if same {
                        RenderOutcome::Unchanged
                    } else {
                        RenderOutcome::Updated
                    },
                    text: (!same).then_some(r.text),
                });
            }
        }
    }
    plan.results.sort_by(|a, b| a.addon.cmp(&b.addon));
    plan.problems.sort_by(|a, b| a.addon.cmp(&b.addon));
    Ok(plan)
}

/// Write every stale render (atomically: a crash never leaves half a file). A write that
/// fails is a problem for its addon.
pub async fn execute(ws: &Workspace, plan: &RenderPlan) -> Vec<Problem> {
    let mut problems = Vec::new();
    for r in &plan.results {
        let Some(text) = &r.text else { continue };
        let path = ws.repo().join(&r.file);
        if let Err(e) = crate::fs::write_atomically_async(&path, text.clone().into_bytes()).await {
            problems.push(
                Problem::new(format!("cannot write {}: {e}", path.display()))
                    .addon(&r.addon)
                    .branch(&plan.branch),
            );
        }
    }
    problems
}
