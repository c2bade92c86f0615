//! `ake-bot sync`: the upgrade plan and PR bodies (`--dry-run`), or the PRs on main.

use crate::cli::SyncArgs;
use crate::jobs::pr::{PrOutcome, PrPlan};
use crate::jobs::sync::{self, Action, AddonResult, Route, SyncPlan, SyncRequest};
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::workspace::{Settings, View};

pub async fn run(settings: Settings, args: &SyncArgs) -> Result<Reply, JobError> {
    let mut req = SyncRequest {
        addons: args.addons.clone(),
        branches: args.branches.clone(),
    };
    if args.dry_run {
        let ws = super::open(settings, View::Local).await?;
        let plan = sync::plan(&ws, &req).await?;
        let text = plan_text(&plan);
        return Ok(Reply::new("plan", &plan, text).with_problems(plan.problems));
    }
    settings.github.require("sync")?;
    let ws = super::open(settings, super::remote_view(false)).await?;
    // Every branch the run covers is planned from what the remote has now.
    let names: Vec<String> = ws
        .select_branches(&req.branches)?
        .iter()
        .map(|b| b.name.to_string())
        .collect();
    ws.fetch_branches(&names).await?;
    req.branches = names;
    let plan = sync::plan(&ws, &req).await?;
    let results = sync::execute(&ws, &plan).await?;
    let failed = results.iter().filter_map(|r| match &r.outcome {
        PrOutcome::Failed { message } => Some(
            crate::jobs::Problem::new(message.clone())
                .addon(&r.addon)
                .branch("main"),
        ),
        _ => None,
    });
    let problems: Vec<_> = plan.problems.iter().cloned().chain(failed).collect();
    Ok(Reply::new("result", &results, result_text(&results)).with_problems(problems))
}

fn plan_text(plan: &SyncPlan) -> String {
    let mut out = Text::default();
    out.line("Plan (dry run: nothing is pushed, no pull request is opened)");
    if !plan.prs_looked_up {
        out.line("(pull requests not looked up: set GITHUB_REPOSITORY and GITHUB_TOKEN to see what would happen to them)");
    }
    out.line("");
    for e in &plan.entries {
        let what = match &e.action {
            Action::Update => format!(
                "update {} → {}  (+{} −{} ~{} objects)",
                e.current,
                e.target.as_deref().unwrap_or("?"),
                e.added,
                e.removed,
                e.changed
            ),
            Action::UpToDate => format!("up to date at {}", e.current),
            Action::Blocked { reason } => format!("blocked: {reason}"),
        };
        out.line(format!(
            "  {:<24} {:<14} k8s {:<5} {what}",
            e.addon.as_str(),
            e.branch.as_str(),
            e.kubernetes
        ));
        for s in &e.skipped {
            out.line(format!(
                "  {:<24} {:<14} {:<9} skipped {}: {}",
                "", "", "", s.version, s.reason
            ));
        }
        match e.route {
            Some(Route::ViaMain) => out.line(format!(
                "  {:<24} {:<14} {:<9} → main's update carries it (backport once it merges)",
                "", "", ""
            )),
            Some(Route::Direct) => out.line(format!(
                "  {:<24} {:<14} {:<9} → a pull request onto {} (main's update does not fit it)",
                "", "", "", e.branch
            )),
            None => {}
        }
        if let Some(pr) = &e.pr {
            let what = match pr {
                PrPlan::Open => "would open a pull request".to_string(),
                PrPlan::Update { number } => format!("would update #{number}"),
                PrPlan::Keep { number } => format!("#{number} already says this"),
                PrPlan::Close { number, reason } => format!("would close #{number}: {reason}"),
                PrPlan::Skip { reason } => format!("no pull request: {reason}"),
                PrPlan::Nothing => "no pull request".to_string(),
            };
            out.line(format!("  {:<24} {:<14} {:<9} → {what}", "", "", ""));
        }
    }
    let updates: Vec<_> = plan
        .entries
        .iter()
        .filter(|e| e.action == Action::Update)
        .collect();
    let blocked = plan
        .entries
        .iter()
        .filter(|e| matches!(e.action, Action::Blocked { .. }))
        .count();
    let via_main = updates
        .iter()
        .filter(|e| e.route == Some(Route::ViaMain))
        .count();
    out.line("");
    out.line(format!(
        "{} update(s) ({} pull request(s), {via_main} carried by main's), {} up to date, {} blocked, {} problem(s)",
        updates.len(),
        updates.len() - via_main,
        plan.entries.len() - updates.len() - blocked,
        blocked,
        plan.problems.len()
    ));
    for e in updates.iter().filter(|e| e.route != Some(Route::ViaMain)) {
        out.line("");
        out.line(format!(
            "━━━━ Pull request for {} on {} ━━━━",
            e.addon, e.branch
        ));
        out.line(format!(
            "title:  {}",
            e.title.as_deref().unwrap_or_default()
        ));
        out.line(format!("labels: {}", e.labels.join(", ")));
        out.line("");
        out.line(e.body.as_deref().unwrap_or_default());
    }
    out.into_string()
}

fn result_text(results: &[AddonResult]) -> String {
    let mut out = Text::default();
    for r in results {
        let what = match &r.outcome {
            PrOutcome::Opened { number } => format!("opened #{number}"),
            PrOutcome::Updated { number } => format!("updated #{number}"),
            PrOutcome::Unchanged { number } => format!("#{number} is up to date"),
            PrOutcome::Closed { number } => format!("closed #{number}"),
            PrOutcome::Nothing => "nothing to do".into(),
            PrOutcome::Skipped { reason } => format!("skipped: {reason}"),
            PrOutcome::Failed { .. } => "failed".into(),
        };
        let pushed = if r.pushed {
            format!(", pushed {}", r.branch)
        } else {
            String::new()
        };
        out.line(format!(
            "{:<24} {:<14} {what}{pushed}",
            r.addon, r.target_branch
        ));
    }
    out.into_string()
}
