//! What a tenant gets by moving between two tags, as Markdown: `diff --output markdown`, and
//! the body of the bump PRs `tenants` opens in tenant repositories.

use crate::jobs::diff::{AddonDiff, TagDiff};

/// `v1.14.7 → v1.16.5`, `new: …`, `removed (was …)`.
pub fn versions(a: &AddonDiff) -> String {
    match (&a.from, &a.to) {
        (Some(f), Some(t)) if f == t => format!("{f} (same version)"),
        (Some(f), Some(t)) => format!("{f} → {t}"),
        (None, Some(t)) => format!("new: {t}"),
        (Some(f), None) => format!("removed (was {f})"),
        (None, None) => "—".into(),
    }
}

/// The tag-to-tag diff: an addon table, then per changed addon its images, CRDs, RBAC and
/// removed objects.
pub fn markdown(d: &TagDiff) -> String {
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
        if !s.crds.is_empty() {
            m.push_str("\n#### CustomResourceDefinitions\n\n");
            m.push_str(&super::crd::section(&s.crds, &[]));
        }
        for (title, lines) in [
            (
                "RBAC",
                s.rbac.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            ),
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
