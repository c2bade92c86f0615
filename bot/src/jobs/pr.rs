//! The pull-request toolkit every acting job shares (`sync`, `backport`, `branch cut`): decide
//! what should happen to a bot branch's PR, push a commit on a base (leased, and only when the
//! tree differs), and make a PR say what it should. Converges whatever a previous, crashed or
//! concurrent, run left behind.

use serde::Serialize;

use crate::forge::{ForgeError, GitHub, NewPull, PullState, PullSummary};
use crate::git::{self, FileChange, Identity, Remote};
use crate::report;
use crate::workspace::blocking;

use super::JobError;

/// Labels the bot sets from what a change does, and removes when they no longer apply.
pub const MANAGED_LABELS: &[&str] = &[
    "crd-change",
    "crd-breaking",
    "image-change",
    "rbac-change",
    "removed-objects",
    "backport-conflict",
    "validation-failed",
    "removed-api",
    "readiness-blocked",
    "policy-violation",
];

/// What should happen to a bot branch's PR, decided from what the job wants and the PRs that
/// exist. `--dry-run` prints it; the executor carries it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PrPlan {
    /// No PR for this change yet: open one.
    Open,
    /// The open PR's title, body or labels differ from the plan: rewrite them.
    Update { number: u64 },
    /// The open PR already says what the plan says (its branch is compared when acting).
    Keep { number: u64 },
    /// Nothing to propose any more: close it.
    Close { number: u64, reason: String },
    /// A change exists but is not proposed.
    Skip { reason: String },
    /// No change and no PR.
    Nothing,
}

/// What happened to a PR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PrOutcome {
    Opened {
        number: u64,
    },
    Updated {
        number: u64,
    },
    Unchanged {
        number: u64,
    },
    Closed {
        number: u64,
    },
    /// Nothing to do and no PR open.
    Nothing,
    /// A change exists but is not proposed, and why.
    Skipped {
        reason: String,
    },
    Failed {
        message: String,
    },
}

impl PrOutcome {
    /// The PR's number, when there is one.
    pub fn number(&self) -> Option<u64> {
        match self {
            PrOutcome::Opened { number }
            | PrOutcome::Updated { number }
            | PrOutcome::Unchanged { number }
            | PrOutcome::Closed { number } => Some(*number),
            _ => None,
        }
    }
}

/// What a PR should be: from `head` to `base`, saying `title` and `body`, carrying `labels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrSpec {
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    /// Open as a draft (a PR a person must finish). Only applies when opening.
    pub draft: bool,
    /// The body marker's `target`: a PR for this target that a person closed without merging
    /// is a "no", and is not reopened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Decide what to do given the PR the job wants (`None`: nothing to propose, `close_reason`
/// says why) and every PR for its head branch, open or closed.
pub fn decide(wanted: Option<&PrSpec>, pulls: &[PullSummary], close_reason: &str) -> PrPlan {
    let open = pulls.iter().find(|p| p.state == PullState::Open);
    let Some(spec) = wanted else {
        return match open {
            None => PrPlan::Nothing,
            Some(pr) => PrPlan::Close {
                number: pr.number,
                reason: close_reason.to_string(),
            },
        };
    };
    let declined = spec.target.as_deref().filter(|target| {
        pulls.iter().any(|p| {
            p.state == PullState::Closed
                && !p.merged
                && report::marker_field(&p.body, "target").as_deref() == Some(target)
        })
    });
    match (open, declined) {
        (None, Some(target)) => PrPlan::Skip {
            reason: format!("a pull request for {target} was closed without merging; not reopened (a newer version will be proposed)"),
        },
        (None, None) => PrPlan::Open,
        (Some(pr), _) if reads_as(pr, spec) => PrPlan::Keep { number: pr.number },
        (Some(pr), _) => PrPlan::Update { number: pr.number },
    }
}

/// Whether the open `pr` already says what `spec` says.
fn reads_as(pr: &PullSummary, spec: &PrSpec) -> bool {
    pr.title == spec.title
        && pr.body == spec.body
        && spec.labels.iter().all(|l| pr.labels.contains(l))
        && !pr
            .labels
            .iter()
            .any(|l| is_managed_label(l) && !spec.labels.contains(l))
}

pub fn is_managed_label(l: &str) -> bool {
    MANAGED_LABELS.contains(&l)
}

