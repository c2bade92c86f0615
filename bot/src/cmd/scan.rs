//! `ake-bot scan --kubeconfig PATH --target 1.NN`: the objects on a live cluster written with
//! APIs the target minor removes or deprecates.

use crate::cli::{OutputFormat, ScanArgs};
use crate::jobs::scan::{classify, ObjectReport, ScanReport, Severity};
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::ExitStatus;

pub async fn run(args: &ScanArgs, format: OutputFormat) -> Result<Reply, JobError> {
    let client = crate::cluster::client_for(&args.kubeconfig)
        .await
        .map_err(JobError::Unavailable)?;
    let read = crate::cluster::scan::scan(&client)
        .await
        .map_err(|e| JobError::Unavailable(format!("{}: {e}", args.kubeconfig.display())))?;
    let report = classify(&read, args.target);
    let shown = match format {
        OutputFormat::Markdown => markdown(&report),
        _ => text(&report),
    };
    let status = if report.has_removals() {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    };
    Ok(Reply::new("report", &report, shown).status(status))
}

fn summary(r: &ScanReport) -> String {
    let helm = match r.helm_releases {
        Some(n) => format!("{n} Helm release(s)"),
        None => "Helm releases not checked".into(),
    };
    format!(
        "Kubernetes {} → {}: {} objects in {} resource types scanned, {helm}",
        r.server_version, r.target, r.objects_scanned, r.resource_types
    )
}

fn consequence(f_replacement: Option<&str>, severity: Severity, removed_in: &str) -> String {
    let what = match severity {
        Severity::Removed => format!("removed in {removed_in}"),
        Severity::Deprecated => format!("deprecated, removed in {removed_in}"),
    };
    match f_replacement {
        Some(x) => format!("{what}; use {x}"),
        None => what,
    }
}

fn text(r: &ScanReport) -> String {
    let mut out = Text::default();
    out.line(summary(r));
    for (severity, title) in [
        (
            Severity::Removed,
            format!("Removed in {} ({}):", r.target, r.removed),
        ),
        (
            Severity::Deprecated,
            format!(
                "Deprecated: removed within {} minors after {} ({}):",
                r.deprecation_horizon, r.target, r.deprecated
            ),
        ),
    ] {
        let objects: Vec<&ObjectReport> = r
            .objects
            .iter()
            .filter(|o| o.severity == severity)
            .collect();
        if objects.is_empty() {
            continue;
        }
        out.line("");
        out.line(title);
        for o in objects {
            let gone = if o.live { "" } else { " (not on the cluster)" };
            out.line(format!("  {}{gone}", o.display()));
            for f in &o.findings {
                out.line(format!(
                    "      {} {}: {}",
                    f.api_version,
                    f.origin(),
                    consequence(
                        f.replacement.as_deref(),
                        f.severity,
                        &f.removed_in.to_string()
                    )
                ));
            }
        }
    }
    if r.objects.is_empty() {
        out.line(format!(
            "No object was written with an API that {} removes or deprecates.",
            r.target
        ));
    }
    if !r.notes.is_empty() {
        out.line("");
        out.line("Notes:");
        for n in &r.notes {
            out.line(format!("  {n}"));
        }
    }
    out.into_string()
}

fn markdown(r: &ScanReport) -> String {
    let mut m = format!(
        "## Removed and deprecated APIs before Kubernetes {}\n\n{}\n",
        r.target,
        summary(r)
    );
    m.push_str(&format!(
        "\n**{} object(s) use APIs removed in {}; {} use deprecated APIs** (removed within {} minors after it).\n",
        r.removed, r.target, r.deprecated, r.deprecation_horizon
    ));
    if !r.objects.is_empty() {
        m.push_str("\n| | object | source | apiVersion | removed in | use instead |\n|---|---|---|---|---|---|\n");
        for o in &r.objects {
            for f in &o.findings {
                let mark = match f.severity {
                    Severity::Removed => "❌ removed",
                    Severity::Deprecated => "⚠️ deprecated",
                };
                let gone = if o.live { "" } else { " (not on the cluster)" };
                m.push_str(&format!(
                    "| {mark} | `{}`{gone} | {} | `{}` | {} | {} |\n",
                    o.display(),
                    f.origin(),
                    f.api_version,
                    f.removed_in,
                    f.replacement.as_deref().unwrap_or("—")
                ));
            }
        }
    }
    if !r.notes.is_empty() {
        m.push_str("\n### Notes\n\n");
        for n in &r.notes {
            m.push_str(&format!("- {n}\n"));
        }
    }
    m
}
