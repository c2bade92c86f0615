//! `ake-bot backport`: merged changes on main → one PR per release branch they apply to.

use crate::cli::BackportArgs;
use crate::jobs::backport::{
    self, BackportPlan, BackportRequest, Carried, ChangeResult, Changes, Outcome, PrAction, Step,
};
use crate::jobs::{JobError, Problem};
use crate::output::{Reply, Text};
use crate::workspace::Settings;

pub async fn run(settings: Settings, args: &BackportArgs) -> Result<Reply, JobError> {
    if !args.dry_run {
        settings.github.require("backport")?;
    }
    let changes = if !args.commits.is_empty() {
        Changes::Commits(args.commits.clone())
    } else if !args.pulls.is_empty() {
        Changes::Pulls(args.pulls.clone())
    } else if let Some(s) = args.since.as_ref().filter(|s| !is_zero_sha(s)) {
        Changes::Since(s.clone())
    } else {
        // No `before` (a new branch's first push): the tip is the change.
        Changes::Tip
    };
    let req = BackportRequest {
        changes,
        branches: args.branches.clone(),
    };
    let ws = super::open(settings, super::remote_view(args.dry_run)).await?;
    let plan = backport::plan(&ws, &req).await?;
    if args.dry_run {
        let problems = plan_problems(&plan);
        return Ok(Reply::new("plan", &plan, plan_text(&plan)).with_problems(problems));
    }
    let results = backport::execute(&ws, &plan).await?;
    let problems = result_problems(&results);
    Ok(Reply::new("result", &results, result_text(&results)).with_problems(problems))
}

/// GitHub sends all zeros as `before` when a push created the branch.
fn is_zero_sha(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c == '0')
}

/// A change that could not be read, and every branch whose step failed.
fn problems<'a>(
    commit: &str,
    error: Option<&String>,
    steps: impl Iterator<Item = (&'a str, &'a Step)>,
) -> Vec<Problem> {
    let mut out: Vec<Problem> = error
        .map(|e| Problem::new(e.clone()).commit(commit))
        .into_iter()
        .collect();
    for (branch, step) in steps {
        if let Step::Failed { message } = step {
            out.push(Problem::new(message.clone()).commit(commit).branch(branch));
        }
    }
    out
}

fn plan_problems(plan: &BackportPlan) -> Vec<Problem> {
    plan.changes
        .iter()
        .flat_map(|c| {
            let steps = c.branches.iter().map(|b| (b.branch.as_str(), &b.step));
            problems(&c.commit, c.error.as_ref(), steps)
        })
        .collect()
}

fn result_problems(results: &[ChangeResult]) -> Vec<Problem> {
    results
        .iter()
        .flat_map(|r| {
            let steps = r.branches.iter().filter_map(|b| match &b.outcome {
                Outcome::Settled(step) => Some((b.branch.as_str(), step)),
                Outcome::Carried(_) => None,
            });
            problems(&r.commit, r.error.as_ref(), steps)
        })
        .collect()
}

/// `━━━━ <sha> (#n) <subject> ━━━━`, then one line per branch from `what`.
fn change_lines<'a>(
    out: &mut Text,
    commit: &str,
    source_pr: Option<u64>,
    subject: &str,
    nothing_to_carry: Option<&str>,
    branches: impl Iterator<Item = (&'a str, String)>,
) {
    let pr = source_pr.map_or(String::new(), |n| format!(" (#{n})"));
    out.line(format!("━━━━ {commit:.12}{pr} {subject} ━━━━"));
    if let Some(why) = nothing_to_carry {
        out.line(format!("  nothing to carry: {why}"));
    }
    for (branch, what) in branches {
        out.line(format!("  {branch:<16} {what}"));
    }
}

/// What a planned step means, for people.
fn step_text(step: &Step) -> String {
    match step {
        Step::Carry(carry) => {
            let verb = match carry.existing {
                Some(n) => format!("would refresh #{n}"),
                None => "would open a PR".to_string(),
            };
            if carry.conflicts.is_empty() {
                format!("{verb} changing {}", carry.files.join(", "))
            } else {
                format!(
                    "{verb} (draft) with conflicts in {}",
                    carry.conflicts.join(", ")
                )
            }
        }
        Step::Skip { reason } => format!("skipped: {reason}"),
        Step::AlreadyApplied => "already has this change".into(),
        Step::Merged { number } => format!("merged in #{number}"),
        Step::Declined { number } => format!("#{number} was closed without merging; not reopened"),
        Step::HandedOver { number } => format!("#{number}: a person pushed to it; left alone"),
        Step::Failed { message } => format!("FAILED: {message}"),
    }
}

fn plan_text(plan: &BackportPlan) -> String {
    let mut out = Text::default();
    if !plan.source_prs_read {
        out.line("(source PRs not read: labels such as no-backport and backport/<branch> are unknown; set GITHUB_REPOSITORY and GITHUB_TOKEN to see them)");
    }
    if plan.changes.is_empty() {
        out.line("nothing to carry");
    }
    for c in &plan.changes {
        let branches = c
            .branches
            .iter()
            .map(|b| (b.branch.as_str(), step_text(&b.step)));
        change_lines(
            &mut out,
            &c.commit,
            c.source_pr,
            &c.subject,
            c.nothing_to_carry.as_deref(),
            branches,
        );
    }
    out.line(super::DRY_RUN_NOTE);
    out.into_string()
}

fn result_text(results: &[ChangeResult]) -> String {
    let mut out = Text::default();
    if results.is_empty() {
        out.line("nothing to carry");
    }
    for r in results {
        let branches = r.branches.iter().map(|b| {
            let what = match &b.outcome {
                Outcome::Carried(Carried::Pr { number, action }) => match action {
                    PrAction::Opened => format!("opened #{number}"),
                    PrAction::Updated => format!("updated #{number}"),
                    PrAction::Unchanged => format!("#{number} is up to date"),
                },
                Outcome::Carried(Carried::Conflict { number, paths }) => {
                    format!("CONFLICT in {}: draft #{number}", paths.join(", "))
                }
                Outcome::Settled(step) => step_text(step),
            };
            (b.branch.as_str(), what)
        });
        change_lines(
            &mut out,
            &r.commit,
            r.source_pr,
            &r.subject,
            r.nothing_to_carry.as_deref(),
            branches,
        );
        if let (Some(c), Some(n)) = (&r.comment, r.source_pr) {
            out.line(format!("  summary comment on #{n}: {c}"));
        }
    }
    out.into_string()
}
