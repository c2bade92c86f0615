//! `ake-bot backport`: merged changes on main → one PR per release branch they apply to.

use crate::cli::{BackportArgs, GlobalArgs, OutputFormat};
use crate::output::Printer;
use crate::train::backport::{self, BackportRequest, ChangeResult, Changes, Outcome, PrAction};
use crate::ExitStatus;

pub async fn run(global: &GlobalArgs, args: &BackportArgs, out: &mut Printer) -> ExitStatus {
    let g = &args.github;
    let settings = match super::github_settings(g, "backport") {
        Ok(s) => Some(s),
        Err(_) if args.dry_run => None,
        Err(e) => {
            out.error(&e);
            return ExitStatus::Error;
        }
    };
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
        repo: global.repo.clone(),
        cache_dir: super::cache_dir(global),
        changes,
        branches: args.branches.clone(),
        dry_run: args.dry_run,
        schemas: global.schemas.clone(),
    };
    let results = match backport::backport(&req, settings.as_ref(), None).await {
        Ok(r) => r,
        Err(e) => {
            out.error(&e.to_string());
            return ExitStatus::Error;
        }
    };
    match global.output {
        OutputFormat::Json => out.json(&results),
        OutputFormat::Text | OutputFormat::Markdown => {
            if settings.is_none() {
                out.line("(source PRs not read: labels such as no-backport and backport/<branch> are unknown; set GITHUB_REPOSITORY and GITHUB_TOKEN to see them)");
            }
            print_text(&results, args.dry_run, out)
        }
    }
    let mut status = ExitStatus::Success;
    for r in results.iter().filter(|r| r.failed()) {
        if let Some(e) = &r.error {
            out.error(&format!("{:.12}: {e}", r.commit));
        }
        for b in &r.branches {
            if let Outcome::Failed { message } = &b.outcome {
                out.error(&format!("{:.12} → {}: {message}", r.commit, b.branch));
            }
        }
        status = ExitStatus::Failure;
    }
    status
}

/// GitHub sends all zeros as `before` when a push created the branch.
fn is_zero_sha(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c == '0')
}

fn print_text(results: &[ChangeResult], dry_run: bool, out: &mut Printer) {
    if results.is_empty() {
        out.line("nothing to carry");
    }
    for r in results {
        let pr = r.source_pr.map_or(String::new(), |n| format!(" (#{n})"));
        out.line(&format!("━━━━ {:.12}{pr} {} ━━━━", r.commit, r.subject));
        if let Some(why) = &r.nothing_to_carry {
            out.line(&format!("  nothing to carry: {why}"));
        }
        for b in &r.branches {
            let what = match &b.outcome {
                Outcome::Pr { number, action } => match action {
                    PrAction::Opened => format!("opened #{number}"),
                    PrAction::Updated => format!("updated #{number}"),
                    PrAction::Unchanged => format!("#{number} is up to date"),
                },
                Outcome::Conflict { number, paths } => format!(
                    "CONFLICT in {}: draft {}",
                    paths.join(", "),
                    number.map_or("PR".to_string(), |n| format!("#{n}"))
                ),
                Outcome::Planned {
                    files,
                    conflicts,
                    existing,
                } => {
                    let verb = match existing {
                        Some(n) => format!("would refresh #{n}"),
                        None => "would open a PR".to_string(),
                    };
                    if conflicts.is_empty() {
                        format!("{verb} changing {}", files.join(", "))
                    } else {
                        format!("{verb} (draft) with conflicts in {}", conflicts.join(", "))
                    }
                }
                Outcome::Skipped { reason } => format!("skipped: {reason}"),
                Outcome::AlreadyApplied => "already has this change".into(),
                Outcome::Merged { number } => format!("merged in #{number}"),
                Outcome::Declined { number } => {
                    format!("#{number} was closed without merging; not reopened")
                }
                Outcome::HandedOver { number } => {
                    format!("#{number}: a person pushed to it; left alone")
                }
                Outcome::Failed { message } => format!("FAILED: {message}"),
            };
            out.line(&format!("  {:<16} {what}", b.branch));
        }
        if let Some(c) = &r.comment {
            if let Some(n) = r.source_pr {
                out.line(&format!("  summary comment on #{n}: {c}"));
            }
        }
    }
    if dry_run {
        out.line("(dry run: nothing pushed, nothing written to GitHub)");
    }
}
