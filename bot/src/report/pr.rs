//! The sync PR: title, labels and body.

use serde::Serialize;

use crate::config::{Bundle, TrainBranch};
use crate::manifest::ManifestDiff;
use crate::upstream::{ChartEntry, Release, Skip};
use crate::version::Version;

use super::{budget, fit, TemplateError, BODY_LIMIT};

/// A single object's diff longer than this is cut; kube-prometheus-stack CRDs change by
/// thousands of lines and nobody reviews those in a PR body.
const MAX_DIFF_LINES: usize = 400;

/// Everything a sync PR body says.
pub struct PrBody<'a> {
    pub addon: &'a Bundle,
    pub branch: &'a TrainBranch,
    /// The pinned version's index entry, when upstream still lists it.
    pub current: Option<&'a Release>,
    pub current_version: &'a Version,
    pub target: &'a Release,
    pub skipped: &'a [Skip],
    pub diff: &'a ManifestDiff,
    pub baseline_note: Option<&'a str>,
    /// `validate` on the branch with this change applied.
    pub validation: Option<&'a crate::validate::Verdict>,
    /// The branch's custom resources that a breaking CRD change touches, one line each.
    pub crd_objects: &'a [String],
}

/// `chore(cert-manager): bump v1.14.7 → v1.16.5`, with the branch for release branches.
pub fn title(bundle: &Bundle, branch: &TrainBranch, from: &Version, to: &Version) -> String {
    let base = format!("chore({}): bump {from} → {to}", bundle.name);
    if branch.is_main() {
        base
    } else {
        format!("{base} ({})", branch.name)
    }
}

/// Labels that let reviewers filter: always `ake-bot` and `addon/<name>`, plus what the diff
/// shows.
pub fn labels(bundle: &Bundle, diff: &ManifestDiff) -> Vec<String> {
    let mut l = vec!["ake-bot".to_string(), format!("addon/{}", bundle.name)];
    if !diff.summary.crds.is_empty() {
        l.push("crd-change".into());
    }
    if diff.summary.crds.iter().any(|c| c.is_breaking()) {
        l.push("crd-breaking".into());
    }
    if !diff.summary.images.is_empty() {
        l.push("image-change".into());
    }
    if !diff.summary.rbac.is_empty() {
        l.push("rbac-change".into());
    }
    if !diff.summary.removed.is_empty() {
        l.push("removed-objects".into());
    }
    l
}

#[derive(Serialize)]
struct Ctx {
    marker: String,
    addon: String,
    branch: String,
    kube: String,
    chart: String,
    /// `chart`, or `asset` for a manifest released as a GitHub release asset.
    artifact: &'static str,
    /// Where the chart comes from, for OCI and GitHub release sources.
    source: Option<String>,
    /// The pinned digests (`sha256:…`), for sources whose bundle pins one.
    digest_from: Option<String>,
    digest_to: Option<String>,
    from: String,
    to: String,
    app_from: Option<String>,
    app_to: Option<String>,
    app_major: bool,
    /// A 0.x minor bump of the application (may break under SemVer 0.x).
    app_zero_minor: bool,
    chart_bump: &'static str,
    baseline_note: Option<String>,
    skipped: Vec<SkipRow>,
    added: usize,
    removed: usize,
    changed: usize,
    lines_added: usize,
    lines_removed: usize,
    images: Vec<ImageRow>,
    /// The CRD section, Markdown ([`super::crd::section`]).
    crds: String,
    rbac: Vec<String>,
    removed_objects: Vec<String>,
    added_objects: Vec<String>,
    labels_only: Vec<String>,
    changes: Vec<ChangeRow>,
    links: Vec<Link>,
    diffs: Vec<DiffBlock>,
    omitted: Option<String>,
    rendered_file: String,
    validation: Option<crate::validate::Verdict>,
}

#[derive(Serialize)]
struct SkipRow {
    version: String,
    why: String,
}

#[derive(Serialize)]
struct ImageRow {
    object: String,
    container: String,
    from: Option<String>,
    to: Option<String>,
}

#[derive(Serialize, serde::Deserialize, Default)]
struct ChangeRow {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    description: String,
}

#[derive(Serialize, Clone)]
struct Link {
    name: String,
    url: String,
}

#[derive(Serialize, Clone)]
struct DiffBlock {
    #[serde(skip)]
    priority: u8,
    object: String,
    added: usize,
    removed: usize,
    fence: String,
    text: String,
    cut: Option<String>,
}

