//! The release plan: for each branch, the next tag and its notes, or the release a previous
//! run did not publish. Pure over git data plus (when GitHub can be read) whether releases
//! exist; nothing is tagged or pushed here.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{self, TrainBranch};
use crate::git::Tree;
use crate::jobs::JobError;
use crate::report::{self, NoteBump, NoteVersion, ReleaseNotes};
use crate::workspace::{blocking, View, Workspace};

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

/// What releasing a branch needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseAction {
    /// Tag the tip (annotated, the notes as message), push the tag, publish its release.
    Tag,
    /// The latest tag exists but its GitHub release does not: publish it.
    Publish,
    /// The latest tag and its release exist: nothing to do.
    Released,
}

/// What releasing one branch would do.
#[derive(Debug, Clone, Serialize)]
pub struct BranchRelease {
    pub branch: String,
    pub action: ReleaseAction,
    pub previous_tag: Option<String>,
    pub tag: String,
    /// The commit the tag points at (the branch tip, for a new tag).
    pub commit: String,
    pub changes: Vec<Change>,
    /// (addon, version) at the commit.
    pub versions: Vec<(String, String)>,
    /// Each CRD that changed since the previous tag, with its verdict (in the notes).
    #[serde(skip)]
    pub crds: CrdNotes,
    pub notes: String,
}

/// What the notes say of CRDs changed since the previous tag.
#[derive(Debug, Clone, Default)]
pub struct CrdNotes {
    /// `**kube-prometheus-stack** `alertmanagers.monitoring.coreos.com`: breaking (5 breaking,
    /// 30 additive)`, or why they could not be compared.
    pub lines: Vec<String>,
    pub breaking: bool,
}

/// The CRDs changed between the previous tag and the new one, as tenants moving between them
/// get them (the same classification as `diff`). A failure to compare is one line: the notes
/// never stop a release.
fn crd_notes(repo: &std::path::Path, previous: &str, tip: &str) -> CrdNotes {
    match crate::jobs::diff::tag_diff(repo, previous, tip) {
        Err(e) => CrdNotes {
            lines: vec![format!("could not be compared with `{previous}`: {e}")],
            breaking: false,
        },
        Ok(d) => {
            let mut out = CrdNotes::default();
            for (addon, c) in d.crds() {
                out.breaking |= c.is_breaking();
                out.lines
                    .push(format!("**{addon}** {}", report::crd::verdict_line(c)));
            }
            out
        }
    }
}

/// Every branch that has something to release.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ReleasePlan {
    /// Whether GitHub was read (otherwise releases of existing tags are not known).
    pub releases_looked_up: bool,
    pub branches: Vec<BranchRelease>,
}

/// Plan releases for `branches` (all non-eol when empty), reading each branch where the
/// remote has it (fetched, with the remote's tags, when acting). Branches with nothing since
/// their last tag are left out, unless that tag's release is missing.
pub async fn plan(ws: &Workspace, branches: &[String]) -> Result<ReleasePlan, JobError> {
    let selected = ws.select_branches(branches)?;
    if ws.view() == (View::Remote { fetched: true }) {
        let remote = ws.remote();
        let git = |e: crate::git::RemoteError| JobError::Git(e.to_string());
        remote.fetch_tags().await.map_err(git)?;
        // A branch the remote does not have (not cut yet) has nothing to release.
        let heads = remote.branches("").await.map_err(git)?;
        let names: Vec<&str> = selected
            .iter()
            .map(|b| b.name.as_str())
            .filter(|n| heads.iter().any(|(h, _)| h == n))
            .collect();
        if !names.is_empty() {
            remote.fetch(&names).await.map_err(git)?;
        }
    }
    let mut out = ReleasePlan {
        releases_looked_up: ws.forge().is_some(),
        branches: Vec::new(),
    };
    for b in selected {
        let (repo, train, rev) = (
            ws.repo().to_path_buf(),
            ws.train.clone(),
            ws.remote_ref(b.name.as_str()),
        );
        let branch = b.clone();
        let planned = blocking(move || plan_branch(&repo, &train, &branch, &rev)).await?;
        let Some(mut p) = planned else { continue };
        if p.action != ReleaseAction::Tag {
            match ws.forge() {
                None => continue,
                Some(forge) => {
                    let exists = forge
                        .release_exists(&p.tag)
                        .await
                        .map_err(|e| JobError::Forge(format!("{}: {e}", b.name)))?;
                    p.action = if exists {
                        ReleaseAction::Released
                    } else {
                        ReleaseAction::Publish
                    };
                }
            }
        }
        out.branches.push(p);
    }
    // Notes of new tags end with the train's matrix, showing the tags about to be created.
    let tagged: BTreeMap<String, String> = out
        .branches
        .iter()
        .filter(|p| p.action == ReleaseAction::Tag)
        .map(|p| (p.branch.clone(), p.tag.clone()))
        .collect();
    if tagged.is_empty() {
        return Ok(out);
    }
    let matrix = supported_versions(ws, &tagged).await;
    for p in out
        .branches
        .iter_mut()
        .filter(|p| p.action == ReleaseAction::Tag)
    {
        let branch = ws.branch(&p.branch)?;
        p.notes = notes(
            &p.tag,
            branch,
            p.previous_tag.as_deref(),
            &p.changes,
            &p.crds,
            &p.versions,
            matrix.as_deref(),
        )
        .map_err(|e| JobError::Internal(e.to_string()))?;
    }
    Ok(out)
}

