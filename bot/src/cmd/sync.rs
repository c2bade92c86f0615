//! `ake-bot sync`: the upgrade plan and PR bodies.

use crate::cli::{GlobalArgs, OutputFormat, SyncArgs};
use crate::output::Printer;
use crate::train::sync::{self, Action, SyncPlan, SyncRequest};
use crate::ExitStatus;

pub async fn run(global: &GlobalArgs, args: &SyncArgs, out: &mut Printer) -> ExitStatus {
    if !args.dry_run {
        out.error(
            "sync can only plan for now: pass --dry-run\n\
             opening pull requests on GitHub is not built yet",
        );
        return ExitStatus::Error;
    }
    let req = SyncRequest {
        repo: global.repo.clone(),
        addons: args.addons.clone(),
        branches: args.branches.clone(),
        cache_dir: super::cache_dir(global),
    };
    let plan = match sync::plan(&req).await {
        Ok(p) => p,
        Err(e) => {
            out.error(&e.to_string());
            return ExitStatus::Error;
        }
    };
    match global.output {
        OutputFormat::Json => out.json(&plan.entries),
        OutputFormat::Text => print_text(&plan, out),
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

fn print_text(plan: &SyncPlan, out: &mut Printer) {
    out.line("Plan (dry run: nothing is pushed, no pull request is opened)");
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
