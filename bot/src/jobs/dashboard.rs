//! The release-train dashboard: one GitHub issue (in the spirit of Renovate's Dependency
//! Dashboard) that `sync` creates once and edits in place. It shows each branch (minor,
//! status, last tag and commits since, validation), an addon × branch table (pinned → newest
//! admissible, the open PR, direct or via main or backport, conflicts), why nothing newer is
//! taken, and the problems of the run. Checkboxes let a person ask for something on the next
//! run; a ticked box is read back, acted on and cleared.
//!
//! The body holds no clock: the same state writes the same text, so a run with nothing new
//! writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::pr::{PrOutcome, PrPlan};
use super::sync::{Action, AddonResult, PlanEntry, Route, SyncPlan};
use super::JobError;
use crate::config::TrainBranch;
use crate::forge::{ForgeError, GitHub, IssueSummary, PullState, PullSummary};
use crate::report::{self, TemplateError};
use crate::workspace::{blocking, Origin, Workspace};

/// The label the dashboard issue carries (how it is found again).
pub const LABEL: &str = "ake-bot-dashboard";
/// Its title when created (a person may rename it).
pub const TITLE: &str = "Release-train dashboard";
/// The label of a backport PR whose cherry-pick conflicted.
const CONFLICT_LABEL: &str = "backport-conflict";

/// What a person can ask for by ticking a box.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Ask {
    /// Open the PR for a held-back update now (the branch's `updates` policy lifted for it),
    /// or propose again one a person closed.
    Approve { addon: String, branch: String },
    /// Run a failed addon again.
    Retry { addon: String, branch: String },
}

impl Ask {
    /// The token hidden in the box's line: `approve:<addon>@<branch>`.
    fn key(&self) -> String {
        match self {
            Ask::Approve { addon, branch } => format!("approve:{addon}@{branch}"),
            Ask::Retry { addon, branch } => format!("retry:{addon}@{branch}"),
        }
    }

    fn parse(key: &str) -> Option<Ask> {
        let (kind, rest) = key.split_once(':')?;
        let (addon, branch) = rest.split_once('@')?;
        let (addon, branch) = (addon.to_string(), branch.to_string());
        if addon.is_empty() || branch.is_empty() {
            return None;
        }
        match kind {
            "approve" => Some(Ask::Approve { addon, branch }),
            "retry" => Some(Ask::Retry { addon, branch }),
            _ => None,
        }
    }

    pub fn addon(&self) -> &str {
        match self {
            Ask::Approve { addon, .. } | Ask::Retry { addon, .. } => addon,
        }
    }

    pub fn branch(&self) -> &str {
        match self {
            Ask::Approve { branch, .. } | Ask::Retry { branch, .. } => branch,
        }
    }
}

const TICK_OPEN: &str = "<!-- ake-bot-tick ";

/// The boxes ticked in `body` (`- [x] <!-- ake-bot-tick approve:a@b --> …`), each once.
pub fn ticked(body: &str) -> Vec<Ask> {
    let mut out = BTreeSet::new();
    for line in body.lines() {
        let l = line.trim_start();
        let Some(rest) = l
            .strip_prefix("- [x]")
            .or_else(|| l.strip_prefix("- [X]"))
            .or_else(|| l.strip_prefix("* [x]"))
            .or_else(|| l.strip_prefix("* [X]"))
        else {
            continue;
        };
        let Some(start) = rest.find(TICK_OPEN) else {
            continue;
        };
        let rest = &rest[start + TICK_OPEN.len()..];
        if let Some(ask) = rest
            .split_once(" -->")
            .and_then(|(k, _)| Ask::parse(k.trim()))
        {
            out.insert(ask);
        }
    }
    out.into_iter().collect()
}

/// The dashboard issue as GitHub has it.
#[derive(Debug, Clone)]
pub struct Existing {
    pub number: u64,
    pub body: String,
    pub open: bool,
}