/// The supported-versions matrix of every branch that is not eol, as Markdown, with `tagged`'s
/// new tags. What it could not look up is logged; when it cannot be built at all, the notes go
/// without it rather than the release failing.
async fn supported_versions(ws: &Workspace, tagged: &BTreeMap<String, String>) -> Option<String> {
    let built = match ws.select_branches(&[]) {
        Ok(branches) => crate::jobs::matrix::build(ws, &branches, tagged).await,
        Err(e) => Err(e),
    };
    let (matrix, problems) = match built {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("release notes go without the version matrix: {e}");
            return None;
        }
    };
    for p in problems {
        tracing::warn!("version matrix: {p}");
    }
    match crate::jobs::matrix::markdown(&matrix) {
        Ok(md) => Some(md),
        Err(e) => {
            tracing::warn!("release notes go without the version matrix: {e}");
            None
        }
    }
}

fn git_err(e: impl std::fmt::Display) -> JobError {
    JobError::Git(e.to_string())
}

/// The latest tag of `branch` by the train's format (the one the next release counts from),
/// if any; `None` too when `repo` is not a git repository. Blocking (git2).
pub fn latest_tag(
    repo: &std::path::Path,
    train: &config::Train,
    branch: &TrainBranch,
) -> Result<Option<String>, JobError> {
    let r = match git2::Repository::open(repo) {
        Ok(r) => r,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(git_err(e)),
    };
    Ok(branch_tags(&r, train, branch)?.pop().map(|(_, name)| name))
}

