//! Cherry-picks in memory (git-branchless' way): the change a commit made is merged onto
//! another commit's tree in an in-memory index, nothing on disk moves, and conflicts come back
//! as data, not as a half-applied work tree.

use std::path::{Path, PathBuf};

use super::write::{FileChange, WriteError};

/// What picking a commit onto another gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    /// The files to write on top of the target so it holds the change (paths `keep_ours`
    /// accepts are never among them). A conflicted file is here with git's conflict markers.
    pub changes: Vec<FileChange>,
    /// Paths that conflicted and were not resolved: a person must finish these.
    pub conflicts: Vec<PathBuf>,
    /// Paths that conflicted but were resolved by keeping the target's side (generated files
    /// the caller will regenerate).
    pub resolved: Vec<PathBuf>,
}

/// A commit as a change on main: its message and author, and its parent on the main line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSummary {
    pub id: String,
    /// The first line of the message.
    pub subject: String,
    pub author_email: String,
    /// The first parent (the main line, for a merge commit).
    pub parent: Option<String>,
}

fn err(repo: &Path, doing: impl Into<String>) -> impl FnOnce(git2::Error) -> WriteError {
    let (repo, doing) = (repo.to_path_buf(), doing.into());
    move |source| WriteError::Git {
        repo,
        doing,
        source,
    }
}

/// Pick the change `commit` made (against its first parent) onto `onto`. Paths for which
/// `keep_ours` is true (generated files, main-only config) keep `onto`'s content whatever the
/// commit did to them, and their conflicts count as resolved.
pub fn cherry_pick(
    repo: &Path,
    commit: &str,
    onto: &str,
    keep_ours: &dyn Fn(&str) -> bool,
) -> Result<Pick, WriteError> {
    let r = git2::Repository::open(repo).map_err(err(repo, "opening the repository"))?;
    let find = |id: &str| {
        git2::Oid::from_str(id)
            .and_then(|oid| r.find_commit(oid))
            .map_err(err(repo, format!("reading commit {id}")))
    };
    let (pick, ours) = (find(commit)?, find(onto)?);
    // A merge commit is picked as the change it brought to its first parent (the main line).
    let mainline = if pick.parent_count() > 1 { 1 } else { 0 };
    let mut index = r
        .cherrypick_commit(&pick, &ours, mainline, None)
        .map_err(err(repo, format!("cherry-picking {commit} onto {onto}")))?;

    let (mut conflicts, mut resolved) = (Vec::new(), Vec::new());
    let mut marked: Vec<(String, Vec<u8>)> = Vec::new();
    let conflicted: Vec<git2::IndexConflict> = index
        .conflicts()
        .map_err(err(repo, "reading conflicts"))?
        .collect::<Result<_, _>>()
        .map_err(err(repo, "reading conflicts"))?;
    for c in conflicted {
        let any = c
            .our
            .as_ref()
            .or(c.their.as_ref())
            .or(c.ancestor.as_ref())
            .expect("a conflict has at least one side");
        let path = String::from_utf8_lossy(&any.path).into_owned();
        index
            .conflict_remove(Path::new(&path))
            .map_err(err(repo, format!("resolving {path}")))?;
        if keep_ours(&path) {
            if let Some(mut e) = c.our {
                e.flags &= !STAGE_MASK;
                index
                    .add(&e)
                    .map_err(err(repo, format!("resolving {path}")))?;
            }
            resolved.push(PathBuf::from(path));
            continue;
        }
        // Source files: what git would leave in a work tree, markers and all, so the draft PR
        // shows the conflict and the person finishing it sees both sides.
        let content = match (&c.ancestor, &c.our, &c.their) {
            (anc, Some(o), Some(t)) => {
                let mut opts = git2::MergeFileOptions::new();
                opts.our_label(onto)
                    .their_label(commit)
                    .ancestor_label("base");
                let merged = r
                    .merge_file_from_index(anc.as_ref().unwrap_or(o), o, t, Some(&mut opts))
                    .map_err(err(repo, format!("merging {path}")))?;
                Some(merged.content().to_vec())
            }
            // Modified on one side, deleted on the other: keep what exists.
            (_, Some(o), None) => Some(blob(&r, repo, o.id)?),
            (_, None, Some(t)) => Some(blob(&r, repo, t.id)?),
            (_, None, None) => None,
        };
        if let Some(bytes) = content {
            marked.push((path.clone(), bytes));
        }
        conflicts.push(PathBuf::from(path));
    }
    let tree_id = index
        .write_tree_to(&r)
        .map_err(err(repo, "writing the picked tree"))?;
    let new_tree = r
        .find_tree(tree_id)
        .map_err(err(repo, "reading the tree"))?;
    let old_tree = ours.tree().map_err(err(repo, "reading the target tree"))?;
    let diff = r
        .diff_tree_to_tree(Some(&old_tree), Some(&new_tree), None)
        .map_err(err(repo, "comparing trees"))?;
    let mut changes = Vec::new();
    for d in diff.deltas() {
        // No rename detection: each delta is one path, added, changed or deleted.
        let new = d.new_file();
        let Some(p) = new.path().or(d.old_file().path()).and_then(Path::to_str) else {
            continue;
        };
        if keep_ours(p) {
            continue;
        }
        let content = if new.id().is_zero() {
            None
        } else {
            Some(blob(&r, repo, new.id())?)
        };
        changes.push(FileChange {
            path: PathBuf::from(p),
            content,
        });
    }
    for (path, bytes) in marked {
        changes.retain(|c| c.path != Path::new(&path));
        changes.push(FileChange {
            path: PathBuf::from(path),
            content: Some(bytes),
        });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Pick {
        changes,
        conflicts,
        resolved,
    })
}