/// Render the PR body within GitHub's limit: diffs a reviewer reads first are kept, the rest
/// are named and left out.
pub fn pr_body(b: &PrBody<'_>) -> Result<String, TemplateError> {
    let mut ctx = context(b);
    let mut all_diffs = std::mem::take(&mut ctx.diffs);
    // What runs and what it may do first; bulky data (dashboards, CRD schemas) last. Stable, so
    // objects keep their order within a priority.
    all_diffs.sort_by_key(|d| d.priority);
    let base = render(&ctx)?;
    let base_len = base.chars().count();

    // Greedy: keep diffs in object order while they fit; name the rest.
    let mut left = budget(BODY_LIMIT).saturating_sub(base_len + 600);
    let mut kept = Vec::new();
    let mut omitted = Vec::new();
    for d in all_diffs {
        let cost = d.text.chars().count() + d.object.chars().count() + 120;
        if cost <= left {
            left -= cost;
            kept.push(d);
        } else {
            omitted.push(d.object);
        }
    }
    if !omitted.is_empty() {
        let shown: Vec<&str> = omitted.iter().take(20).map(String::as_str).collect();
        let more = omitted.len().saturating_sub(shown.len());
        ctx.omitted = Some(format!(
            "{} object diff(s) left out to stay within GitHub's {BODY_LIMIT}-character limit: {}{}. See \"Files changed\" for the full diff.",
            omitted.len(),
            shown.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        ));
    }
    ctx.diffs = kept;
    Ok(fit(render(&ctx)?, BODY_LIMIT))
}

fn render(ctx: &Ctx) -> Result<String, TemplateError> {
    super::render("sync-pr.md", ctx)
}

/// The comment `sync` leaves when it closes a PR nothing needs any more.
pub fn close_comment(marker: &str, why: &str) -> Result<String, TemplateError> {
    #[derive(Serialize)]
    struct Ctx<'a> {
        marker: &'a str,
        why: &'a str,
    }
    let text = super::render("sync-close.md", &Ctx { marker, why })?;
    Ok(fit(text, BODY_LIMIT))
}

fn context(b: &PrBody<'_>) -> Ctx {
    // A Helm index carries the digest; other sources' bundles pin it, and the PR shows it.
    let pins_digest = !matches!(b.addon.source, crate::config::UpstreamSource::Helm(_));
    let pinned_digest = |r: &crate::upstream::Release| {
        crate::upstream::sha256_digest(&r.entry)
            .filter(|_| pins_digest)
            .map(|d| format!("sha256:{d}"))
    };
    let from = b.current_version.to_string();
    let to = b.target.version.to_string();
    let app_from = b.current.and_then(|r| r.entry.app_version.clone());
    let app_to = b.target.entry.app_version.clone();
    // A new major, or (SemVer §4) a new 0.x minor, which may break as much: said apart, so
    // a 0.x bump is not called a major one.
    let (app_major, app_zero_minor) = match (&app_from, &app_to) {
        (Some(a), Some(t)) => match (Version::parse(a), Version::parse(t)) {
            (Ok(a), Ok(t)) => (
                t.major() > a.major(),
                t.major() == 0 && a.major() == 0 && t.minor() > a.minor(),
            ),
            _ => (false, false),
        },
        _ => (false, false),
    };
    let chart_bump = if b.target.version.major() != b.current_version.major() {
        "major"
    } else if b.target.version.minor() != b.current_version.minor() {
        "minor"
    } else {
        "patch"
    };
    let d = b.diff;
    let diffs = d
        .changed
        .iter()
        .filter(|c| !c.labels_only)
        .map(|c| {
            let lines: Vec<&str> = c.unified_diff.lines().collect();
            let (text, cut) = if lines.len() > MAX_DIFF_LINES {
                (
                    lines[..MAX_DIFF_LINES].join("\n") + "\n",
                    Some(format!(
                        "{} more lines of this object's diff not shown.",
                        lines.len() - MAX_DIFF_LINES
                    )),
                )
            } else {
                (c.unified_diff.clone(), None)
            };
            let text = if text.ends_with('\n') {
                text
            } else {
                text + "\n"
            };
            DiffBlock {
                priority: review_priority(&c.key.kind),
                object: c.key.to_string(),
                added: c.lines_added,
                removed: c.lines_removed,
                fence: fence_for(&text),
                text,
                cut,
            }
        })
        .collect();
    Ctx {
        marker: super::marker(
            "sync",
            &[
                ("addon", b.addon.name.as_str()),
                ("branch", b.branch.name.as_str()),
                ("target", &to),
            ],
        ),
        addon: b.addon.name.to_string(),
        branch: b.branch.name.to_string(),
        kube: b.branch.kubernetes.to_string(),
        chart: b.addon.chart().to_string(),
        artifact: if b.addon.is_chart() { "chart" } else { "asset" },
        source: pins_digest.then(|| b.addon.source_location()),
        digest_from: b.current.and_then(pinned_digest),
        digest_to: pinned_digest(b.target),
        from,
        to,
        app_from,
        app_to,
        app_major,
        app_zero_minor,
        chart_bump,
        baseline_note: b.baseline_note.map(str::to_string),
        skipped: b
            .skipped
            .iter()
            .map(|s| SkipRow {
                version: s.version.clone(),
                why: s.reason.to_string(),
            })
            .collect(),
        added: d.added.len(),
        removed: d.removed.len(),
        changed: d.changed.len(),
        lines_added: d.changed.iter().map(|c| c.lines_added).sum(),
        lines_removed: d.changed.iter().map(|c| c.lines_removed).sum(),
        images: image_rows(d),
        crds: super::crd::section(&d.summary.crds, b.crd_objects),
        rbac: d.summary.rbac.iter().map(|r| r.to_string()).collect(),
        removed_objects: d.removed.iter().map(|r| r.to_string()).collect(),
        added_objects: d.added.iter().map(|r| r.to_string()).collect(),
        labels_only: d
            .changed
            .iter()
            .filter(|c| c.labels_only)
            .map(|c| c.key.to_string())
            .collect(),
        changes: changes(&b.target.entry),
        links: links(&b.target.entry),
        diffs,
        omitted: None,
        rendered_file: b.addon.rendered_file().display().to_string(),
        validation: b.validation.cloned(),
    }
}

