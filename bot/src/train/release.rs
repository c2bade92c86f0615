//! `release`, planning half: for each branch with commits since its last tag, the next tag by
//! the train's format and the notes (addon bumps with from → to, backports, other changes, and
//! the addon version table). Pure over git data; nothing is tagged or pushed here.

use std::path::Path;

use serde::Serialize;

use super::JobError;
use crate::config::{self, Train, TrainBranch};
use crate::git::Tree;

/// A commit since the last tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeCommit {
    pub id: String,
    pub subject: String,
}

/// One line of the changelog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    /// `chore(<addon>): bump <from> → <to>`
    Bump {
        addon: String,
        from: String,
        to: String,
    },
    /// A change carried from main (`… (backport …)` or `[release-…]` subjects).
    Backport {
        subject: String,
    },
    Other {
        subject: String,
    },
}

/// What releasing one branch would do.
#[derive(Debug, Clone, Serialize)]
pub struct ReleasePlan {
    pub branch: String,
    pub previous_tag: Option<String>,
    pub tag: String,
    /// The commit the tag will point at (the branch tip).
    pub commit: String,
    pub changes: Vec<Change>,
    /// (addon, version) at the tip.
    pub versions: Vec<(String, String)>,
    pub notes: String,
}

/// Plan releases for `branches` (all non-eol when empty). `revision(branch)` names where the
/// branch tip is read from (`refs/remotes/origin/<branch>` when acting, the local branch
/// otherwise). Branches with nothing since their last tag are left out.
pub fn plan_releases(
    repo: &Path,
    train: &Train,
    branches: &[String],
    revision: &dyn Fn(&str) -> String,
) -> Result<Vec<ReleasePlan>, JobError> {
    let mut out = Vec::new();
    for b in train.branches.iter().filter(|b| {
        if branches.is_empty() {
            b.status != config::BranchStatus::Eol
        } else {
            branches.iter().any(|n| n == b.name.as_str())
        }
    }) {
        if let Some(p) = plan_branch(repo, train, b, &revision(b.name.as_str()))? {
            out.push(p);
        }
    }
    Ok(out)
}

fn git_err(e: impl std::fmt::Display) -> JobError {
    JobError::Git(e.to_string())
}

