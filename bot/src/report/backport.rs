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
    /// Addons whose sources the change touches (the marker says so, for the dashboard).
    pub addons: &'a [String],
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
    pub addons: &'a [String],
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
        ..Ctx::new(b.commit, b.source_pr, b.branch, b.kube, b.tip, b.addons)
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
        ..Ctx::new(b.commit, b.source_pr, b.branch, b.kube, b.tip, b.addons)
    };
    Ok(fit(render("backport-conflict.md", &ctx)?, BODY_LIMIT))
}

impl<'a> Ctx<'a> {
    /// What both bodies say: which change, where, on what.
    fn new(
        commit: &'a str,
        pr: Option<u64>,
        branch: &'a str,
        kube: &'a str,
        tip: &str,
        addons: &[String],
    ) -> Self {
        let addons = addons.join(",");
        Ctx {
            marker: marker(
                "backport",
                &[("commit", commit), ("branch", branch), ("addons", &addons)],
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    const TIP: &str = "fedcba9876543210fedcba9876543210fedcba98";

    #[test]
    fn a_clean_backport_lists_each_rerendered_bundle_with_its_validation() {
        let rendered = [
            Rerender {
                addon: "cert-manager".into(),
                from: Some("v1.14.7".into()),
                to: Some("v1.15.5".into()),
                summary: vec![
                    "0 added, 0 removed, 49 changed objects".into(),
                    "image `Deployment cert-manager/cert-manager` controller: a:v1 → a:v2".into(),
                ],
                validation: Some(Verdict {
                    branch: "release-1.31".into(),
                    kubernetes: "1.31".into(),
                    errors: 1,
                    warnings: 0,
                    schemas: true,
                    incomplete: false,
                    lines: vec!["**error** `Deployment x/y`: /spec/replicas: \"2\" is not of type \"integer\"".into()],
                    more: 0,
                    labels: vec!["validation-failed".into()],
                    exemptions: Vec::new(),
                }),
            },
            Rerender {
                addon: "argo-cd".into(),
                from: Some("7.8.27".into()),
                to: None,
                summary: Vec::new(),
                validation: None,
            },
        ];
        let body = backport_body(&BackportBody {
            commit: SHA,
            source_pr: Some(12),
            branch: "release-1.31",
            kube: "1.31",
            tip: TIP,
            rendered: &rendered,
            addons: &["argo-cd".into(), "cert-manager".into()],
        })
        .expect("renders");
        insta::assert_snapshot!(body, @r#"
        <!-- ake-bot: {"kind":"backport","commit":"0123456789abcdef0123456789abcdef01234567","branch":"release-1.31","addons":"argo-cd,cert-manager"} -->
        ## Backport of #12 (0123456789ab) to `release-1.31` (Kubernetes 1.31)

        The change's source files were cherry-picked and the touched bundles re-rendered for this branch's Kubernetes minor.

        - **cert-manager** v1.14.7 → v1.15.5
          - 0 added, 0 removed, 49 changed objects
          - image `Deployment cert-manager/cert-manager` controller: a:v1 → a:v2
          - validate on Kubernetes 1.31: **1 error(s), 0 warning(s)**
            - **error** `Deployment x/y`: /spec/replicas: "2" is not of type "integer"

        - **argo-cd** 7.8.27 → (removed)

        <sub>Base: `release-1.31` at fedcba987654. Opened by ake-bot backport.</sub>
        "#);
    }

    #[test]
    fn a_conflict_of_a_merge_commit_says_to_pick_its_first_parent() {
        let body = conflict_body(&ConflictBody {
            commit: SHA,
            merge: true,
            source_pr: None,
            branch: "release-1.31",
            kube: "1.31",
            tip: TIP,
            head: "ake-bot/backport/release-1.31/0123456789ab",
            remote: "origin",
            conflicts: &["bundles/a/values.yaml.j2".into()],
            addons: &["a".into()],
        })
        .expect("renders");
        assert!(
            body.contains("git cherry-pick -x -m 1 0123456789abcdef0123456789abcdef01234567\n"),
            "{body}"
        );
        assert!(
            body.contains("## Backport of commit 0123456789ab to"),
            "{body}"
        );
    }

    #[test]
    fn the_summary_comment_escapes_table_cells() {
        let rows = [SummaryRow {
            branch: "release-1.31".into(),
            what: "skipped: cap \"<1.16 || >2\"".into(),
        }];
        let text = summary_comment(SHA, &rows).expect("renders");
        insta::assert_snapshot!(text, @r#"
        <!-- ake-bot: {"kind":"backport-summary","commit":"0123456789abcdef0123456789abcdef01234567"} -->
        **Backports of 0123456789ab**

        | branch | |
        |---|---|
        | `release-1.31` | skipped: cap "<1.16 \|\| >2" |
        "#);
    }
}