/// Tags of `branch` by the train's format, as (n, name), highest n last.
fn branch_tags(
    r: &git2::Repository,
    train: &config::Train,
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

/// The next tag of `branch` read at `rev`, or, with nothing new, its latest tag (action
/// `Released` until GitHub says otherwise). `None`: the branch does not exist at `rev`, or has
/// neither tags nor commits.
fn plan_branch(
    repo: &std::path::Path,
    train: &config::Train,
    branch: &TrainBranch,
    rev: &str,
) -> Result<Option<BranchRelease>, JobError> {
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
    let mut tagged_commit = None;
    if let Some((_, name)) = &previous {
        let tagged = r
            .revparse_single(&format!("refs/tags/{name}"))
            .and_then(|o| o.peel_to_commit())
            .map_err(git_err)?;
        walk.hide(tagged.id()).map_err(git_err)?;
        tagged_commit = Some(tagged.id().to_string());
    }
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .map_err(git_err)?;
    let mut subjects = Vec::new();
    for oid in walk {
        let c = r.find_commit(oid.map_err(git_err)?).map_err(git_err)?;
        subjects.push(c.summary().ok().flatten().unwrap_or_default().to_string());
    }
    if subjects.is_empty() {
        // Nothing new: the latest tag may still lack its release.
        let (Some((_, latest)), Some(commit)) = (previous, tagged_commit) else {
            return Ok(None);
        };
        let notes =
            crate::git::tag_message(repo, &latest).unwrap_or_else(|| format!("## {latest}\n"));
        return Ok(Some(BranchRelease {
            branch: branch.name.to_string(),
            action: ReleaseAction::Released,
            previous_tag: None,
            tag: latest,
            commit,
            changes: Vec::new(),
            versions: Vec::new(),
            crds: CrdNotes::default(),
            notes,
        }));
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
    let changes: Vec<Change> = subjects.iter().filter_map(|s| classify(s)).collect();
    let previous_tag = previous.map(|(_, t)| t);
    let crds = previous_tag
        .as_deref()
        .map(|p| crd_notes(repo, p, &tip_id))
        .unwrap_or_default();
    Ok(Some(BranchRelease {
        branch: branch.name.to_string(),
        action: ReleaseAction::Tag,
        previous_tag,
        tag,
        commit: tip_id,
        changes,
        versions,
        crds,
        // Written by `plan` once every branch's next tag is known (the matrix shows them).
        notes: String::new(),
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
    crds: &CrdNotes,
    versions: &[(String, String)],
    matrix: Option<&str>,
) -> Result<String, report::TemplateError> {
    let kube = branch.kubernetes.to_string();
    let subjects = |want: fn(&Change) -> Option<&str>| changes.iter().filter_map(want).collect();
    report::release_notes(&ReleaseNotes {
        tag,
        kube: &kube,
        branch: branch.name.as_str(),
        previous,
        bumps: changes
            .iter()
            .filter_map(|c| match c {
                Change::Bump { addon, from, to } => Some(NoteBump { addon, from, to }),
                _ => None,
            })
            .collect(),
        crds: crds.lines.iter().map(String::as_str).collect(),
        crd_breaking: crds.breaking,
        backports: subjects(|c| match c {
            Change::Backport { subject } => Some(subject),
            _ => None,
        }),
        other: subjects(|c| match c {
            Change::Other { subject } => Some(subject),
            _ => None,
        }),
        versions: versions
            .iter()
            .map(|(addon, version)| NoteVersion { addon, version })
            .collect(),
        matrix,
    })
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

    #[test]
    fn notes_group_changes_and_list_versions() {
        let train =
            config::branches_for_tests("[main]\nkubernetes = \"1.33\"\nkind_image = \"k\"\n");
        let changes = [
            classify("chore(cert-manager): bump v1.14.7 → v1.16.5"),
            classify("[release-1.33] fix values (backport #12)"),
            classify("docs: explain caps"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
        let versions = [("cert-manager".to_string(), "v1.16.5".to_string())];
        let crds = CrdNotes {
            lines: vec![
                "**cert-manager** `certificates.cert-manager.io`: additive only (2 changes)".into(),
                "**kube-prometheus-stack** `probes.monitoring.coreos.com`: breaking (13 breaking, 14 additive)".into(),
            ],
            breaking: true,
        };
        let text = notes(
            "v1.33.1",
            train.main(),
            Some("v1.33.0"),
            &changes,
            &crds,
            &versions,
            None,
        )
        .expect("renders");
        insta::assert_snapshot!(text, @r"
        ## v1.33.1

        Kubernetes 1.33 · branch `main` · changes since `v1.33.0`

        ### Addon updates

        - **cert-manager** v1.14.7 → v1.16.5

        ### CRD changes

        > [!WARNING]
        > Some CRD changes may break custom resources that already exist: they may be rejected, pruned or read differently. `ake-bot diff v1.33.0 v1.33.1` names every path and change.

        - **cert-manager** `certificates.cert-manager.io`: additive only (2 changes)
        - **kube-prometheus-stack** `probes.monitoring.coreos.com`: breaking (13 breaking, 14 additive)

        ### Backports

        - [release-1.33] fix values (backport #12)

        ### Other changes

        - docs: explain caps

        ### Addon versions

        | addon | version |
        |---|---|
        | cert-manager | v1.16.5 |
        ");
    }

    #[test]
    fn notes_end_with_the_supported_versions_matrix() {
        use crate::jobs::matrix::{Cell, Matrix, MatrixAddon, MatrixBranch};
        let train =
            config::branches_for_tests("[main]\nkubernetes = \"1.33\"\nkind_image = \"k\"\n");
        let matrix = Matrix {
            branches: vec![MatrixBranch {
                name: "main".into(),
                kubernetes: "1.33".into(),
                status: config::BranchStatus::Maintained,
                tag: Some("v1.33.0".into()),
            }],
            addons: vec![MatrixAddon {
                name: "cert-manager".into(),
                deploy_to: config::DeployTarget::Tenant,
                cells: vec![(
                    "main".into(),
                    Cell {
                        chart_version: "v1.14.7".into(),
                        app_version: Some("v1.14.7".into()),
                    },
                )],
            }],
        };
        let md = crate::jobs::matrix::markdown(&matrix).expect("renders");
        let versions = [("cert-manager".to_string(), "v1.14.7".to_string())];
        let text = notes(
            "v1.33.0",
            train.main(),
            None,
            &[],
            &CrdNotes::default(),
            &versions,
            Some(&md),
        )
        .expect("renders");
        insta::assert_snapshot!(text, @r"
        ## v1.33.0

        Kubernetes 1.33 · branch `main` · first release of this branch

        ### Addon versions

        | addon | version |
        |---|---|
        | cert-manager | v1.14.7 |

        ### Supported versions

        | addon | deployed to | `main`<br>Kubernetes 1.33<br>v1.33.0 |
        |---|---|---|
        | cert-manager | tenant | v1.14.7 (app v1.14.7) |
        ");
    }
}
