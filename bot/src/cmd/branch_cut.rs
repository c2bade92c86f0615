//! `ake-bot branch cut <MINOR>`: plan cutting a release branch.

use crate::cli::{CutArgs, GlobalArgs, OutputFormat};
use crate::config;
use crate::output::Printer;
use crate::train::branch_cut;
use crate::ExitStatus;

pub async fn run(global: &GlobalArgs, args: &CutArgs, out: &mut Printer) -> ExitStatus {
    let minor = match args.minor.parse() {
        Ok(m) => m,
        Err(e) => {
            out.error(&format!("{e}"));
            return ExitStatus::Error;
        }
    };
    if !args.dry_run {
        return execute(global, args, minor, out).await;
    }
    let path = global.repo.join(config::TRAIN_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            out.error(&format!("{}: {e}", path.display()));
            return ExitStatus::Error;
        }
    };
    let train = match config::load_train(&global.repo) {
        Ok(t) => t,
        Err(e) => {
            out.error(&e.to_string());
            return ExitStatus::Error;
        }
    };
    let plan = match branch_cut::plan_cut(&text, &train, minor, &args.kind_image) {
        Ok(p) => p,
        Err(e) => {
            out.error(&e);
            return ExitStatus::Error;
        }
    };
    match global.output {
        OutputFormat::Json => out.json(&plan),
        OutputFormat::Text | OutputFormat::Markdown => {
            out.line(&format!(
                "create {} from main's tip; main moves to Kubernetes {}",
                plan.branch, plan.new_main
            ));
            for r in &plan.retired {
                out.line(&format!(
                    "retire {r} (beyond the support window): status = \"eol\""
                ));
            }
            out.line("");
            let diff = similar::TextDiff::from_lines(text.as_str(), plan.branches_toml.as_str());
            out.line(
                &diff
                    .unified_diff()
                    .context_radius(3)
                    .header("a/branches.toml", "b/branches.toml")
                    .to_string(),
            );
        }
    }
    ExitStatus::Success
}

async fn execute(
    global: &GlobalArgs,
    args: &CutArgs,
    minor: crate::model::KubeMinor,
    out: &mut Printer,
) -> ExitStatus {
    let g = &args.github;
    let settings = match super::github_settings(g, "branch cut") {
        Ok(s) => s,
        Err(e) => {
            out.error(&e);
            return ExitStatus::Error;
        }
    };
    match branch_cut::execute(&global.repo, minor, &args.kind_image, &settings).await {
        Ok(o) => {
            match global.output {
                OutputFormat::Json => out.json(&o),
                _ => {
                    out.line(&format!(
                        "{}: {}",
                        o.branch,
                        if o.created_branch {
                            "created from main's tip"
                        } else {
                            "already exists"
                        }
                    ));
                    out.line(&match &o.pr {
                        None => "branches.toml: main already has the change".to_string(),
                        Some(pr) => format!("branches.toml pull request: {pr:?}"),
                    });
                }
            }
            ExitStatus::Success
        }
        Err(e) => {
            out.error(&e.to_string());
            ExitStatus::Error
        }
    }
}
