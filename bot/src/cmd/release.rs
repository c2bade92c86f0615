//! `ake-bot release`: the next tag and notes per branch.

use crate::cli::{GlobalArgs, OutputFormat, ReleaseArgs};
use crate::config;
use crate::output::Printer;
use crate::train::release;
use crate::ExitStatus;

pub async fn run(global: &GlobalArgs, args: &ReleaseArgs, out: &mut Printer) -> ExitStatus {
    if !args.dry_run {
        return execute(global, args, out).await;
    }
    let (repo, branches) = (global.repo.clone(), args.branches.clone());
    let result = tokio::task::spawn_blocking(move || {
        let train = config::load_train(&repo)?;
        for b in &branches {
            if train.branch(b).is_none() {
                return Err(crate::train::JobError::UnknownBranch {
                    name: b.clone(),
                    known: crate::train::branch_names(&train),
                });
            }
        }
        // Plan from what the remote has when there is one, else from local branches.
        let has_remote = |b: &str| {
            matches!(
                crate::git::commit_info(&repo, &format!("refs/remotes/origin/{b}")),
                Ok(Some(_))
            )
        };
        let rev = |b: &str| {
            if has_remote(b) {
                format!("refs/remotes/origin/{b}")
            } else {
                format!("refs/heads/{b}")
            }
        };
        release::plan_releases(&repo, &train, &branches, &rev)
    })
    .await
    .expect("release planning does not panic");
    let plans = match result {
        Ok(p) => p,
        Err(e) => {
            out.error(&e.to_string());
            return ExitStatus::Error;
        }
    };
    match global.output {
        OutputFormat::Json => out.json(&plans),
        OutputFormat::Text | OutputFormat::Markdown => {
            if plans.is_empty() {
                out.line("nothing to release: no branch has changes since its last tag");
            }
            for p in &plans {
                out.line(&format!(
                    "━━━━ {} → {} (at {:.12}, after {}) ━━━━",
                    p.branch,
                    p.tag,
                    p.commit,
                    p.previous_tag.as_deref().unwrap_or("no earlier tag")
                ));
                out.line(&p.notes);
            }
        }
    }
    ExitStatus::Success
}

async fn execute(global: &GlobalArgs, args: &ReleaseArgs, out: &mut Printer) -> ExitStatus {
    let g = &args.github;
    let settings = match super::github_settings(g, "release") {
        Ok(s) => s,
        Err(e) => {
            out.error(&e);
            return ExitStatus::Error;
        }
    };
    let results = match release::execute(&global.repo, &args.branches, &settings).await {
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
                let what = match (&r.tag, r.tagged, r.released) {
                    (_, _, _) if r.error.is_some() => "failed".to_string(),
                    (None, _, _) => "nothing to release".to_string(),
                    (Some(t), true, _) => format!("tagged {t} and published its release"),
                    (Some(t), false, true) => format!("{t}: published the missing release"),
                    (Some(t), false, false) => format!("{t}: already released"),
                };
                out.line(&format!("{:<16} {what}", r.branch));
            }
        }
    }
    let mut status = ExitStatus::Success;
    for r in &results {
        if let Some(e) = &r.error {
            out.error(&format!("{}: {e}", r.branch));
            status = ExitStatus::Failure;
        }
    }
    status
}