/// Find the dashboard: the oldest open issue labelled [`LABEL`] that carries the dashboard
/// marker, else the newest closed one (reopened when written: never a second dashboard).
pub async fn find(forge: &GitHub) -> Result<Option<Existing>, ForgeError> {
    let issues: Vec<IssueSummary> = forge
        .issues_labelled(LABEL)
        .await?
        .into_iter()
        .filter(|i| report::marker_field(&i.body, "kind").as_deref() == Some("dashboard"))
        .collect();
    let pick = issues
        .iter()
        .find(|i| i.state == PullState::Open)
        .or_else(|| issues.iter().rev().find(|i| i.state == PullState::Closed));
    Ok(pick.map(|i| Existing {
        number: i.number,
        body: i.body.clone(),
        open: i.state == PullState::Open,
    }))
}

/// What writing the dashboard did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Written {
    Created { number: u64 },
    Updated { number: u64 },
    Unchanged { number: u64 },
}

/// Make the dashboard say `body`: create it, rewrite it (reopening a closed one), or, when it
/// already says exactly that, write nothing.
pub async fn publish(
    forge: &GitHub,
    existing: Option<&Existing>,
    body: &str,
) -> Result<Written, ForgeError> {
    match existing {
        Some(e) if e.open && e.body == body => Ok(Written::Unchanged { number: e.number }),
        Some(e) => {
            forge.update_issue(e.number, body, !e.open).await?;
            Ok(Written::Updated { number: e.number })
        }
        None => {
            let issue = forge
                .create_issue(TITLE, body, &[LABEL.to_string()])
                .await?;
            Ok(Written::Created {
                number: issue.number,
            })
        }
    }
}

/// (addon, branch) pairs approved by label: open bot PRs `<prefix><branch>/<addon>` (or
/// `<prefix><addon>` on main) labelled `dashboard-approved`. The approval lasts while the PR
/// is open.
pub fn approved_by_label(
    branches: &[TrainBranch],
    prefix: &str,
    open: &[PullSummary],
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for p in open
        .iter()
        .filter(|p| p.labels.iter().any(|l| l == super::sync::APPROVED_LABEL))
    {
        let Some(rest) = p.head.strip_prefix(prefix) else {
            continue;
        };
        let on_release = branches.iter().find_map(|b| {
            rest.strip_prefix(&format!("{}/", b.name))
                .map(|addon| (addon.to_string(), b.name.to_string()))
        });
        match on_release {
            Some(pair) => out.insert(pair),
            None if !rest.contains('/') => out.insert((rest.to_string(), "main".to_string())),
            None => false,
        };
    }
    out
}

/// One branch's line.
#[derive(Debug, Clone, Serialize)]
pub struct BranchState {
    pub name: String,
    pub kubernetes: String,
    pub status: String,
    pub last_tag: Option<String>,
    /// Commits on the branch since its last tag (all of them when it has none).
    pub commits_since: Option<usize>,
    /// `validate` on the branch's committed renders, in words.
    pub validation: String,
}

/// Each branch's line: tags and commits from git, validation from [`super::validate`].
pub async fn branch_states(ws: &Workspace, branches: &[TrainBranch]) -> Vec<BranchState> {
    let mut out = Vec::new();
    for b in branches {
        let (repo, train, branch, rev) = (
            ws.repo().to_path_buf(),
            ws.train.clone(),
            b.clone(),
            ws.remote_ref(b.name.as_str()),
        );
        let tags = blocking(move || {
            let tag = super::release::latest_tag(&repo, &train, &branch)?;
            Ok((tag.clone(), commits_since(&repo, tag.as_deref(), &rev)))
        })
        .await;
        let (last_tag, commits_since) = tags.unwrap_or((None, None));
        let validation = validation_cell(ws, b).await;
        out.push(BranchState {
            name: b.name.to_string(),
            kubernetes: b.kubernetes.to_string(),
            status: b.status.to_string(),
            last_tag,
            commits_since,
            validation,
        });
    }
    out
}

