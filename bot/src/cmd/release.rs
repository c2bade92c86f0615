//! `ake-bot release`: the next tag and notes per branch.

use crate::cli::{GlobalArgs, OutputFormat, ReleaseArgs};
use crate::config;
use crate::output::Printer;
use crate::train::release;
use crate::ExitStatus;

pub async fn run(global: &GlobalArgs, args: &ReleaseArgs, out: &mut Printer) -> ExitStatus {
    if !args.dry_run {
        out.error(
            "release can only plan so far: pass --dry-run\n\
             creating tags and GitHub releases is not built yet",
        );
        return ExitStatus::Error;
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
