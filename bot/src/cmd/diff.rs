//! `ake-bot diff A B`: what a tenant gets by moving between two tags.

use crate::cli::{DiffArgs, OutputFormat};
use crate::jobs::diff::{self, AddonDiff, TagDiff};
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::workspace::{blocking, Settings};
use crate::ExitStatus;

pub async fn run(
    settings: &Settings,
    args: &DiffArgs,
    format: OutputFormat,
) -> Result<Reply, JobError> {
    let (repo, from, to) = (settings.repo.clone(), args.from.clone(), args.to.clone());
    let d = blocking(move || diff::tag_diff(&repo, &from, &to)).await?;
    let shown = match format {
        OutputFormat::Markdown => markdown(&d),
        _ => text(&d),
    };
    // Exit 1 when a tenant would get something: the revisions differ.
    let status = if d.addons.iter().all(AddonDiff::is_unchanged) {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    };
    Ok(Reply::new("report", &d, shown).status(status))
}

fn versions(a: &AddonDiff) -> String {
    match (&a.from, &a.to) {
        (Some(f), Some(t)) if f == t => format!("{f} (same version)"),
        (Some(f), Some(t)) => format!("{f} → {t}"),
        (None, Some(t)) => format!("new: {t}"),
        (Some(f), None) => format!("removed (was {f})"),
        (None, None) => "—".into(),
    }
}

fn text(d: &TagDiff) -> String {
    let mut out = Text::default();
    out.line(format!(
        "{} → {} ({:.12} → {:.12})",
        d.from, d.to, d.from_commit, d.to_commit
    ));
    out.line("");
    for a in &d.addons {
        if a.is_unchanged() {
            out.line(format!(
                "  {:<24} {} unchanged",
                a.addon,
                a.from.as_deref().unwrap_or("-")
            ));
            continue;
        }
        out.line(format!(
            "  {:<24} {}  (+{} −{} ~{} objects)",
            a.addon,
            versions(a),
            a.added,
            a.removed,
            a.changed
        ));
        let Some(s) = &a.summary else { continue };
        for i in &s.images {
            out.line(format!("      image    {i}"));
        }
        for c in &s.crds {
            out.line(format!("      crd      {c}"));
        }
        for r in &s.rbac {
            out.line(format!("      rbac     {r}"));
        }
        for r in &s.removed {
            out.line(format!("      removed  {r}"));
        }
    }
    out.into_string()
}

fn markdown(d: &TagDiff) -> String {
    let mut m = format!("## Moving from `{}` to `{}`\n\n", d.from, d.to);
    m.push_str("| addon | version | objects added | removed | changed |\n|---|---|---|---|---|\n");
    for a in &d.addons {
        m.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            a.addon,
            versions(a),
            a.added,
            a.removed,
            a.changed
        ));
    }
    for a in d.addons.iter().filter(|a| !a.is_unchanged()) {
        let Some(s) = &a.summary else { continue };
        m.push_str(&format!("\n### {} {}\n", a.addon, versions(a)));
        if !s.images.is_empty() {
            m.push_str("\n| object | container | from | to |\n|---|---|---|---|\n");
            for i in &s.images {
                m.push_str(&format!(
                    "| {} | {} | `{}` | `{}` |\n",
                    i.object,
                    i.container,
                    i.from.as_deref().unwrap_or("-"),
                    i.to.as_deref().unwrap_or("-")
                ));
            }
        }
        for (title, lines) in [
            (
                "CustomResourceDefinitions",
                s.crds.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            ),
            ("RBAC", s.rbac.iter().map(|r| r.to_string()).collect()),
            (
                "Removed objects",
                s.removed.iter().map(|r| format!("`{r}`")).collect(),
            ),
        ] {
            if !lines.is_empty() {
                m.push_str(&format!("\n#### {title}\n\n"));
                for l in lines {
                    m.push_str(&format!("- {l}\n"));
                }
            }
        }
    }
    m
}
