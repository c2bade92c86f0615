//! `ake-bot e2e`: one branch on a kind cluster.

use std::time::Duration;

use crate::cli::E2eArgs;
use crate::jobs::e2e::{self, E2eReport, E2eRequest};
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::workspace::{Settings, View};
use crate::ExitStatus;

pub async fn run(settings: Settings, args: &E2eArgs) -> Result<Reply, JobError> {
    let req = E2eRequest {
        branch: args.branch.clone(),
        keep: args.keep,
        bundle_timeout: Duration::from_secs(args.timeout),
        kubeconfig: args.kubeconfig.clone(),
        kind: args.kind.clone(),
    };
    let ws = super::open(settings, View::Local).await?;
    // Missing kind or container engine, bad config, branch not cut: could not run (exit 2).
    let report = e2e::e2e(&ws, &req).await?;
    let status = if report.ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    };
    Ok(Reply::new("report", &report, text(&report)).status(status))
}

fn text(report: &E2eReport) -> String {
    let mut out = Text::default();
    out.line(format!(
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
        out.line(format!(
            "  {:<24} {state} ({} objects applied)",
            b.bundle, b.applied
        ));
        for p in &b.problems {
            out.line(format!("      {p}"));
        }
    }
    for s in &report.smoke {
        let state = if s.ok { "ok  " } else { "FAIL" };
        out.line(format!("  smoke {state} {}: {}", s.addon, s.check));
        if !s.ok {
            out.line(format!("      {}", s.message));
        }
    }
    if !report.diagnostics.is_empty() {
        out.line("  diagnostics:");
        for d in &report.diagnostics {
            out.line(format!("    {d}"));
        }
    }
    if report.cluster.is_some() && !report.deleted {
        out.line("  (the cluster was kept)");
    }
    out.into_string()
}
