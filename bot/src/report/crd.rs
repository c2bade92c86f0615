//! The CRD section of a PR body or tag diff: what reviewers must know first (every breaking
//! change, with its paths, and the branch's custom resources they touch), then one verdict per
//! CRD (`additive only`, `descriptions only`, ...), then the additive changes, collapsed.

use crate::manifest::{CrdChange, Impact, SchemaChange};

/// The most a CRD section may take, in bytes: a PR body has 65,536 characters for everything,
/// and the section must leave room for the rest. Past it, the additive changes are cut first,
/// then the objects touched, then the breaking changes, each with a line saying how many were
/// left out and where the whole list is.
const SECTION_LIMIT: usize = 40_000;

/// Markdown, or "" when no CRD changed. `objects`: lines naming the branch's own custom
/// resources a breaking change touches (`validate`'s view), listed under the breaking changes.
pub fn section(crds: &[CrdChange], objects: &[String]) -> String {
    section_within(crds, objects, SECTION_LIMIT)
}

fn section_within(crds: &[CrdChange], objects: &[String], limit: usize) -> String {
    if crds.is_empty() {
        return String::new();
    }
    let count = |i: Impact| -> usize {
        crds.iter()
            .map(|c| c.changes.iter().filter(|s| s.impact == i).count())
            .sum()
    };
    let (nb, na) = (count(Impact::Breaking), count(Impact::Additive));
    let breaking = grouped(crds, |c| lines(c, Impact::Breaking));
    let additive = grouped(crds, |c| lines(c, Impact::Additive));
    let notices = grouped(crds, notice_lines);
    // The verdicts and notices are short and always shown: their room is set aside first.
    let mut tail = String::new();
    for c in crds {
        tail.push_str(&format!("- {}\n", verdict_line(c)));
    }
    if !notices.is_empty() {
        tail.push_str(
            "\nVersions newly deprecated (clients get a warning; nothing is rejected yet):\n\n",
        );
        tail.push_str(&bullets(&notices, usize::MAX));
    }
    // So is the additive list's frame, with room for its line saying what was left out.
    let details = (!additive.is_empty()).then(|| {
        format!(
            "\n<details><summary>{na} additive change{} (new fields or versions, more values allowed, looser limits)</summary>\n\n",
            plural(na)
        )
    });
    const CLOSE: &str = "\n</details>\n";
    let frame = details.as_ref().map_or(0, |d| d.len() + CLOSE.len() + CUT);
    let left = limit.saturating_sub(tail.len() + frame);
    let mut m = String::new();
    if !breaking.is_empty() {
        m.push_str(&format!(
            "**{nb} breaking change{}** for custom resources that already exist (they may be rejected, pruned or read differently):\n\n",
            plural(nb)
        ));
        m.push_str(&bullets(&breaking, left.saturating_sub(m.len())));
        const TOUCH: &str = "\nCustom resources on this branch that they touch:\n\n";
        if !objects.is_empty() && left.saturating_sub(m.len()) > TOUCH.len() + CUT {
            m.push_str(TOUCH);
            m.push_str(&bullets(objects, left.saturating_sub(m.len())));
        }
        m.push('\n');
    }
    let room = left.saturating_sub(m.len()) + CUT;
    m.push_str(&tail);
    if let Some(d) = details {
        m.push_str(&d);
        m.push_str(&bullets(&additive, room));
        m.push_str(CLOSE);
    }
    m
}

/// What the line saying how many were left out takes at most.
const CUT: usize = 160;

/// `- line` for each line while they fit in `room` bytes, then one line saying how many were
/// left out.
fn bullets(lines: &[String], room: usize) -> String {
    let total: usize = lines.iter().map(|l| l.len() + 3).sum();
    let room = if total <= room {
        usize::MAX
    } else {
        room.saturating_sub(CUT)
    };
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if out.len() + l.len() + 3 > room {
            out.push_str(&format!(
                "- … and {} more line{}, left out to fit GitHub's limit (`ake-bot diff BASE HEAD --output json` lists every change)\n",
                lines.len() - i,
                plural(lines.len() - i)
            ));
            break;
        }
        out.push_str(&format!("- {l}\n"));
    }
    out
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

/// One CRD's lines (`lines` of one impact, or its notices) for every CRD, each led by the CRD's
/// name: `` `x.example.com` v1alpha1, v1beta1: now required at `spec.a`, `spec.b` ``.
fn grouped(crds: &[CrdChange], lines_of: impl Fn(&CrdChange) -> Vec<String>) -> Vec<String> {
    crds.iter()
        .flat_map(|c| lines_of(c).into_iter().map(|l| format!("`{}` {l}", c.crd)))
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

    /// A CRD with `n` breaking and `n` additive changes, each at its own path.
    fn many(n: usize) -> CrdChange {
        let mut changes = Vec::new();
        for i in 0..n {
            changes.push(change(
                Impact::Breaking,
                "v1",
                &format!("spec.f{i}"),
                &format!("type changed {i}"),
            ));
            changes.push(change(
                Impact::Additive,
                "v1",
                &format!("spec.g{i}"),
                &format!("added {i}"),
            ));
        }
        CrdChange {
            crd: "widgets.example.com".into(),
            group: "example.com".into(),
            kind: "Widget".into(),
            change: CrdDelta::Changed,
            changes,
        }
    }

    #[test]
    fn a_section_too_long_for_github_cuts_additive_changes_first_and_says_so() {
        let c = many(200);
        let whole = section_within(std::slice::from_ref(&c), &[], usize::MAX);
        assert!(whole.len() > 16_000, "{}", whole.len());
        assert!(!whole.contains("left out"));

        // Room for every breaking change but not the additive ones.
        let s = section_within(std::slice::from_ref(&c), &[], 14_000);
        assert!(s.len() <= 14_000, "{}", s.len());
        assert!(s.contains("`spec.f199`"), "every breaking change is kept");
        assert!(s.contains("- `widgets.example.com`: breaking (200 breaking, 200 additive)"));
        assert!(s.contains("<details><summary>200 additive changes"));
        assert!(
            s.contains("more lines, left out to fit GitHub's limit"),
            "{s}"
        );
        assert!(s.ends_with("</details>\n"));

        // Room for some breaking changes only: the rest are counted, the verdict stays.
        let s = section_within(std::slice::from_ref(&c), &[], 5_000);
        assert!(s.len() <= 5_000, "{}", s.len());
        assert!(s.contains("`spec.f0`") && !s.contains("`spec.f199`"));
        assert!(s.contains("- `widgets.example.com`: breaking (200 breaking, 200 additive)"));
        assert_eq!(s.matches("left out to fit").count(), 2, "{s}");
    }

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
