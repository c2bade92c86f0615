//! Carrying out the release plan: the annotated tag, pushed without force (a tag that exists
//! elsewhere on the remote is an error, never moved), then the GitHub release.

use serde::Serialize;

use super::plan::{BranchRelease, ReleaseAction, ReleasePlan};
use crate::forge::GitHub;
use crate::jobs::JobError;
use crate::workspace::{blocking, Workspace};

/// What releasing one branch did.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseOutcome {
    pub branch: String,
    pub tag: Option<String>,
    /// A new tag was created and pushed.
    pub tagged: bool,
    /// A GitHub release was created (for a new tag, or one a previous run left without one).
    pub released: bool,
    pub error: Option<String>,
}

/// Release every branch of `plan`; a failure on one branch is in its outcome.
pub async fn execute(ws: &Workspace, plan: &ReleasePlan) -> Result<Vec<ReleaseOutcome>, JobError> {
    let forge = ws.require_forge("release")?;
    let mut out = Vec::new();
    for p in &plan.branches {
        let mut o = ReleaseOutcome {
            branch: p.branch.clone(),
            tag: Some(p.tag.clone()),
            tagged: false,
            released: false,
            error: None,
        };
        let span = tracing::info_span!("release", branch = %p.branch);
        if let Err(e) = tracing::Instrument::instrument(release(ws, forge, p, &mut o), span).await {
            o.error = Some(e);
        }
        out.push(o);
    }
    Ok(out)
}

async fn release(
    ws: &Workspace,
    forge: &GitHub,
    p: &BranchRelease,
    o: &mut ReleaseOutcome,
) -> Result<(), String> {
    match p.action {
        ReleaseAction::Released => return Ok(()),
        ReleaseAction::Publish => {}
        ReleaseAction::Tag => {
            let (repo, tag, commit, notes, who) = (
                ws.repo().to_path_buf(),
                p.tag.clone(),
                p.commit.clone(),
                p.notes.clone(),
                ws.identity().clone(),
            );
            blocking(move || {
                crate::git::create_tag(&repo, &tag, &commit, &notes, &who)
                    .map_err(|e| JobError::Git(e.to_string()))
            })
            .await
            .map_err(|e| e.to_string())?;
            ws.remote().push_tag(&p.tag).await.map_err(|e| match e {
                crate::git::RemoteError::Stale { .. } => format!(
                    "tag {} already exists on {} and points elsewhere; tags are never moved",
                    p.tag,
                    ws.remote().name()
                ),
                other => other.to_string(),
            })?;
            o.tagged = true;
            crate::jobs::progress::finished(format!("tagged {}", p.tag));
        }
    }
    // Checked again right before writing: a concurrent run may have published it.
    if !forge
        .release_exists(&p.tag)
        .await
        .map_err(|e| e.to_string())?
    {
        forge
            .create_release(&p.tag, &p.tag, &p.notes)
            .await
            .map_err(|e| e.to_string())?;
        o.released = true;
    }
    Ok(())
}
