//! Carrying out a branch cut, converging like `sync`: the release branch is created on the
//! remote from main's tip if it is not there, then `ake-bot/branch-cut-<minor>` holds the new
//! branches.toml on top of the remote's main and its PR is reconciled. Once that PR is merged,
//! a re-run finds main already moved and does nothing.

use serde::Serialize;

use super::plan::CutPlan;
use crate::forge::PullState;
use crate::git::FileChange;
use crate::jobs::pr::{self, PrOutcome, Push};
use crate::jobs::JobError;
use crate::workspace::Workspace;

/// What cutting did.
#[derive(Debug, Clone, Serialize)]
pub struct CutOutcome {
    pub branch: String,
    /// The release branch was created on the remote by this run.
    pub created_branch: bool,
    /// The branches.toml pull request (`None` when main already has the change).
    pub pr: Option<PrOutcome>,
}

pub async fn execute(ws: &Workspace, plan: &CutPlan) -> Result<CutOutcome, JobError> {
    let forge = ws.require_forge("branch cut")?;
    let git = |e: &dyn std::fmt::Display| JobError::Git(e.to_string());
    let base = plan
        .base
        .as_deref()
        .ok_or_else(|| JobError::Git("main is missing on the remote".into()))?;
    if plan.create_branch {
        ws.remote()
            .push(base, &plan.branch, None)
            .await
            .map_err(|e| git(&e))?;
    }
    let (Some(spec), Some(toml)) = (&plan.pr, &plan.branches_toml) else {
        return Ok(CutOutcome {
            branch: plan.branch.clone(),
            created_branch: plan.create_branch,
            pr: None,
        });
    };
    let heads = ws
        .remote()
        .branches(&spec.head)
        .await
        .map_err(|e| git(&e))?;
    let remote_sha = heads
        .iter()
        .find(|(b, _)| *b == spec.head)
        .map(|(_, sha)| sha.clone());
    if remote_sha.is_some() {
        ws.remote()
            .fetch(&[spec.head.as_str()])
            .await
            .map_err(|e| git(&e))?;
    }
    pr::push_on_base(Push {
        repo: ws.repo(),
        remote: ws.remote(),
        base,
        remote_sha: remote_sha.as_deref(),
        branch: &spec.head,
        changes: vec![FileChange {
            path: crate::config::TRAIN_FILE.into(),
            content: Some(toml.clone().into_bytes()),
        }],
        message: format!("{}\n\nProposed by ake-bot branch cut.", spec.title),
        who: ws.identity(),
    })
    .await
    .map_err(JobError::Git)?;
    let open = plan.pulls.iter().find(|p| p.state == PullState::Open);
    let outcome = pr::ensure_pr(forge, spec, open)
        .await
        .map_err(JobError::Forge)?;
    Ok(CutOutcome {
        branch: plan.branch.clone(),
        created_branch: plan.create_branch,
        pr: Some(outcome),
    })
}