/// Tags of `branch` by the train's format, as (n, name), highest n last.
fn branch_tags(
    r: &git2::Repository,
    train: &Train,
    branch: &TrainBranch,
) -> Result<Vec<(u64, String)>, JobError> {
    let marker = train
        .tag_format
        .replace("{minor}", &branch.kubernetes.to_string());
    let (prefix, suffix) = marker.split_once("{n}").unwrap_or((&marker, ""));
    let mut tags: Vec<(u64, String)> = r
        .tag_names(None)
        .map_err(git_err)?
        .iter()
        .filter_map(|t| t.ok().flatten())
        .filter_map(|t| {
            let n = t.strip_prefix(prefix)?.strip_suffix(suffix)?;
            (!n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
                .then(|| n.parse().ok().map(|n| (n, t.to_string())))?
        })
        .collect();
    tags.sort();
    Ok(tags)
}

fn plan_branch(
    repo: &Path,
    train: &Train,
    branch: &TrainBranch,
    rev: &str,
) -> Result<Option<ReleasePlan>, JobError> {
    let r = git2::Repository::open(repo).map_err(git_err)?;
    let tip = match r.revparse_single(rev) {
        Ok(o) => o.peel_to_commit().map_err(git_err)?,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(git_err(e)),
    };
    let tags = branch_tags(&r, train, branch)?;
    let previous = tags.last().cloned();
    let mut walk = r.revwalk().map_err(git_err)?;
    walk.push(tip.id()).map_err(git_err)?;
    if let Some((_, name)) = &previous {
        let tagged = r
            .revparse_single(&format!("refs/tags/{name}"))
            .and_then(|o| o.peel_to_commit())
            .map_err(git_err)?;
        walk.hide(tagged.id()).map_err(git_err)?;
    }
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .map_err(git_err)?;
    let mut commits = Vec::new();
    for oid in walk {
        let c = r.find_commit(oid.map_err(git_err)?).map_err(git_err)?;
        commits.push(ChangeCommit {
            id: c.id().to_string(),
            subject: c.summary().ok().flatten().unwrap_or_default().to_string(),
        });
    }
    if commits.is_empty() {
        return Ok(None);
    }
    let n = previous.as_ref().map_or(0, |(n, _)| n + 1);
    let tag = train.tag_name(branch, n);
    let tip_id = tip.id().to_string();
    let tree = Tree::Commit {
        repo: repo.to_path_buf(),
        commit: tip_id.clone(),
        label: rev.to_string(),
    };
    let bundles = config::load_bundles(&tree)?;
    let mut versions: Vec<(String, String)> = bundles
        .loaded
        .iter()
        .map(|b| (b.bundle.name.to_string(), b.bundle.version.to_string()))
        .collect();
    versions.sort();
    let changes: Vec<Change> = commits
        .iter()
        .filter_map(|c| classify(&c.subject))
        .collect();
    let notes = notes(
        &tag,
        branch,
        previous.as_ref().map(|(_, t)| t.as_str()),
        &changes,
        &versions,
    );
    Ok(Some(ReleasePlan {
        branch: branch.name.to_string(),
        previous_tag: previous.map(|(_, t)| t),
        tag,
        commit: tip_id,
        changes,
        versions,
        notes,
    }))
}

/// Read a commit subject as a changelog line. Merge commits add nothing of their own.
pub fn classify(subject: &str) -> Option<Change> {
    if subject.starts_with("Merge ") {
        return None;
    }
    if let Some(rest) = subject.strip_prefix("chore(") {
        if let Some((addon, tail)) = rest.split_once("): bump ") {
            let tail = tail.split(" (").next().unwrap_or(tail);
            if let Some((from, to)) = tail.split_once(" → ") {
                return Some(Change::Bump {
                    addon: addon.to_string(),
                    from: from.trim().to_string(),
                    to: to.trim().to_string(),
                });
            }
        }
    }
    if subject.starts_with("[release-") || subject.contains("(backport") {
        return Some(Change::Backport {
            subject: subject.to_string(),
        });
    }
    Some(Change::Other {
        subject: subject.to_string(),
    })
}

fn notes(
    tag: &str,
    branch: &TrainBranch,
    previous: Option<&str>,
    changes: &[Change],
    versions: &[(String, String)],
) -> String {
    let mut m = format!(
        "## {tag}\n\nKubernetes {} · branch `{}`",
        branch.kubernetes, branch.name
    );
    match previous {
        Some(p) => m.push_str(&format!(" · changes since `{p}`\n")),
        None => m.push_str(" · first release of this branch\n"),
    }
    let bumps: Vec<String> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Bump { addon, from, to } => Some(format!("- **{addon}** {from} → {to}")),
            _ => None,
        })
        .collect();
    let backports: Vec<String> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Backport { subject } => Some(format!("- {subject}")),
            _ => None,
        })
        .collect();
    let other: Vec<String> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Other { subject } => Some(format!("- {subject}")),
            _ => None,
        })
        .collect();
    for (title, lines) in [
        ("Addon updates", bumps),
        ("Backports", backports),
        ("Other changes", other),
    ] {
        if !lines.is_empty() {
            m.push_str(&format!("\n### {title}\n\n{}\n", lines.join("\n")));
        }
    }
    m.push_str("\n### Addon versions\n\n| addon | version |\n|---|---|\n");
    for (a, v) in versions {
        m.push_str(&format!("| {a} | {v} |\n"));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_subjects_become_changelog_lines() {
        assert_eq!(
            classify("chore(cert-manager): bump v1.14.7 → v1.16.5"),
            Some(Change::Bump {
                addon: "cert-manager".into(),
                from: "v1.14.7".into(),
                to: "v1.16.5".into()
            })
        );
        assert_eq!(
            classify("chore(cert-manager): bump v1.14.7 → v1.15.5 (release-1.31)"),
            Some(Change::Bump {
                addon: "cert-manager".into(),
                from: "v1.14.7".into(),
                to: "v1.15.5".into()
            })
        );
        assert!(matches!(
            classify("[release-1.31] fix values (backport #12)"),
            Some(Change::Backport { .. })
        ));
        assert!(matches!(
            classify("docs: explain caps"),
            Some(Change::Other { .. })
        ));
        assert_eq!(classify("Merge pull request #3 from acme/x"), None);
    }
}

