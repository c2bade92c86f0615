//! What humans read on GitHub: PR titles, labels and bodies, comments and release notes. Every
//! text is a minijinja template under `bot/templates/` (strict: a missing variable is an
//! error), carries a hidden marker the bot finds its own PRs and comments by, and is trimmed
//! to GitHub's limits by one function, [`fit`].

mod backport;
pub mod crd;
pub mod diff;
mod pr;
mod release;
mod templates;
pub mod tenants;

pub use backport::{
    backport_body, backport_title, conflict_body, summary_comment, summary_marker, BackportBody,
    ConflictBody, Rerender, SummaryRow,
};
pub use pr::{close_comment, labels, pr_body, title, PrBody};
pub use release::{
    branch_cut_body, release_notes, BranchCutBody, NoteBump, NoteVersion, ReleaseNotes,
};
pub use templates::{render, TemplateError};

/// GitHub rejects PR and issue bodies and comments over 65,536 characters (not bytes).
pub const BODY_LIMIT: usize = 65_536;
/// GitHub's limit for a release's notes.
pub const RELEASE_LIMIT: usize = 125_000;
/// What [`fit`] keeps free under a limit: room for GitHub's own normalisation (`\n` →
/// `\r\n`) and a later edit by a human.
const MARGIN: usize = 4_096;

/// The characters a text may have to fit `limit` with the margin.
pub fn budget(limit: usize) -> usize {
    limit.saturating_sub(MARGIN)
}

/// `text`, or, if it would not fit `limit`, cut at a line boundary with a note saying so.
/// Callers that can degrade better (leave out diffs) do that first; this is the last resort.
pub fn fit(text: String, limit: usize) -> String {
    let budget = budget(limit);
    if text.chars().count() <= budget {
        return text;
    }
    let note = "\n\n> [!NOTE]\n> This text was cut to fit GitHub's limit. See \"Files changed\" or the repository for everything.\n";
    let room = budget.saturating_sub(note.chars().count());
    let mut out = String::new();
    let mut used = 0;
    for line in text.lines() {
        let n = line.chars().count() + 1;
        if used + n > room {
            break;
        }
        out.push_str(line);
        out.push('\n');
        used += n;
    }
    out.push_str(note);
    out
}

/// The hidden marker embedded in every body the bot writes, so it finds and updates its own
/// PRs and comments instead of creating duplicates.
pub fn marker(kind: &str, fields: &[(&str, &str)]) -> String {
    let mut map = serde_json::Map::new();
    map.insert("kind".into(), kind.into());
    for (k, v) in fields {
        map.insert((*k).into(), (*v).into());
    }
    format!("<!-- ake-bot: {} -->", serde_json::Value::Object(map))
}

/// A field of the marker in `body` (`<!-- ake-bot: {...} -->`), if any.
pub fn marker_field(body: &str, field: &str) -> Option<String> {
    let start = body.find("<!-- ake-bot: ")? + "<!-- ake-bot: ".len();
    let end = body[start..].find(" -->")? + start;
    let v: serde_json::Value = serde_json::from_str(&body[start..end]).ok()?;
    v.get(field)?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_short_texts_and_cuts_long_ones_at_a_line() {
        assert_eq!(fit("a\nb\n".into(), BODY_LIMIT), "a\nb\n");
        let long: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        let cut = fit(long, BODY_LIMIT);
        assert!(cut.chars().count() <= budget(BODY_LIMIT), "{}", cut.len());
        assert!(cut.ends_with("for everything.\n"));
        let body = cut.split("\n\n> [!NOTE]").next().unwrap_or_default();
        assert!(
            body.lines().all(|l| l.starts_with("line ")),
            "cut inside a line"
        );
    }

    #[test]
    fn markers_round_trip() {
        let m = marker("sync", &[("addon", "cert-manager"), ("target", "v1.16.5")]);
        assert_eq!(
            m,
            r#"<!-- ake-bot: {"kind":"sync","addon":"cert-manager","target":"v1.16.5"} -->"#
        );
        let body = format!("{m}\n## text");
        assert_eq!(marker_field(&body, "target").as_deref(), Some("v1.16.5"));
        assert_eq!(marker_field(&body, "nope"), None);
        assert_eq!(marker_field("no marker", "target"), None);
    }
}
