//! The CRD section of a PR body or tag diff: what reviewers must know first (every breaking
//! change, with its paths, and the branch's custom resources they touch), then one verdict per
//! CRD (`additive only`, `descriptions only`, ...), then the additive changes, collapsed.

use crate::manifest::{CrdChange, Impact, SchemaChange};

/// Markdown, or "" when no CRD changed. `objects`: lines naming the branch's own custom
/// resources a breaking change touches (`validate`'s view), listed under the breaking changes.
pub fn section(crds: &[CrdChange], objects: &[String]) -> String {
    if crds.is_empty() {
        return String::new();
    }
    let mut m = String::new();
    let count = |i: Impact| -> usize {
        crds.iter()
            .map(|c| c.changes.iter().filter(|s| s.impact == i).count())
            .sum()
    };
    let (nb, na) = (count(Impact::Breaking), count(Impact::Additive));
    let breaking = grouped(crds, Impact::Breaking);
    let additive = grouped(crds, Impact::Additive);
    if !breaking.is_empty() {
        m.push_str(&format!(
            "**{nb} breaking change{}** for custom resources that already exist (they may be rejected, pruned or read differently):\n\n",
            plural(nb)
        ));
        for l in &breaking {
            m.push_str(&format!("- {l}\n"));
        }
        if !objects.is_empty() {
            m.push_str("\nCustom resources on this branch that they touch:\n\n");
            for o in objects {
                m.push_str(&format!("- {o}\n"));
            }
        }
        m.push('\n');
    }
    for c in crds {
        m.push_str(&format!("- {}\n", verdict_line(c)));
    }
    let notices: Vec<String> = crds
        .iter()
        .flat_map(|c| {
            notice_lines(c)
                .into_iter()
                .map(|l| format!("`{}` {l}", c.crd))
        })
        .collect();
    if !notices.is_empty() {
        m.push_str(
            "\nVersions newly deprecated (clients get a warning; nothing is rejected yet):\n\n",
        );
        for l in &notices {
            m.push_str(&format!("- {l}\n"));
        }
    }
    if !additive.is_empty() {
        m.push('\n');
        m.push_str(&format!(
            "<details><summary>{na} additive change{} (new fields or versions, more values allowed, looser limits)</summary>\n\n",
            plural(na)
        ));
        for l in &additive {
            m.push_str(&format!("- {l}\n"));
        }
        m.push_str("\n</details>\n");
    }
    m
}

/// `` `certificates.cert-manager.io`: additive only (4 changes) ``.
pub fn verdict_line(c: &CrdChange) -> String {
    let (b, a) = (c.breaking().count(), c.additive().count());
    let detail = match c.verdict() {
        "breaking" if a > 0 => format!(" ({b} breaking, {a} additive)"),
        "breaking" => format!(" ({b})"),
        "additive only" => format!(" ({a} change{})", plural(a)),
        _ => String::new(),
    };
    format!("`{}`: {}{detail}", c.crd, c.verdict())
}

/// The changes of one impact, one line per CRD, versions and change, naming every path:
/// `` `x.example.com` v1alpha1, v1beta1: now required: `spec.a`, `spec.b` ``. The same change
/// in several versions of a CRD is written once.
fn grouped(crds: &[CrdChange], impact: Impact) -> Vec<String> {
    crds.iter()
        .flat_map(|c| {
            lines(c, impact)
                .into_iter()
                .map(|l| format!("`{}` {l}", c.crd))
        })
        .collect()
}

/// One CRD's changes of one impact, one line per versions and change: `` v1: now required at
/// `spec.a`, `spec.b` `` (`: CRD removed …` for the CRD as a whole).
pub fn lines(c: &CrdChange, impact: Impact) -> Vec<String> {
    written(c.changes.iter().filter(|s| s.impact == impact))
}

/// One CRD's notices (versions newly deprecated), written as [`lines`] writes changes.
pub fn notice_lines(c: &CrdChange) -> Vec<String> {
    written(c.notices())
}

fn written<'a>(changes: impl Iterator<Item = &'a SchemaChange>) -> Vec<String> {
    let mut out = Vec::new();
    {
        // (path, what) → versions, then (versions, what) → paths, both in first-seen order.
        let mut versions: Vec<((&str, &str), Vec<&str>)> = Vec::new();
        for s in changes {
            let k = (s.path.as_str(), s.what.as_str());
            match versions.iter_mut().find(|(x, _)| *x == k) {
                Some((_, vs)) => vs.extend(s.version.as_deref()),
                None => versions.push((k, s.version.as_deref().into_iter().collect())),
            }
        }
        let mut paths: Vec<((String, &str), Vec<&str>)> = Vec::new();
        for ((path, what), vs) in versions {
            let k = (vs.join(", "), what);
            match paths.iter_mut().find(|(x, _)| *x == k) {
                Some((_, ps)) => ps.push(path),
                None => paths.push((k, vec![path])),
            }
        }
        for ((vs, what), ps) in paths {
            let mut line = vs;
            line.push_str(&format!(": {what}"));
            let ps: Vec<String> = ps
                .into_iter()
                .filter(|p| !p.is_empty())
                .map(|p| format!("`{p}`"))
                .collect();
            if !ps.is_empty() {
                line.push_str(&format!(" at {}", ps.join(", ")));
            }
            out.push(line);
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::crd::CrdDelta;

    fn change(impact: Impact, version: &str, path: &str, what: &str) -> SchemaChange {
        SchemaChange {
            impact,
            version: Some(version.into()),
            path: path.into(),
            what: what.into(),
            which: String::new(),
            when_unset: false,
        }
    }

    #[test]
    fn a_deprecated_version_is_named_apart_from_the_description_count() {
        let c = CrdChange {
            crd: "widgets.example.com".into(),
            group: "example.com".into(),
            kind: "Widget".into(),
            change: CrdDelta::Changed,
            changes: vec![
                change(Impact::Cosmetic, "v1beta1", "", "now deprecated: use v1"),
                change(
                    Impact::Cosmetic,
                    "v1beta1",
                    "",
                    "descriptions or other text changed (3 places)",
                ),
            ],
        };
        let s = section(std::slice::from_ref(&c), &[]);
        assert_eq!(
            s,
            "- `widgets.example.com`: deprecation only\n\nVersions newly deprecated (clients get \
             a warning; nothing is rejected yet):\n\n- `widgets.example.com` v1beta1: now \
             deprecated: use v1\n"
        );
    }
}