/// `validate` on the branch, in words; from the render cache while nothing validation reads
/// has changed (a warm tick validates no branch again).
async fn validation_cell(ws: &Workspace, b: &TrainBranch) -> String {
    let key = match ws.branch_files(b).await {
        Ok(f) if f.origin != Origin::NotCut => {
            let mut k = crate::render::cache::KeyBuilder::new("branch-validation");
            k.part(format!("{b:?}"))
                .part(format!("{:?}", f.bundles.problems))
                .part(ws.schemas().map(|s| s.identity()).unwrap_or_default())
                .branch_files(&f.bundles.loaded, &f.bundles.policies);
            Some(k.finish())
        }
        _ => None,
    };
    let cache = ws.render_cache().clone();
    if let Some(k) = key.clone() {
        let c = cache.clone();
        if let Ok(Some(words)) = blocking(move || Ok(c.note(&k))).await {
            return words;
        }
    }
    let req = super::validate::ValidateRequest {
        branches: vec![b.name.to_string()],
        all: false,
    };
    match super::validate::validate(ws, &req).await {
        Ok(reports) => match reports.first() {
            Some(r) => {
                let words = validation_words(r);
                // Schemas that could not be fetched this time: not an answer to keep.
                let complete = !r.findings.iter().any(|f| {
                    f.check == crate::validate::Check::Schemas
                        && f.severity == crate::validate::Severity::Error
                });
                if let (Some(k), true) = (key, complete) {
                    let w = words.clone();
                    let _ = blocking(move || {
                        cache.put_note(&k, &w);
                        Ok(())
                    })
                    .await;
                }
                words
            }
            None => "not checked".to_string(),
        },
        Err(e) => format!("not checked: {e}"),
    }
}

/// A branch's `validate` report in a table cell, policy violations and accepted exemptions
/// named apart (they are what admission on the tenants' clusters would refuse).
fn validation_words(r: &super::validate::BranchReport) -> String {
    use crate::validate::{Check, Severity};
    if r.from.is_none() {
        return "not cut yet".to_string();
    }
    let denied = r
        .findings
        .iter()
        .filter(|f| f.check == Check::Policy && f.severity == Severity::Error)
        .count();
    let mut words = if r.errors > 0 {
        format!("❌ {} error(s), {} warning(s)", r.errors, r.warnings)
    } else if r.warnings > 0 {
        format!("✅ passes, {} warning(s)", r.warnings)
    } else {
        "✅ passes".to_string()
    };
    if denied > 0 {
        words.push_str(&format!("; {denied} policy violation(s)"));
    }
    if !r.exemptions.is_empty() {
        words.push_str(&format!("; {} policy exemption(s)", r.exemptions.len()));
    }
    words
}

/// Commits reachable from `rev` but not from `tag` (`None`: `rev` is not there).
fn commits_since(repo: &std::path::Path, tag: Option<&str>, rev: &str) -> Option<usize> {
    let r = git2::Repository::open(repo).ok()?;
    let tip = r.revparse_single(rev).ok()?.peel_to_commit().ok()?;
    let mut walk = r.revwalk().ok()?;
    walk.push(tip.id()).ok()?;
    if let Some(t) = tag {
        let tagged = r
            .revparse_single(&format!("refs/tags/{t}"))
            .ok()?
            .peel_to_commit()
            .ok()?;
        walk.hide(tagged.id()).ok()?;
    }
    Some(walk.count())
}

/// Everything the body is built from.
pub struct Inputs<'a> {
    pub branches: &'a [BranchState],
    pub plan: &'a SyncPlan,
    /// What the run did (`None`: a dry run).
    pub results: Option<&'a [AddonResult]>,
    /// Every open PR of the repository (backports are found among them).
    pub open: &'a [PullSummary],
    pub prefix: &'a str,
    /// Problems of the run beyond the plan's (failed PR writes).
    pub failures: &'a [super::Problem],
    /// Boxes that were ticked but could not be acted on: they stay ticked.
    pub still_ticked: &'a [Ask],
}

#[derive(Serialize)]
struct Ctx {
    marker: String,
    branches: Vec<BranchState>,
    columns: Vec<String>,
    rows: Vec<Row>,
    held: Vec<Line>,
    problems: Vec<Line>,
    generated_by: &'static str,
}

#[derive(Serialize)]
struct Row {
    addon: String,
    cells: Vec<String>,
}

/// A list line, with a checkbox when `tick` is set.
#[derive(Serialize)]
struct Line {
    tick: Option<String>,
    checked: bool,
    text: String,
}

