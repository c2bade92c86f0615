//! `ake-bot sync`: the upgrade plan and PR bodies.

use crate::cli::{GlobalArgs, OutputFormat, SyncArgs};
use crate::output::Printer;
use crate::train::publish::{self, PrOutcome, PrPlan};
use crate::train::sync::{self, Action, SyncPlan, SyncRequest};
use crate::ExitStatus;

pub async fn run(global: &GlobalArgs, args: &SyncArgs, out: &mut Printer) -> ExitStatus {
    if !args.dry_run {
        return publish(global, args, out).await;
    }
    let req = SyncRequest {
        repo: global.repo.clone(),
        addons: args.addons.clone(),
        branches: args.branches.clone(),
        cache_dir: super::cache_dir(global),
        main_ref: None,
        schemas: global.schemas.clone(),
    };
    let mut plan = match sync::plan(&req).await {
        Ok(p) => p,
        Err(e) => {
            out.error(&e.to_string());
            return ExitStatus::Error;
        }
    };
    let g = &args.github;
    let with_prs = match (&g.github_repository, &g.github_token) {
        (Some(repository), Some(token)) => {
            if let Err(e) = publish::annotate_prs(
                &mut plan,
                &g.github_api_url,
                repository,
                token,
                &g.branch_prefix,
            )
            .await
            {
                out.error(&e.to_string());
                return ExitStatus::Error;
            }
            true
        }
        _ => false,
    };
    match global.output {
        OutputFormat::Json => out.json(&plan.entries),
        OutputFormat::Text | OutputFormat::Markdown => print_text(&plan, with_prs, out),
    }
    for p in &plan.problems {
        out.error(&p.to_string());
    }
    if plan.problems.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}

fn print_text(plan: &SyncPlan, with_prs: bool, out: &mut Printer) {
    out.line("Plan (dry run: nothing is pushed, no pull request is opened)");
    if !with_prs {
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
        out.line(&format!(
            "  {:<24} {:<14} k8s {:<5} {what}",
            e.addon.as_str(),
            e.branch.as_str(),
            e.kubernetes
        ));
        for s in &e.skipped {
            out.line(&format!(
                "  {:<24} {:<14} {:<9} skipped {}: {}",
                "", "", "", s.version, s.reason
            ));
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
            out.line(&format!("  {:<24} {:<14} {:<9} → {what}", "", "", ""));
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
    out.line("");
    out.line(&format!(
        "{} update(s), {} up to date, {} blocked, {} problem(s)",
        updates.len(),
        plan.entries.len() - updates.len() - blocked,
        blocked,
        plan.problems.len()
    ));
    for e in updates {
        out.line("");
        out.line(&format!(
            "━━━━ Pull request for {} on {} ━━━━",
            e.addon, e.branch
        ));
        out.line(&format!(
            "title:  {}",
            e.title.as_deref().unwrap_or_default()
        ));
        out.line(&format!("labels: {}", e.labels.join(", ")));
        out.line("");
        out.line(e.body.as_deref().unwrap_or_default());
    }
}

async fn publish(global: &GlobalArgs, args: &SyncArgs, out: &mut Printer) -> ExitStatus {
    let g = &args.github;
    let settings = match super::github_settings(g, "sync") {
        Ok(s) => s,
        Err(e) => {
            out.error(&e);
            return ExitStatus::Error;
        }
    };
    if !args.branches.is_empty() && args.branches.iter().any(|b| b != "main") {
        out.error("sync opens pull requests against main only; --branch applies to --dry-run");
        return ExitStatus::Error;
    }
    let req = SyncRequest {
        repo: global.repo.clone(),
        addons: args.addons.clone(),
        branches: Vec::new(),
        cache_dir: super::cache_dir(global),
        main_ref: None,
        schemas: global.schemas.clone(),
    };
    let (plan, results) = match publish::publish(&req, &settings).await {
        Ok(r) => r,
        Err(e) => {
            out.error(&e.to_string());
            return ExitStatus::Error;
        }
    };
    match global.output {
        OutputFormat::Json => out.json(&results),
        OutputFormat::Text | OutputFormat::Markdown => {
            for r in &results {
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
                out.line(&format!("{:<24} {what}{pushed}", r.addon));
            }
        }
    }
    let mut failed = !plan.problems.is_empty();
    for p in &plan.problems {
        out.error(&p.to_string());
    }
    for r in &results {
        if let PrOutcome::Failed { message } = &r.outcome {
            out.error(&format!("{} on main: {message}", r.addon));
            failed = true;
        }
    }
    if failed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}