fn image_rows(d: &ManifestDiff) -> Vec<ImageRow> {
    d.summary
        .images
        .iter()
        .map(|i| ImageRow {
            object: i.object.to_string(),
            container: i.container.clone(),
            from: i.from.clone(),
            to: i.to.clone(),
        })
        .collect()
}

/// Which diffs a reviewer reads first when not all fit.
fn review_priority(kind: &str) -> u8 {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob" | "Pod" => 0,
        "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding" | "ServiceAccount" => 1,
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" | "APIService" => 1,
        "ConfigMap" | "Secret" => 3,
        "CustomResourceDefinition" => 4,
        _ => 2,
    }
}

/// A fence longer than any backtick run in the text, so a diff cannot close it early.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// `artifacthub.io/changes`: a YAML list of `{kind, description}` or of plain strings.
fn changes(entry: &ChartEntry) -> Vec<ChangeRow> {
    let Some(text) = entry.changes() else {
        return Vec::new();
    };
    match crate::yaml::from_str::<Vec<serde_json::Value>>(text) {
        Ok(items) => items
            .into_iter()
            .filter_map(|v| match v {
                serde_json::Value::String(s) => Some(ChangeRow {
                    kind: None,
                    description: s,
                }),
                v => serde_json::from_value::<ChangeRow>(v).ok(),
            })
            .map(|mut c| {
                c.description = one_line(&c.description);
                c
            })
            .take(50)
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Source, home and GitHub releases pages of the chart.
fn links(entry: &ChartEntry) -> Vec<Link> {
    let mut out: Vec<Link> = Vec::new();
    let mut push = |name: &str, url: &str| {
        let safe = url.starts_with("https://") || url.starts_with("http://");
        if safe && !out.iter().any(|l| l.url == url) {
            out.push(Link {
                name: name.to_string(),
                url: url.to_string(),
            });
        }
    };
    for s in &entry.sources {
        if let Some(repo) = github_repo(s) {
            push(
                &format!("Releases ({repo})"),
                &format!("https://github.com/{repo}/releases"),
            );
        }
        push("Source", s);
    }
    if let Some(h) = &entry.home {
        push("Home", h);
    }
    out.truncate(8);
    out
}

fn github_repo(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://github.com/")?;
    let mut parts = rest.split('/');
    let (owner, repo) = (parts.next()?, parts.next()?);
    (!owner.is_empty() && !repo.is_empty())
        .then(|| format!("{owner}/{}", repo.trim_end_matches(".git")))
}