/// Make the PR described by `spec` exist (labels the bot manages that no longer apply are
/// removed), opening it if `open` is `None` and adopting one a concurrent run opened meanwhile.
pub async fn ensure_pr(
    forge: &GitHub,
    spec: &PrSpec,
    open: Option<&PullSummary>,
) -> Result<PrOutcome, String> {
    let (pr, opened) = match open {
        Some(pr) => (pr.clone(), false),
        None => {
            let new = NewPull {
                title: spec.title.clone(),
                body: spec.body.clone(),
                head: spec.head.clone(),
                base: spec.base.clone(),
                draft: spec.draft,
            };
            match forge.create_pull(&new).await {
                Ok(pr) => (pr, true),
                // A concurrent run opened it between our read and our write: adopt it.
                Err(ForgeError::Unprocessable { message, .. })
                    if message.contains("already exists") =>
                {
                    let pulls = forge
                        .pulls_for_head(&spec.head)
                        .await
                        .map_err(|e| e.to_string())?;
                    let pr = pulls
                        .into_iter()
                        .find(|p| p.state == PullState::Open)
                        .ok_or("GitHub says a pull request exists, but none is open")?;
                    (pr, false)
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    let mut changed = false;
    if !opened && (pr.title != spec.title || pr.body != spec.body) {
        forge
            .update_pull(pr.number, &spec.title, &spec.body)
            .await
            .map_err(|e| e.to_string())?;
        changed = true;
    }
    let missing: Vec<String> = spec
        .labels
        .iter()
        .filter(|l| !pr.labels.contains(*l))
        .cloned()
        .collect();
    if !missing.is_empty() {
        forge
            .add_labels(pr.number, &missing)
            .await
            .map_err(|e| e.to_string())?;
        changed = true;
    }
    // Labels the bot manages that no longer apply (the new version has no CRD change, …).
    for stale in pr
        .labels
        .iter()
        .filter(|l| is_managed_label(l) && !spec.labels.contains(l))
    {
        forge
            .remove_label(pr.number, stale)
            .await
            .map_err(|e| e.to_string())?;
        changed = true;
    }
    Ok(if opened {
        PrOutcome::Opened { number: pr.number }
    } else if changed {
        PrOutcome::Updated { number: pr.number }
    } else {
        PrOutcome::Unchanged { number: pr.number }
    })
}

/// A commit to push to a bot branch: `changes` on top of `base`.
pub struct Push<'a> {
    pub repo: &'a std::path::Path,
    pub remote: &'a Remote,
    pub base: &'a str,
    /// Where the bot branch is on the remote now (the lease); `None`: it does not exist.
    pub remote_sha: Option<&'a str>,
    pub branch: &'a str,
    pub changes: Vec<FileChange>,
    pub message: String,
    pub who: &'a Identity,
}

/// Commit `push.changes` on top of `push.base` and push it to `push.branch` (leased on
/// `remote_sha`), unless the branch already holds exactly that tree on that base. Returns
/// whether it pushed.
pub async fn push_on_base(push: Push<'_>) -> Result<bool, String> {
    let (repo, base, who, sha, changes, message) = (
        push.repo.to_path_buf(),
        push.base.to_string(),
        push.who.clone(),
        push.remote_sha.map(str::to_string),
        push.changes,
        push.message,
    );
    let (commit, unchanged) = blocking(move || {
        let git = |e: git::WriteError| JobError::Git(e.to_string());
        let commit = git::commit_on(&repo, &base, &changes, &message, &who).map_err(git)?;
        let unchanged = match &sha {
            Some(sha) => git::commit_info(&repo, sha).map_err(git)?.is_some_and(|c| {
                c.tree == commit.tree && c.parent.as_deref() == Some(base.as_str())
            }),
            None => false,
        };
        Ok((commit, unchanged))
    })
    .await
    .map_err(|e| e.to_string())?;
    if unchanged {
        return Ok(false);
    }
    push.remote
        .push(&commit.id, push.branch, push.remote_sha)
        .await
        .map_err(|e| e.to_string())?;
    Ok(true)
}

/// Close `pr` with one comment saying why (marker-checked, so a crash between comment and
/// close does not repeat it), and delete its branch if it is still where the PR left it.
pub async fn close(
    forge: &GitHub,
    remote: &Remote,
    pr: &PullSummary,
    remote_sha: Option<&str>,
    comment: &str,
    marker: &str,
) -> Result<(), String> {
    let existing = forge.comments(pr.number).await.map_err(|e| e.to_string())?;
    if !existing.iter().any(|c| c.contains(marker)) {
        forge
            .comment(pr.number, comment)
            .await
            .map_err(|e| e.to_string())?;
    }
    forge
        .close_pull(pr.number)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(sha) = remote_sha {
        remote
            .delete(&pr.head, sha)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
