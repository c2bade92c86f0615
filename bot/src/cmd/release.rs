//! `ake-bot release`: the next tag and notes per branch (`--dry-run`), or the tags and
//! GitHub releases.

use crate::cli::ReleaseArgs;
use crate::jobs::release::{self, ReleaseAction, ReleaseOutcome, ReleasePlan};
use crate::jobs::{JobError, Problem};
use crate::output::{Reply, Text};
use crate::workspace::Settings;

pub async fn run(settings: Settings, args: &ReleaseArgs) -> Result<Reply, JobError> {
    if !args.dry_run {
        settings.github.require("release")?;
    }
    let ws = super::open(settings, super::remote_view(args.dry_run)).await?;
    let plan = release::plan(&ws, &args.branches).await?;
    if args.dry_run {
        return Ok(Reply::new("plan", &plan, plan_text(&plan)));
    }
    let results = release::execute(&ws, &plan).await?;
    let problems: Vec<Problem> = results
        .iter()
        .filter_map(|r| {
            r.error
                .as_ref()
                .map(|e| Problem::new(e.clone()).branch(&r.branch))
        })
        .collect();
    Ok(Reply::new("result", &results, result_text(&results)).with_problems(problems))
}

fn plan_text(plan: &ReleasePlan) -> String {
    let mut out = Text::default();
    let tags: Vec<_> = plan
        .branches
        .iter()
        .filter(|p| p.action != ReleaseAction::Released)
        .collect();
    if tags.is_empty() {
        out.line("nothing to release: no branch has changes since its last tag");
    }
    for p in tags {
        match p.action {
            ReleaseAction::Publish => out.line(format!(
                "━━━━ {} → {}: the tag exists; its GitHub release would be published ━━━━",
                p.branch, p.tag
            )),
            _ => out.line(format!(
                "━━━━ {} → {} (at {:.12}, after {}) ━━━━",
                p.branch,
                p.tag,
                p.commit,
                p.previous_tag.as_deref().unwrap_or("no earlier tag")
            )),
        }
        out.line(&p.notes);
    }
    out.into_string()
}

fn result_text(results: &[ReleaseOutcome]) -> String {
    let mut out = Text::default();
    if results.is_empty() {
        out.line("nothing to release: no branch has changes since its last tag");
    }
    for r in results {
        let what = match (&r.tag, r.tagged, r.released) {
            _ if r.error.is_some() => "failed".to_string(),
            (None, _, _) => "nothing to release".to_string(),
            (Some(t), true, _) => format!("tagged {t} and published its release"),
            (Some(t), false, true) => format!("{t}: published the missing release"),
            (Some(t), false, false) => format!("{t}: already released"),
        };
        out.line(format!("{:<16} {what}", r.branch));
    }
    out.into_string()
}
