//! `ake-bot render`: re-render the committed manifests of the branch the work tree holds.

use crate::cli::RenderArgs;
use crate::jobs::render::{self, RenderOutcome, RenderPlan};
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::workspace::{Settings, View};
use crate::ExitStatus;

pub async fn run(settings: Settings, args: &RenderArgs) -> Result<Reply, JobError> {
    let ws = super::open(settings, View::Local).await?;
    let plan = render::run(&ws, &args.addons, args.check).await?;
    let problems = plan.problems.clone();
    let stale = plan
        .results
        .iter()
        .any(|r| r.outcome == RenderOutcome::Updated);
    let mut reply = Reply::new(
        if args.check { "report" } else { "result" },
        &plan,
        text(&plan, args.check),
    )
    .with_problems(problems);
    // With --check, a stale render needs a human as much as a failed one.
    if args.check && stale {
        reply = reply.status(ExitStatus::Failure);
    }
    Ok(reply)
}

fn text(plan: &RenderPlan, check: bool) -> String {
    let mut out = Text::default();
    for r in &plan.results {
        out.line(match r.outcome {
            RenderOutcome::Unchanged => format!(
                "{}: {} up to date ({})",
                r.addon,
                r.file.display(),
                r.version
            ),
            RenderOutcome::Updated if check => format!(
                "{}: {} is stale: rendering {} for {} gives different output",
                r.addon,
                r.file.display(),
                r.version,
                plan.branch
            ),
            RenderOutcome::Updated => {
                format!("{}: wrote {} ({})", r.addon, r.file.display(), r.version)
            }
        });
    }
    out.into_string()
}
