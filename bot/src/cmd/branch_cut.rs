//! `ake-bot branch cut <MINOR>`: the new train (`--dry-run`), or the branch and its PR.

use crate::cli::CutArgs;
use crate::jobs::branch_cut::{self, CutOutcome, CutPlan};
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::workspace::{Settings, View};

pub async fn run(settings: Settings, args: &CutArgs) -> Result<Reply, JobError> {
    let minor = args
        .minor
        .parse()
        .map_err(|e: crate::model::InvalidName| JobError::Usage(e.to_string()))?;
    if args.kind_image.trim().is_empty() {
        return Err(JobError::Usage(
            "the new main minor needs a kind node image (--kind-image)".into(),
        ));
    }
    if !args.dry_run {
        settings.github.require("branch cut")?;
    }
    // A dry run shows the change to the branches.toml in front of you; acting builds on the
    // remote's main.
    let view = if args.dry_run {
        View::Local
    } else {
        super::remote_view(false)
    };
    let ws = super::open(settings, view).await?;
    let before = {
        let path = ws.repo().join(crate::config::TRAIN_FILE);
        std::fs::read_to_string(&path).unwrap_or_default()
    };
    let plan = branch_cut::plan(&ws, minor, &args.kind_image).await?;
    if args.dry_run {
        return Ok(Reply::new("plan", &plan, plan_text(&plan, &before)));
    }
    let outcome = branch_cut::execute(&ws, &plan).await?;
    Ok(Reply::new("result", &outcome, result_text(&outcome)))
}

fn plan_text(plan: &CutPlan, before: &str) -> String {
    let mut out = Text::default();
    let (Some(new_main), Some(toml)) = (&plan.new_main, &plan.branches_toml) else {
        out.line(format!(
            "{} is already in branches.toml: nothing to change{}",
            plan.branch,
            if plan.create_branch {
                "; the branch would be created from main's tip"
            } else {
                ""
            }
        ));
        return out.into_string();
    };
    out.line(format!(
        "create {} from main's tip; main moves to Kubernetes {new_main}",
        plan.branch
    ));
    for r in &plan.retired {
        out.line(format!(
            "retire {r} (beyond the support window): status = \"eol\""
        ));
    }
    out.line("");
    let diff = similar::TextDiff::from_lines(before, toml.as_str());
    out.line(
        diff.unified_diff()
            .context_radius(3)
            .header("a/branches.toml", "b/branches.toml")
            .to_string(),
    );
    out.into_string()
}

fn result_text(o: &CutOutcome) -> String {
    let mut out = Text::default();
    out.line(format!(
        "{}: {}",
        o.branch,
        if o.created_branch {
            "created from main's tip"
        } else {
            "already exists"
        }
    ));
    out.line(match &o.pr {
        None => "branches.toml: main already has the change".to_string(),
        Some(pr) => format!("branches.toml pull request: {pr:?}"),
    });
    out.into_string()
}
