//! Backport texts: the PR onto a release branch, the draft for a conflict, and the one
//! summary comment on the source PR.

use serde::Serialize;

use super::{fit, marker, render, TemplateError, BODY_LIMIT};
use crate::validate::Verdict;

/// One bundle re-rendered for the branch, as the PR body lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rerender {
    pub addon: String,
    /// `None`: the change adds the addon.
    pub from: Option<String>,
    /// `None`: the change removes the addon.
    pub to: Option<String>,
    /// What changes in the branch's rendered manifests, one line each.
    pub summary: Vec<String>,
    /// `validate` on the branch with this render.
    pub validation: Option<Verdict>,
}

/// What a backport PR says.
pub struct BackportBody<'a> {
    pub commit: &'a str,
    pub source_pr: Option<u64>,
    pub branch: &'a str,
    pub kube: &'a str,
    /// The branch tip the backport is built on.
    pub tip: &'a str,
    pub rendered: &'a [Rerender],
}

/// What a conflicted backport's draft PR says.
pub struct ConflictBody<'a> {
    pub commit: &'a str,
    /// The change is a merge commit (picked against its first parent).
    pub merge: bool,
    pub source_pr: Option<u64>,
    pub branch: &'a str,
    pub kube: &'a str,
    pub tip: &'a str,
    /// The bot branch.
    pub head: &'a str,
    /// The git remote a person fetches from.
    pub remote: &'a str,
    pub conflicts: &'a [String],
}

#[derive(Serialize)]
struct Ctx<'a> {
    marker: String,
    source: String,
    branch: &'a str,
    kube: &'a str,
    tip: String,
    rendered: &'a [Rerender],
    head: &'a str,
    remote: &'a str,
    commit: &'a str,
    merge: bool,
    conflicts: &'a [String],
}

/// `[release-1.31] <source PR title, or the commit's subject>`.
pub fn backport_title(branch: &str, subject: &str) -> String {
    format!("[{branch}] {subject}")
}

/// The body of a backport PR whose sources picked cleanly.
pub fn backport_body(b: &BackportBody<'_>) -> Result<String, TemplateError> {
    let ctx = Ctx {
        rendered: b.rendered,
        ..Ctx::new(b.commit, b.source_pr, b.branch, b.kube, b.tip)
    };
    Ok(fit(render("backport-pr.md", &ctx)?, BODY_LIMIT))
}

/// The body of a draft backport PR with conflicts, with the steps to finish it by hand.
pub fn conflict_body(b: &ConflictBody<'_>) -> Result<String, TemplateError> {
    let ctx = Ctx {
        head: b.head,
        remote: b.remote,
        merge: b.merge,
        conflicts: b.conflicts,
        ..Ctx::new(b.commit, b.source_pr, b.branch, b.kube, b.tip)
    };
    Ok(fit(render("backport-conflict.md", &ctx)?, BODY_LIMIT))
}

impl<'a> Ctx<'a> {
    /// What both bodies say: which change, where, on what.
    fn new(commit: &'a str, pr: Option<u64>, branch: &'a str, kube: &'a str, tip: &str) -> Self {
        Ctx {
            marker: marker("backport", &[("commit", commit), ("branch", branch)]),
            source: match pr {
                Some(n) => format!("#{n} ({commit:.12})"),
                None => format!("commit {commit:.12}"),
            },
            branch,
            kube,
            tip: format!("{tip:.12}"),
            rendered: &[],
            head: "",
            remote: "",
            commit,
            merge: false,
            conflicts: &[],
        }
    }
}

/// One branch's line in the summary comment.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    pub branch: String,
    /// `#12`, `skipped: …`, ….
    pub what: String,
}

/// The marker of the summary comment for `commit` (to find it again).
pub fn summary_marker(commit: &str) -> String {
    marker("backport-summary", &[("commit", commit)])
}

/// The one comment on the source PR saying where the change went and where not.
pub fn summary_comment(commit: &str, rows: &[SummaryRow]) -> Result<String, TemplateError> {
    #[derive(Serialize)]
    struct Ctx<'a> {
        marker: String,
        commit: String,
        rows: &'a [SummaryRow],
    }
    let ctx = Ctx {
        marker: summary_marker(commit),
        commit: format!("{commit:.12}"),
        rows,
    };
    Ok(fit(render("backport-summary.md", &ctx)?, BODY_LIMIT))
}