/// What releasing one branch did.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseOutcome {
    pub branch: String,
    pub tag: Option<String>,
    /// A new tag was created and pushed.
    pub tagged: bool,
    /// A GitHub release was created (for a new tag, or one a previous run left without one).
    pub released: bool,
    pub error: Option<String>,
}

/// Release `branches`: fetch the branch and the remote's tags, tag the tip if it changed since
/// the last tag (annotated, notes as message), push the tag (never forced), and make sure the
/// branch's latest tag has a GitHub release — which is how a run that died between pushing the
/// tag and creating the release is finished by the next one.
pub async fn execute(
    repo: &Path,
    branches: &[String],
    s: &super::publish::PublishSettings,
) -> Result<Vec<ReleaseOutcome>, JobError> {
    use crate::forge::GitHub;
    use crate::git::Remote;

    let remote = Remote::new(repo, &s.remote, Some(s.token.clone()));
    remote.fetch_tags().await.map_err(git_err)?;
    let train = config::load_train(repo)?;
    let forge = GitHub::new(&s.api_url, &s.repository, &s.token)
        .map_err(|e| JobError::Forge(e.to_string()))?;
    let names: Vec<String> = train
        .branches
        .iter()
        .filter(|b| {
            if branches.is_empty() {
                b.status != config::BranchStatus::Eol
            } else {
                branches.iter().any(|n| n == b.name.as_str())
            }
        })
        .map(|b| b.name.to_string())
        .collect();
    let mut out = Vec::new();
    for name in names {
        let mut o = ReleaseOutcome {
            branch: name.clone(),
            tag: None,
            tagged: false,
            released: false,
            error: None,
        };
        if let Err(e) = release_branch(repo, &train, &name, s, &remote, &forge, &mut o).await {
            o.error = Some(e);
        }
        out.push(o);
    }
    Ok(out)
}

async fn release_branch(
    repo: &Path,
    train: &Train,
    name: &str,
    s: &super::publish::PublishSettings,
    remote: &crate::git::Remote,
    forge: &crate::forge::GitHub,
    o: &mut ReleaseOutcome,
) -> Result<(), String> {
    // A branch the remote does not have (not cut yet) has nothing to release; any other
    // failure is an error, not a silent skip.
    let exists = remote
        .branches(name)
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .any(|(b, _)| b == name);
    if !exists {
        return Ok(());
    }
    remote.fetch(&[name]).await.map_err(|e| e.to_string())?;
    let rev = format!("refs/remotes/{}/{name}", s.remote);
    let branch = train
        .branch(name)
        .expect("names come from the train")
        .clone();
    let plan = {
        let (repo, train, rev, branch) = (
            repo.to_path_buf(),
            train.clone(),
            rev.clone(),
            branch.clone(),
        );
        tokio::task::spawn_blocking(move || plan_branch(&repo, &train, &branch, &rev))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    let (tag, notes) = match plan {
        Some(p) => {
            let (repo, tag, commit, notes, who) = (
                repo.to_path_buf(),
                p.tag.clone(),
                p.commit.clone(),
                p.notes.clone(),
                s.identity.clone(),
            );
            tokio::task::spawn_blocking(move || {
                crate::git::create_tag(&repo, &tag, &commit, &notes, &who)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            remote.push_tag(&p.tag).await.map_err(|e| match e {
                crate::git::RemoteError::Stale { .. } => format!(
                    "tag {} already exists on {} and points elsewhere; tags are never moved",
                    p.tag, s.remote
                ),
                other => other.to_string(),
            })?;
            o.tagged = true;
            (p.tag, p.notes)
        }
        None => {
            // Nothing new: finish the latest tag's release if a previous run did not.
            let r = git2::Repository::open(repo).map_err(|e| e.to_string())?;
            let Some((_, latest)) = branch_tags(&r, train, &branch)
                .map_err(|e| e.to_string())?
                .pop()
            else {
                return Ok(());
            };
            let notes =
                crate::git::tag_message(repo, &latest).unwrap_or_else(|| format!("## {latest}\n"));
            (latest, notes)
        }
    };
    o.tag = Some(tag.clone());
    if !forge
        .release_exists(&tag)
        .await
        .map_err(|e| e.to_string())?
    {
        forge
            .create_release(&tag, &tag, &notes)
            .await
            .map_err(|e| e.to_string())?;
        o.released = true;
    }
    Ok(())
}
