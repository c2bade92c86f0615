//! `ake-bot diff A B`: what a tenant gets by moving between two tags.

use crate::cli::{DiffArgs, OutputFormat};
use crate::jobs::diff::{self, AddonDiff, TagDiff};
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::report;
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
        OutputFormat::Markdown => report::diff::markdown(&d),
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
            report::diff::versions(a),
            a.added,
            a.removed,
            a.changed
        ));
        let Some(s) = &a.summary else { continue };
        for i in &s.images {
            out.line(format!("      image    {i}"));
        }
        for c in &s.crds {
            out.line(format!("      crd      {}", report::crd::verdict_line(c)));
            // Every breaking change, with its paths; additive ones are counted in the verdict.
            for l in report::crd::lines(c, crate::manifest::Impact::Breaking) {
                out.line(format!("                 breaking {l}"));
            }
            for l in report::crd::notice_lines(c) {
                out.line(format!("                 notice   {l}"));
            }
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
