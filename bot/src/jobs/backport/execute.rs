//! Carrying out the backport plan: push each carried change to its bot branch (leased, only
//! when the tree differs), make its PR say what the plan says, and keep one summary comment
//! on the source PR current.

use serde::Serialize;

use super::plan::{BackportPlan, BranchPlan, Carry, ChangePlan, Step};
use crate::forge::GitHub;
use crate::jobs::pr::{self, PrOutcome, Push};
use crate::jobs::JobError;
use crate::report::{self, SummaryRow};
use crate::workspace::Workspace;

/// What happened to one change on one branch: pushed and proposed, or what the plan found
/// (skipped, already there, merged, declined, handed over, failed). Serialised flat, with the
/// `kind` of either.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Carried(Carried),
    Settled(Step),
}

/// A backport pushed to its bot branch, with its PR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Carried {
    /// A backport PR exists and says what it should.
    Pr { number: u64, action: PrAction },
    /// A draft PR with conflicts a person must resolve.
    Conflict { number: u64, paths: Vec<String> },
}

impl Outcome {
    pub fn failed(&self) -> bool {
        matches!(self, Outcome::Settled(Step::Failed { .. }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrAction {
    Opened,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, Serialize)]
pub struct BranchResult {
    pub branch: String,
    /// The bot branch holding the backport.
    pub head: String,
    pub outcome: Outcome,
}

/// One change on `main` and where it went.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeResult {
    pub commit: String,
    pub subject: String,
    pub source_pr: Option<u64>,
    pub addons: Vec<String>,
    pub nothing_to_carry: Option<String>,
    pub branches: Vec<BranchResult>,
    /// The summary comment on the source PR: `posted`, `updated`, `unchanged`.
    pub comment: Option<String>,
    /// A failure for the whole change.
    pub error: Option<String>,
}

/// Carry out `plan`. Needs GitHub; everything scoped to one change or branch is in the
/// results.
pub async fn execute(ws: &Workspace, plan: &BackportPlan) -> Result<Vec<ChangeResult>, JobError> {
    let forge = ws.require_forge("backport")?;
    let mut results = Vec::new();
    for change in &plan.changes {
        let span = tracing::info_span!("backport", commit = %&change.commit[..12]);
        results.push(tracing::Instrument::instrument(carry_change(ws, forge, change), span).await);
    }
    Ok(results)
}

async fn carry_change(ws: &Workspace, forge: &GitHub, change: &ChangePlan) -> ChangeResult {
    let mut result = ChangeResult {
        commit: change.commit.clone(),
        subject: change.subject.clone(),
        source_pr: change.source_pr,
        addons: change.addons.clone(),
        nothing_to_carry: change.nothing_to_carry.clone(),
        branches: Vec::new(),
        comment: None,
        error: change.error.clone(),
    };
    if change.error.is_some() || change.nothing_to_carry.is_some() {
        return result;
    }
    for b in &change.branches {
        let span = tracing::info_span!("branch", branch = %b.branch);
        let outcome = tracing::Instrument::instrument(carry_branch(ws, forge, b), span).await;
        if let Outcome::Carried(c) = &outcome {
            crate::jobs::progress::finished(format!("{:.12} → {}: {c:?}", change.commit, b.branch));
        }
        result.branches.push(BranchResult {
            branch: b.branch.clone(),
            head: b.head.clone(),
            outcome,
        });
    }
    if let Some(number) = change.source_pr {
        match keep_summary_comment(forge, number, &change.commit, &result).await {
            Ok(c) => result.comment = Some(c.into()),
            Err(e) => result.error = Some(format!("commenting on #{number}: {e}")),
        }
    }
    result
}

async fn carry_branch(ws: &Workspace, forge: &GitHub, b: &BranchPlan) -> Outcome {
    match &b.step {
        Step::Carry(c) => match carry(ws, forge, c).await {
            Ok(done) => Outcome::Carried(done),
            Err(message) => Outcome::Settled(Step::Failed { message }),
        },
        settled => Outcome::Settled(settled.clone()),
    }
}

async fn carry(ws: &Workspace, forge: &GitHub, c: &Carry) -> Result<Carried, String> {
    pr::push_on_base(Push {
        repo: ws.repo(),
        remote: ws.remote(),
        base: &c.tip,
        remote_sha: c.remote_sha.as_deref(),
        branch: &c.pr.head,
        changes: c.changes.clone(),
        message: c.message.clone(),
        who: ws.identity(),
    })
    .await?;
    let outcome = pr::ensure_pr(forge, &c.pr, c.open.as_ref()).await?;
    let (number, action) = match outcome {
        PrOutcome::Opened { number } => (number, PrAction::Opened),
        PrOutcome::Updated { number } => (number, PrAction::Updated),
        PrOutcome::Unchanged { number } => (number, PrAction::Unchanged),
        other => return Err(format!("unexpected PR outcome {other:?}")),
    };
    for dup in &c.supersedes {
        let marker = crate::report::marker("close", &[("branch", &dup.head)]);
        let reason = format!(
            "backport #{number} carries the same version from main to `{}`",
            c.pr.base
        );
        let comment = crate::report::close_comment(&marker, &reason).map_err(|e| e.to_string())?;
        pr::close(
            forge,
            ws.remote(),
            dup,
            Some(&dup.head_sha),
            &comment,
            &marker,
        )
        .await
        .map_err(|e| format!("closing #{} (superseded by #{number}): {e}", dup.number))?;
    }
    Ok(if c.conflicts.is_empty() {
        Carried::Pr { number, action }
    } else {
        Carried::Conflict {
            number,
            paths: c.conflicts.clone(),
        }
    })
}

/// Where the change went, one row per branch, as the source PR's comment says it.
fn summary_rows(result: &ChangeResult) -> Vec<SummaryRow> {
    result
        .branches
        .iter()
        .map(|b| SummaryRow {
            branch: b.branch.clone(),
            what: match &b.outcome {
                Outcome::Carried(Carried::Pr { number, .. }) => format!("#{number}"),
                Outcome::Carried(Carried::Conflict { number, paths }) => format!(
                    "draft #{number}, conflicts in {}: finish by hand (steps in the PR)",
                    paths
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Outcome::Settled(Step::Skip { reason }) => format!("skipped: {reason}"),
                Outcome::Settled(Step::AlreadyApplied) => "already has this change".into(),
                Outcome::Settled(Step::Merged { number }) => format!("merged in #{number}"),
                Outcome::Settled(Step::Declined { number }) => {
                    format!("#{number} was closed without merging; not reopened")
                }
                Outcome::Settled(Step::HandedOver { number }) => {
                    format!("#{number}, being finished by hand")
                }
                Outcome::Settled(Step::Failed { message }) => {
                    format!("failed: {message} (retried on the next run)")
                }
                Outcome::Settled(Step::Carry(_)) => "planned".into(),
            },
        })
        .collect()
}

/// Post, or bring up to date, the one comment on the source PR saying where the change went.
async fn keep_summary_comment(
    forge: &GitHub,
    number: u64,
    commit: &str,
    result: &ChangeResult,
) -> Result<&'static str, String> {
    let text = report::summary_comment(commit, &summary_rows(result)).map_err(|e| e.to_string())?;
    let marker = report::summary_marker(commit);
    let existing = forge
        .comment_list(number)
        .await
        .map_err(|e| e.to_string())?;
    match existing.iter().find(|c| c.body.contains(&marker)) {
        Some(c) if c.body == text => Ok("unchanged"),
        Some(c) => {
            forge
                .update_comment(c.id, &text)
                .await
                .map_err(|e| e.to_string())?;
            Ok("updated")
        }
        None => {
            forge
                .comment(number, &text)
                .await
                .map_err(|e| e.to_string())?;
            Ok("posted")
        }
    }
}

impl ChangeResult {
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.branches.iter().any(|b| b.outcome.failed())
    }
}