/// The dashboard's body, cut honestly to GitHub's limit.
pub fn body(i: &Inputs<'_>) -> Result<String, TemplateError> {
    let columns: Vec<String> = i
        .branches
        .iter()
        .map(|b| format!("{} ({})", b.name, b.kubernetes))
        .collect();
    let mut addons: BTreeSet<String> = i.plan.entries.iter().map(|e| e.addon.to_string()).collect();
    addons.extend(i.plan.problems.iter().filter_map(|p| p.addon.clone()));
    let entry = |addon: &str, branch: &str| {
        i.plan
            .entries
            .iter()
            .find(|e| e.addon.as_str() == addon && e.branch.as_str() == branch)
    };
    let rows = addons
        .iter()
        .map(|a| Row {
            addon: a.clone(),
            cells: i
                .branches
                .iter()
                .map(|b| cell(i, a, &b.name, entry(a, &b.name)))
                .collect(),
        })
        .collect();

    let still: BTreeSet<String> = i.still_ticked.iter().map(Ask::key).collect();
    let line = |ask: Option<Ask>, text: String| {
        let tick = ask.map(|a| a.key());
        Line {
            checked: tick.as_ref().is_some_and(|t| still.contains(t)),
            tick,
            text,
        }
    };
    let mut held = Vec::new();
    for e in &i.plan.entries {
        let approve = Ask::Approve {
            addon: e.addon.to_string(),
            branch: e.branch.to_string(),
        };
        if let Some(v) = &e.held {
            let policy = e
                .skipped
                .iter()
                .find(|s| &s.version == v)
                .map(|s| s.reason.to_string())
                .unwrap_or_default();
            held.push(line(
                Some(approve),
                format!(
                    "**{}** on `{}`: open the pull request for {v} now (held back: {policy})",
                    e.addon, e.branch
                ),
            ));
            continue;
        }
        if let Some(PrPlan::Skip { reason }) = &e.pr {
            held.push(line(
                Some(approve),
                format!(
                    "**{}** on `{}`: propose {} again ({reason})",
                    e.addon,
                    e.branch,
                    e.target.as_deref().unwrap_or("the update")
                ),
            ));
            continue;
        }
        if let Some(s) = e.skipped.first() {
            held.push(line(
                None,
                format!(
                    "**{}** on `{}`: {} not taken: {}",
                    e.addon, e.branch, s.version, s.reason
                ),
            ));
        }
    }
    let mut problems = Vec::new();
    for p in i.plan.problems.iter().chain(i.failures) {
        let retry = match (&p.addon, &p.branch) {
            (Some(addon), Some(branch)) => Some(Ask::Retry {
                addon: addon.clone(),
                branch: branch.clone(),
            }),
            _ => None,
        };
        let place = match (&p.addon, &p.branch) {
            (Some(a), Some(b)) => format!("**{a}** on `{b}`: "),
            (Some(a), None) => format!("**{a}**: "),
            (None, Some(b)) => format!("`{b}`: "),
            (None, None) => String::new(),
        };
        let mut text = format!("{place}{}", one_line(&p.cause));
        if retry.is_some() {
            text.push_str(" — retry");
        }
        problems.push(line(retry, text));
    }
    let ctx = Ctx {
        marker: report::marker("dashboard", &[]),
        branches: i.branches.to_vec(),
        columns,
        rows,
        held,
        problems,
        generated_by: "ake-bot sync",
    };
    Ok(cut(report::render("dashboard.md", &ctx)?))
}

