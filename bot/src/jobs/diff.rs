//! `diff A B`: what a tenant gets by moving from one tag (or any revision) to another — addon
//! versions from → to and the semantic diff of the committed renders. Reads git only.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use super::JobError;
use crate::config::{self, Bundles};
use crate::git::{self, Tree};
use crate::manifest::{self, ManifestDiff, Manifests};

/// One addon between the two revisions.
#[derive(Debug, Clone, Serialize)]
pub struct AddonDiff {
    pub addon: String,
    /// `None`: the addon is not in that revision.
    pub from: Option<String>,
    pub to: Option<String>,
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    #[serde(skip)]
    pub diff: Option<ManifestDiff>,
    pub summary: Option<manifest::Summary>,
}

impl AddonDiff {
    pub fn is_unchanged(&self) -> bool {
        self.from == self.to && self.added + self.removed + self.changed == 0
    }
}

/// The revisions compared, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct TagDiff {
    pub from: String,
    pub to: String,
    pub from_commit: String,
    pub to_commit: String,
    pub addons: Vec<AddonDiff>,
}

impl TagDiff {
    /// Every CRD that changed between the two revisions, with its addon.
    pub fn crds(&self) -> impl Iterator<Item = (&str, &manifest::CrdChange)> {
        self.addons
            .iter()
            .filter_map(|a| Some((a.addon.as_str(), a.summary.as_ref()?)))
            .flat_map(|(addon, s)| s.crds.iter().map(move |c| (addon, c)))
    }
}

pub fn tag_diff(repo: &Path, from: &str, to: &str) -> Result<TagDiff, JobError> {
    let resolve = |rev: &str| -> Result<Tree, JobError> {
        let info = git::commit_info(repo, rev)
            .map_err(|e| JobError::Git(e.to_string()))?
            .ok_or_else(|| {
                JobError::Git(format!(
                    "{rev:?} is not a tag, branch or commit in {}",
                    repo.display()
                ))
            })?;
        Ok(Tree::Commit {
            repo: repo.to_path_buf(),
            commit: info.id,
            label: rev.to_string(),
        })
    };
    let (a, b) = (resolve(from)?, resolve(to)?);
    let (ba, bb) = (config::load_bundles(&a)?, config::load_bundles(&b)?);
    let names: BTreeSet<String> = ba.names().into_iter().chain(bb.names()).collect();
    let mut addons = Vec::new();
    for name in names {
        let (va, ta) = version_and_render(&ba, &name, from)?;
        let (vb, tb) = match version_and_render(&bb, &name, to) {
            Ok(found) => found,
            Err(e) => {
                // As before: an unreadable render in `from` is reported first.
                parse(&ba, &name, from, ta)?;
                return Err(e);
            }
        };
        // The same bytes (the same blob) in both revisions: nothing to parse, nothing changed.
        // Most addons between two tags are like this, and their renders are the big files.
        let d = if ta == tb {
            ManifestDiff::default()
        } else {
            manifest::diff(&parse(&ba, &name, from, ta)?, &parse(&bb, &name, to, tb)?)
        };
        addons.push(AddonDiff {
            addon: name,
            from: va,
            to: vb,
            added: d.added.len(),
            removed: d.removed.len(),
            changed: d.changed.len(),
            summary: Some(d.summary.clone()),
            diff: Some(d),
        });
    }
    let commit = |t: &Tree| match t {
        Tree::Commit { commit, .. } => commit.clone(),
        Tree::Dir(_) => String::new(),
    };
    Ok(TagDiff {
        from: from.into(),
        to: to.into(),
        from_commit: commit(&a),
        to_commit: commit(&b),
        addons,
    })
}

/// The pinned version and committed render text of `name` in one revision (`None`s if absent).
fn version_and_render<'a>(
    bundles: &'a Bundles,
    name: &str,
    rev: &str,
) -> Result<(Option<String>, Option<&'a str>), JobError> {
    if let Some(p) = bundles.problems.iter().find(|p| p.dir == name) {
        return Err(JobError::Git(format!(
            "{name} at {rev}: {}",
            config::ConfigErrors(p.errors.clone())
        )));
    }
    let Some(lb) = bundles
        .loaded
        .iter()
        .find(|b| b.bundle.name.as_str() == name)
    else {
        return Ok((None, None));
    };
    Ok((Some(lb.bundle.version.to_string()), lb.rendered.as_deref()))
}

/// The objects of `name`'s committed render `text` in one revision (none without one).
fn parse(
    bundles: &Bundles,
    name: &str,
    rev: &str,
    text: Option<&str>,
) -> Result<Manifests, JobError> {
    let Some(text) = text else {
        return Ok(Manifests::default());
    };
    Manifests::parse(text).map_err(|e| {
        let file = bundles
            .loaded
            .iter()
            .find(|b| b.bundle.name.as_str() == name)
            .map(|lb| lb.bundle.rendered_file().display().to_string())
            .unwrap_or_default();
        JobError::Git(format!("{file} at {rev} is unreadable: {e}"))
    })
}
