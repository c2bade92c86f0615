//! `ake-bot validate`: findings per branch as text, JSON, and — under GitHub Actions —
//! annotations on the files plus a step-summary table.

use std::io::Write;

use crate::cli::{GlobalArgs, OutputFormat, ValidateArgs};
use crate::output::Printer;
use crate::validate::{self, BranchReport, Finding, Severity, ValidateRequest};
use crate::ExitStatus;

pub async fn run(global: &GlobalArgs, args: &ValidateArgs, out: &mut Printer) -> ExitStatus {
    let req = ValidateRequest {
        repo: global.repo.clone(),
        branches: args.branches.clone(),
        all: args.all,
        schemas: global.schemas.clone(),
        cache_dir: super::cache_dir(global),
    };
    let reports = match validate::validate(&req).await {
        Ok(r) => r,
        Err(e) => {
            out.error(&e.to_string());
            return ExitStatus::Error;
        }
    };
    match global.output {
        OutputFormat::Json => out.json(&reports),
        OutputFormat::Text | OutputFormat::Markdown => {
            for r in &reports {
                print_text(r, out);
            }
        }
    }
    if std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
        for r in &reports {
            for f in &r.findings {
                out.line(&annotation(&r.branch, f));
            }
        }
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
    if reports.iter().any(|r| r.errors > 0) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}

fn print_text(r: &BranchReport, out: &mut Printer) {
    let from = r.from.as_deref().unwrap_or("not cut");
    out.line(&format!(
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
            out.line(&format!("  {}{file}", bundle.unwrap_or("(branch)")));
        }
        let at = match (f.doc, f.line) {
            (Some(d), Some(l)) => format!("doc {d} line {l}  "),
            _ => String::new(),
        };
        let object = f
            .object
            .as_deref()
            .map_or(String::new(), |o| format!("{o}: "));
        out.line(&format!(
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