/// The addon × branch cell: pinned (→ newest admissible), and the PR that carries it.
fn cell(i: &Inputs<'_>, addon: &str, branch: &str, e: Option<&PlanEntry>) -> String {
    let Some(e) = e else {
        let failed = i
            .plan
            .problems
            .iter()
            .chain(i.failures)
            .any(|p| p.addon.as_deref() == Some(addon) && p.branch.as_deref() == Some(branch));
        return if failed {
            "⚠️ failed".into()
        } else {
            "—".into()
        };
    };
    let mut out = match &e.action {
        Action::Update => format!("{} → {}", e.current, e.target.as_deref().unwrap_or("?")),
        Action::UpToDate => e.current.clone(),
        Action::Blocked { .. } => format!("⛔ {} blocked", e.current),
    };
    match (&e.route, pr_ref(i, e)) {
        (Some(Route::ViaMain), _) => {
            let main = i
                .plan
                .entries
                .iter()
                .find(|m| m.addon == e.addon && m.branch.as_str() == "main");
            match main.and_then(|m| pr_ref(i, m)) {
                Some(n) => out.push_str(&format!(" via main's {n}")),
                None => out.push_str(" via main (backport)"),
            }
        }
        (_, Some(n)) => out.push_str(&format!(" {n}")),
        _ => {}
    }
    if matches!(e.pr, Some(PrPlan::Skip { .. })) {
        out.push_str(" (declined)");
    }
    for p in backports(i, addon, branch) {
        if p.labels.iter().any(|l| l == CONFLICT_LABEL) {
            out.push_str(&format!(" · ⚠️ backport conflict #{}", p.number));
        } else {
            out.push_str(&format!(" · backport #{}", p.number));
        }
    }
    if e.origin == Origin::NotCut {
        out.push_str(" (not cut)");
    }
    out
}

/// `#12`, or `(new PR)` in a dry run that would open one.
fn pr_ref(i: &Inputs<'_>, e: &PlanEntry) -> Option<String> {
    if let Some(results) = i.results {
        return results
            .iter()
            .find(|r| r.addon == e.addon.as_str() && r.target_branch == e.branch.as_str())
            .and_then(|r| match &r.outcome {
                PrOutcome::Closed { .. } => None,
                o => o.number(),
            })
            .map(|n| format!("#{n}"));
    }
    match &e.pr {
        Some(PrPlan::Keep { number } | PrPlan::Update { number }) => Some(format!("#{number}")),
        Some(PrPlan::Open) => Some("(new PR)".into()),
        _ => None,
    }
}

