//! `ake-bot validate`: findings per branch as text, JSON, and — under GitHub Actions —
//! annotations on the files plus a step-summary table.

use std::io::Write;

use crate::cli::ValidateArgs;
use crate::jobs::validate::{self, BranchReport, ValidateRequest};
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::validate::{Finding, Severity};
use crate::workspace::{Settings, View};
use crate::ExitStatus;

pub async fn run(settings: Settings, args: &ValidateArgs) -> Result<Reply, JobError> {
    let req = ValidateRequest {
        branches: args.branches.clone(),
        all: args.all,
    };
    let ws = super::open(settings, View::Local).await?;
    let reports = validate::validate(&ws, &req).await?;
    let mut out = Text::default();
    for r in &reports {
        text(r, &mut out);
        exemptions(r, &mut out);
    }
    // Errors fail the run; warnings do not.
    let status = if reports.iter().any(|r| r.errors > 0) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    };
    let mut reply = Reply::new("report", &reports, out.into_string()).status(status);
    if std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
        reply.annotations = reports
            .iter()
            .flat_map(|r| r.findings.iter().map(|f| annotation(&r.branch, f)))
            .collect();
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
            let summary = step_summary(&reports);
            let written = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .and_then(|mut f| f.write_all(summary.as_bytes()));
            if let Err(e) = written {
                tracing::warn!("cannot write the step summary: {e}");
            }
        }
    }
    Ok(reply)
}

fn text(r: &BranchReport, out: &mut Text) {
    let from = r.from.as_deref().unwrap_or("not cut");
    out.line(format!(
        "━━━━ {} (Kubernetes {}, {from}): {} bundles, {} objects — {} error(s), {} warning(s) ━━━━",
        r.branch, r.kubernetes, r.bundles, r.objects, r.errors, r.warnings
    ));
    let mut bundle: Option<&str> = None;
    for f in &r.findings {
        if f.bundle.as_deref() != bundle {
            bundle = f.bundle.as_deref();
            let file = f
                .file
                .as_ref()
                .map_or(String::new(), |p| format!("  {}", p.display()));
            out.line(format!("  {}{file}", bundle.unwrap_or("(branch)")));
        }
        let at = match (f.doc, f.line) {
            (Some(d), Some(l)) => format!("doc {d} line {l}  "),
            _ => String::new(),
        };
        let object = f
            .object
            .as_deref()
            .map_or(String::new(), |o| format!("{o}: "));
        out.line(format!(
            "    {:<7} {at}{object}{} [{}]",
            severity(f.severity),
            f.message,
            serde_json::to_value(f.check)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ));
    }
}

fn exemptions(r: &BranchReport, out: &mut Text) {
    if r.exemptions.is_empty() {
        return;
    }
    out.line(format!("  exempted ({}):", r.exemptions.len()));
    for e in &r.exemptions {
        out.line(format!(
            "    {} {}: {} by {} ({}): {}",
            e.bundle, e.object, e.constraint, e.by, e.reason, e.message
        ));
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// `::error file=…,line=…,title=…::message`, escaped as the Actions runner expects.
fn annotation(branch: &str, f: &Finding) -> String {
    let esc_data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let esc_prop = |s: &str| esc_data(s).replace(':', "%3A").replace(',', "%2C");
    let mut props = Vec::new();
    if let Some(file) = &f.file {
        props.push(format!("file={}", esc_prop(&file.display().to_string())));
    }
    if let Some(line) = f.line {
        props.push(format!("line={line}"));
    }
    props.push(format!(
        "title={}",
        esc_prop(&format!("ake-bot validate: {branch}"))
    ));
    let object = f
        .object
        .as_deref()
        .map_or(String::new(), |o| format!("{o}: "));
    format!(
        "::{} {}::{}",
        severity(f.severity),
        props.join(","),
        esc_data(&format!("{object}{}", f.message))
    )
}

fn step_summary(reports: &[BranchReport]) -> String {
    let mut s = String::from(
        "### ake-bot validate\n\n| branch | Kubernetes | bundles | objects | errors | warnings |\n|---|---|---|---|---|---|\n",
    );
    for r in reports {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            r.branch, r.kubernetes, r.bundles, r.objects, r.errors, r.warnings
        ));
    }
    s
}
