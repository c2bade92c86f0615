//! `ake-bot e2e`: one branch on a kind cluster.

use std::time::Duration;

use crate::cli::{E2eArgs, GlobalArgs, OutputFormat};
use crate::cluster::{self, E2eRequest};
use crate::output::Printer;
use crate::ExitStatus;

pub async fn run(global: &GlobalArgs, args: &E2eArgs, out: &mut Printer) -> ExitStatus {
    let req = E2eRequest {
        repo: global.repo.clone(),
        branch: args.branch.clone(),
        keep: args.keep,
        bundle_timeout: Duration::from_secs(args.timeout),
        kubeconfig: args.kubeconfig.clone(),
        kind: args.kind.clone(),
    };
    let report = match cluster::e2e(&req).await {
        Ok(r) => r,
        // Missing kind or container engine, bad config, branch not cut: could not run.
        Err(e) => {
            out.error(&e.to_string());
            return ExitStatus::Error;
        }
    };
    match global.output {
        OutputFormat::Json => out.json(&report),
        OutputFormat::Text | OutputFormat::Markdown => {
            out.line(&format!(
                "━━━━ {} (Kubernetes {}, {}) on {} ━━━━",
                report.branch,
                report.kubernetes,
                report.image,
                report.cluster.as_deref().unwrap_or("the given cluster")
            ));
            for b in &report.bundles {
                let state = if b.problems.is_empty() {
                    "ready"
                } else {
                    "NOT READY"
                };
                out.line(&format!(
                    "  {:<24} {state} ({} objects applied)",
                    b.bundle, b.applied
                ));
                for p in &b.problems {
                    out.line(&format!("      {p}"));
                }
            }
            for s in &report.smoke {
                let state = if s.ok { "ok  " } else { "FAIL" };
                out.line(&format!("  smoke {state} {}: {}", s.addon, s.check));
                if !s.ok {
                    out.line(&format!("      {}", s.message));
                }
            }
            if !report.diagnostics.is_empty() {
                out.line("  diagnostics:");
                for d in &report.diagnostics {
                    out.line(&format!("    {d}"));
                }
            }
            if report.cluster.is_some() && !report.deleted {
                out.line("  (the cluster was kept)");
            }
        }
    }
    if report.ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}
