//! `ake-bot render`: re-render committed manifests for the checked-out branch.

use crate::cli::{GlobalArgs, OutputFormat, RenderArgs};
use crate::output::Printer;
use crate::train::rerender::{self, RenderOutcome, RenderRequest};
use crate::ExitStatus;

pub async fn run(global: &GlobalArgs, args: &RenderArgs, out: &mut Printer) -> ExitStatus {
    let req = RenderRequest {
        repo: global.repo.clone(),
        addons: args.addons.clone(),
        branch: args.branch.clone(),
        check: args.check,
        cache_dir: super::cache_dir(global),
    };
    let (branch, results) = match rerender::rerender(&req).await {
        Ok(r) => r,
        Err(e) => {
            out.error(&e.to_string());
            return ExitStatus::Error;
        }
    };
    let failed = results.iter().filter(|r| r.outcome.is_err()).count();
    let stale = results
        .iter()
        .filter(|r| r.outcome == Ok(RenderOutcome::Updated))
        .count();
    match global.output {
        OutputFormat::Json => out.json(&results),
        OutputFormat::Text | OutputFormat::Markdown => {
            for r in &results {
                match &r.outcome {
                    Ok(RenderOutcome::Unchanged) => out.line(&format!(
                        "{}: {} up to date ({})",
                        r.addon,
                        r.file.display(),
                        r.version
                    )),
                    Ok(RenderOutcome::Updated) if args.check => out.line(&format!(
                        "{}: {} is stale: rendering {} for {} gives different output",
                        r.addon,
                        r.file.display(),
                        r.version,
                        branch.name
                    )),
                    Ok(RenderOutcome::Updated) => out.line(&format!(
                        "{}: wrote {} ({})",
                        r.addon,
                        r.file.display(),
                        r.version
                    )),
                    Err(_) => {}
                }
            }
        }
    }
    for r in &results {
        if let Err(e) = &r.outcome {
            out.error(&format!("{} on {}: {e}", r.addon, branch.name));
        }
    }
    // A failed render and (with --check) a stale one both need a human.
    if failed > 0 || (args.check && stale > 0) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}