/// Open backport PRs onto `branch` whose marker names `addon`.
fn backports<'a>(i: &'a Inputs<'_>, addon: &str, branch: &str) -> Vec<&'a PullSummary> {
    let prefix = format!("{}backport/{branch}/", i.prefix);
    i.open
        .iter()
        .filter(|p| p.state == PullState::Open && p.head.starts_with(&prefix))
        .filter(|p| {
            report::marker_field(&p.body, "addons")
                .is_some_and(|a| a.split(',').any(|x| x == addon))
        })
        .collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text`, or, over GitHub's limit, cut at a line with a note saying how much is missing and
/// where to see all of it.
fn cut(text: String) -> String {
    let budget = report::budget(report::BODY_LIMIT);
    if text.chars().count() <= budget {
        return text;
    }
    let total = text.lines().count();
    let note_room = 300;
    let mut out = String::new();
    let mut used = 0;
    let mut kept = 0;
    for line in text.lines() {
        let n = line.chars().count() + 1;
        if used + n > budget - note_room {
            break;
        }
        out.push_str(line);
        out.push('\n');
        used += n;
        kept += 1;
    }
    out.push_str(&format!(
        "\n> [!NOTE]\n> This dashboard is cut to fit GitHub's limit of {} characters: {} of {total} lines are shown. `ake-bot sync --dry-run` prints all of it.\n",
        report::BODY_LIMIT,
        kept
    ));
    out
}

/// After sharded legs acted (`sync --dashboard-only`): the approvals whose PR does not yet say
/// what the plan wants (a leg failed, or has not run) stay ticked.
pub fn unmet_after_legs(asks: &[Ask], plan: &SyncPlan) -> Vec<Ask> {
    asks.iter()
        .filter(|a| match a {
            Ask::Approve { addon, branch } => plan.entries.iter().any(|e| {
                e.addon.as_str() == addon
                    && e.branch.as_str() == branch
                    && !matches!(e.pr, Some(PrPlan::Keep { .. }))
            }),
            Ask::Retry { .. } => false,
        })
        .cloned()
        .collect()
}

/// The asks a run could not act on: approvals whose PR did not come about.
pub fn unmet(asks: &[Ask], plan: &SyncPlan, results: &[AddonResult]) -> Vec<Ask> {
    let done: BTreeMap<(&str, &str), &PrOutcome> = results
        .iter()
        .map(|r| ((r.addon.as_str(), r.target_branch.as_str()), &r.outcome))
        .collect();
    asks.iter()
        .filter(|a| match a {
            Ask::Approve { addon, branch } => {
                let planned = plan
                    .entries
                    .iter()
                    .any(|e| e.addon.as_str() == addon && e.branch.as_str() == branch);
                planned
                    && !matches!(
                        done.get(&(addon.as_str(), branch.as_str())),
                        Some(
                            PrOutcome::Opened { .. }
                                | PrOutcome::Updated { .. }
                                | PrOutcome::Unchanged { .. }
                        )
                    )
            }
            Ask::Retry { .. } => false,
        })
        .cloned()
        .collect()
}

/// A failure to read or write the dashboard, as a job error.
pub fn forge_error(e: ForgeError) -> JobError {
    JobError::Forge(format!("the release-train dashboard: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validation_cell_names_policy_violations_and_exemptions_apart() {
        use crate::validate::{Check, Exemption, Finding, Severity};
        let finding = |severity, check| Finding {
            severity,
            check,
            bundle: Some("argo-cd".into()),
            file: None,
            doc: None,
            line: None,
            object: None,
            message: String::new(),
        };
        let mut r = super::super::validate::BranchReport {
            branch: "main".into(),
            kubernetes: "1.33".into(),
            from: Some("work tree".into()),
            bundles: 4,
            objects: 242,
            errors: 2,
            warnings: 1,
            findings: vec![
                finding(Severity::Error, Check::Policy),
                finding(Severity::Error, Check::Schema),
                finding(Severity::Warning, Check::Policy),
            ],
            exemptions: vec![Exemption {
                bundle: "kube-prometheus-stack".into(),
                constraint: "K8sPSPHostNetworkingPorts/no-host-network".into(),
                object: "DaemonSet monitoring/node-exporter".into(),
                reason: "node metrics".into(),
                by: "bundle.yaml".into(),
                message: String::new(),
            }],
        };
        assert_eq!(
            validation_words(&r),
            "❌ 2 error(s), 1 warning(s); 1 policy violation(s); 1 policy exemption(s)"
        );
        r.findings.clear();
        r.exemptions.clear();
        r.errors = 0;
        r.warnings = 0;
        assert_eq!(validation_words(&r), "✅ passes");
        r.from = None;
        assert_eq!(validation_words(&r), "not cut yet");
    }

    #[test]
    fn ticked_boxes_are_read_back_and_unticked_or_foreign_ones_are_not() {
        let body = "\
- [x] <!-- ake-bot-tick approve:cert-manager@release-1.24 --> **cert-manager** …
- [ ] <!-- ake-bot-tick approve:argo-cd@release-1.24 --> **argo-cd** …
  - [X] <!-- ake-bot-tick retry:kps@main --> retry
- [x] a person's own box
- [x] <!-- ake-bot-tick explode:a@b --> unknown kind
- [x] <!-- ake-bot-tick approve:cert-manager@release-1.24 --> twice
";
        assert_eq!(
            ticked(body),
            vec![
                Ask::Approve {
                    addon: "cert-manager".into(),
                    branch: "release-1.24".into()
                },
                Ask::Retry {
                    addon: "kps".into(),
                    branch: "main".into()
                },
            ]
        );
    }

    #[test]
    fn a_body_over_the_limit_is_cut_at_a_line_and_says_so() {
        let long: String = (0..20_000).map(|i| format!("| row {i} |\n")).collect();
        let out = cut(long);
        assert!(out.chars().count() <= report::budget(report::BODY_LIMIT));
        assert!(
            out.contains("of 20000 lines are shown"),
            "{}",
            &out[out.len() - 300..]
        );
        let before_note = out.split("\n> [!NOTE]").next().unwrap_or_default();
        assert!(before_note
            .lines()
            .all(|l| l.starts_with("| row ") && l.ends_with(" |")));
    }
}