/// Index entry flags: bits 12–13 hold the conflict stage.
const STAGE_MASK: u16 = 0x3000;

fn blob(r: &git2::Repository, repo: &Path, id: git2::Oid) -> Result<Vec<u8>, WriteError> {
    Ok(r.find_blob(id)
        .map_err(err(repo, format!("reading blob {id}")))?
        .content()
        .to_vec())
}

/// The paths `commit` changed against its first parent (both sides of a rename).
pub fn changed_paths(repo: &Path, commit: &str) -> Result<Vec<String>, WriteError> {
    let r = git2::Repository::open(repo).map_err(err(repo, "opening the repository"))?;
    let c = git2::Oid::from_str(commit)
        .and_then(|oid| r.find_commit(oid))
        .map_err(err(repo, format!("reading commit {commit}")))?;
    let new = c.tree().map_err(err(repo, "reading a tree"))?;
    let old = match c.parent(0) {
        Ok(p) => Some(p.tree().map_err(err(repo, "reading a tree"))?),
        Err(_) => None,
    };
    let diff = r
        .diff_tree_to_tree(old.as_ref(), Some(&new), None)
        .map_err(err(repo, "comparing trees"))?;
    let mut out: Vec<String> = Vec::new();
    for d in diff.deltas() {
        for f in [d.old_file(), d.new_file()] {
            if let Some(p) = f.path().and_then(Path::to_str) {
                if !out.iter().any(|o| o == p) {
                    out.push(p.to_string());
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Summaries of `rev` (a commit id or ref).
pub fn commit_summary(repo: &Path, rev: &str) -> Result<Option<CommitSummary>, WriteError> {
    let r = git2::Repository::open(repo).map_err(err(repo, "opening the repository"))?;
    let obj = match r.revparse_single(rev) {
        Ok(o) => o,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(err(repo, format!("resolving {rev}"))(e)),
    };
    let c = obj
        .peel_to_commit()
        .map_err(err(repo, format!("resolving {rev}")))?;
    Ok(Some(summary(&c)))
}

fn summary(c: &git2::Commit) -> CommitSummary {
    CommitSummary {
        id: c.id().to_string(),
        subject: c
            .summary_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
        author_email: c.author().email().unwrap_or("").to_string(),
        parent: c.parent_id(0).ok().map(|p| p.to_string()),
    }
}

/// The commits on `head`'s first-parent line after `since` (exclusive), oldest first, at most
/// `limit`. `since` must be an ancestor of `head`: anything else (a force-push rewrote main)
/// is an error rather than a guess.
pub fn first_parent_since(
    repo: &Path,
    since: &str,
    head: &str,
    limit: usize,
) -> Result<Vec<CommitSummary>, WriteError> {
    let r = git2::Repository::open(repo).map_err(err(repo, "opening the repository"))?;
    let resolve = |rev: &str| {
        r.revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(err(repo, format!("resolving {rev}")))
    };
    let (from, to) = (resolve(since)?, resolve(head)?);
    let is_ancestor = from.id() == to.id()
        || r.graph_descendant_of(to.id(), from.id())
            .map_err(err(repo, "walking history"))?;
    if !is_ancestor {
        return Err(err(repo, format!("walking {since}..{head}"))(
            git2::Error::from_str(&format!("{since} is not an ancestor of {head}")),
        ));
    }
    let mut out = Vec::new();
    let mut cur = to;
    while cur.id() != from.id() {
        out.push(summary(&cur));
        if out.len() > limit {
            return Err(err(repo, format!("walking {since}..{head}"))(
                git2::Error::from_str(&format!("more than {limit} commits; pass --commit")),
            ));
        }
        cur = cur.parent(0).map_err(err(repo, "walking history"))?;
    }
    out.reverse();
    Ok(out)
}
