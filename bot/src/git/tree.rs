//! Read files from a work tree or from a commit, with one interface, so config and committed
//! renders of any branch load the same way without touching the user's checkout.

use std::path::{Path, PathBuf};

/// A failure reading from git or the file system.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("could not read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("git error reading {what} in {repo}: {source}")]
    Git {
        repo: PathBuf,
        what: String,
        #[source]
        source: git2::Error,
    },
    #[error("{path} in {at} is not valid UTF-8")]
    NotUtf8 { path: PathBuf, at: String },
}

/// Where config is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tree {
    /// Files on disk under this directory (the user's checkout).
    Dir(PathBuf),
    /// The tree of a commit, read through git2; `label` names it for messages
    /// (`origin/release-1.31`).
    Commit {
        repo: PathBuf,
        commit: String,
        label: String,
    },
}

impl Tree {
    /// Human name for messages.
    pub fn label(&self) -> String {
        match self {
            Tree::Dir(d) => d.display().to_string(),
            Tree::Commit { label, .. } => label.clone(),
        }
    }

    /// The file at `rel`, or `None` if it does not exist.
    pub fn read(&self, rel: &Path) -> Result<Option<String>, TreeError> {
        match self {
            Tree::Dir(root) => {
                let path = root.join(rel);
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        String::from_utf8(bytes)
                            .map(Some)
                            .map_err(|_| TreeError::NotUtf8 {
                                path: rel.to_path_buf(),
                                at: self.label(),
                            })
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(TreeError::Io { path, source }),
                }
            }
            Tree::Commit { repo, commit, .. } => {
                let git = |what: &str| {
                    let repo = repo.clone();
                    let what = what.to_string();
                    move |source| TreeError::Git { repo, what, source }
                };
                let r = git2::Repository::open(repo).map_err(git("repository"))?;
                let oid = git2::Oid::from_str(commit).map_err(git(commit))?;
                let tree = r
                    .find_commit(oid)
                    .and_then(|c| c.tree())
                    .map_err(git(commit))?;
                let entry = match tree.get_path(rel) {
                    Ok(e) => e,
                    Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
                    Err(e) => return Err(git(&rel.display().to_string())(e)),
                };
                let obj = entry
                    .to_object(&r)
                    .map_err(git(&rel.display().to_string()))?;
                let Some(blob) = obj.as_blob() else {
                    return Ok(None);
                };
                String::from_utf8(blob.content().to_vec())
                    .map(Some)
                    .map_err(|_| TreeError::NotUtf8 {
                        path: rel.to_path_buf(),
                        at: self.label(),
                    })
            }
        }
    }

    pub fn exists(&self, rel: &Path) -> bool {
        match self {
            Tree::Dir(root) => root.join(rel).exists(),
            Tree::Commit { .. } => matches!(self.read(rel), Ok(Some(_))),
        }
    }

    /// Every file under the directory `rel` (recursively) with its text, paths relative to the
    /// tree's root, sorted; empty when `rel` does not exist.
    pub fn files_under(&self, rel: &Path) -> Result<Vec<(PathBuf, String)>, TreeError> {
        let mut paths = Vec::new();
        match self {
            Tree::Dir(root) => {
                let mut stack = vec![rel.to_path_buf()];
                while let Some(d) = stack.pop() {
                    let dir = root.join(&d);
                    let rd = match std::fs::read_dir(&dir) {
                        Ok(rd) => rd,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(source) => return Err(TreeError::Io { path: dir, source }),
                    };
                    for entry in rd {
                        let entry = entry.map_err(|source| TreeError::Io {
                            path: dir.clone(),
                            source,
                        })?;
                        let p = d.join(entry.file_name());
                        match entry.file_type() {
                            Ok(t) if t.is_dir() => stack.push(p),
                            Ok(t) if t.is_file() => paths.push(p),
                            _ => {}
                        }
                    }
                }
            }
            Tree::Commit { repo, commit, .. } => {
                let walked = with_subtree(repo, commit, rel, |t| {
                    t.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                        if entry.kind() == Some(git2::ObjectType::Blob) {
                            paths.push(
                                rel.join(dir)
                                    .join(String::from_utf8_lossy(entry.name_bytes()).as_ref()),
                            );
                        }
                        git2::TreeWalkResult::Ok
                    })
                })?;
                if let Some(Err(source)) = walked {
                    return Err(TreeError::Git {
                        repo: repo.clone(),
                        what: rel.display().to_string(),
                        source,
                    });
                }
            }
        }
        paths.sort();
        let mut out = Vec::new();
        for p in paths {
            if let Some(text) = self.read(&p)? {
                out.push((p, text));
            }
        }
        Ok(out)
    }

    /// Names of the sub-directories of `rel`, sorted.
    pub fn subdirs(&self, rel: &Path) -> Result<Vec<String>, TreeError> {
        let mut out = Vec::new();
        match self {
            Tree::Dir(root) => {
                let dir = root.join(rel);
                let rd = match std::fs::read_dir(&dir) {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                    Err(source) => return Err(TreeError::Io { path: dir, source }),
                };
                for entry in rd {
                    let entry = entry.map_err(|source| TreeError::Io {
                        path: dir.clone(),
                        source,
                    })?;
                    if entry.path().is_dir() {
                        out.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            Tree::Commit { repo, commit, .. } => {
                with_subtree(repo, commit, rel, |t| {
                    for e in t.iter() {
                        if e.kind() == Some(git2::ObjectType::Tree) {
                            out.push(String::from_utf8_lossy(e.name_bytes()).into_owned());
                        }
                    }
                })?;
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Run `f` on the tree at `rel` in `commit` of `repo`; `None` when `rel` is not there or is
/// not a directory.
fn with_subtree<T>(
    repo: &Path,
    commit: &str,
    rel: &Path,
    f: impl FnOnce(&git2::Tree<'_>) -> T,
) -> Result<Option<T>, TreeError> {
    let git = |source| TreeError::Git {
        repo: repo.to_path_buf(),
        what: rel.display().to_string(),
        source,
    };
    let r = git2::Repository::open(repo).map_err(git)?;
    let oid = git2::Oid::from_str(commit).map_err(git)?;
    let root = r.find_commit(oid).and_then(|c| c.tree()).map_err(git)?;
    let sub = match root.get_path(rel) {
        Ok(e) => e.to_object(&r).map_err(git)?,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(git(e)),
    };
    Ok(sub.as_tree().map(f))
}

/// The commit `refname` (`refs/heads/x`, `refs/remotes/origin/x`) points at, as a tree
/// labelled `label`. `Ok(None)` when `repo` is not a git repository or has no such ref.
pub fn branch_tree(repo: &Path, refname: &str, label: &str) -> Result<Option<Tree>, TreeError> {
    let r = match git2::Repository::open(repo) {
        Ok(r) => r,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(source) => {
            return Err(TreeError::Git {
                repo: repo.to_path_buf(),
                what: "repository".into(),
                source,
            })
        }
    };
    let Ok(reference) = r.find_reference(refname) else {
        return Ok(None);
    };
    let commit = reference
        .peel_to_commit()
        .map_err(|source| TreeError::Git {
            repo: repo.to_path_buf(),
            what: refname.to_string(),
            source,
        })?;
    Ok(Some(Tree::Commit {
        repo: repo.to_path_buf(),
        commit: commit.id().to_string(),
        label: label.to_string(),
    }))
}

/// The branch checked out in `repo`'s work tree, if it is a git repository on a branch.
pub fn current_branch(repo: &Path) -> Option<String> {
    let r = git2::Repository::open(repo).ok()?;
    let head = r.head().ok()?;
    if !head.is_branch() {
        return None;
    }
    head.shorthand().ok().map(str::to_string)
}

/// Write the regular files of `commit`'s tree in `repo` under `dest` (a fresh directory), for
/// tools that need files on disk (helm, kustomize). Symlinks and submodules are left out: a
/// tenant's symlink must not make the bot read outside the checkout. Returns the files
/// written, relative to `dest`, sorted.
pub fn export(repo: &Path, commit: &str, dest: &Path) -> Result<Vec<PathBuf>, TreeError> {
    let git = |what: &str| {
        let (repo, what) = (repo.to_path_buf(), what.to_string());
        move |source| TreeError::Git { repo, what, source }
    };
    let r = git2::Repository::open(repo).map_err(git("repository"))?;
    let oid = git2::Oid::from_str(commit).map_err(git(commit))?;
    let tree = r
        .find_commit(oid)
        .and_then(|c| c.tree())
        .map_err(git(commit))?;
    let mut files = Vec::new();
    let mut failed: Option<TreeError> = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        let regular = matches!(entry.filemode(), 0o100644 | 0o100755);
        if entry.kind() != Some(git2::ObjectType::Blob) || !regular {
            return git2::TreeWalkResult::Ok;
        }
        let rel = PathBuf::from(dir).join(String::from_utf8_lossy(entry.name_bytes()).as_ref());
        let path = dest.join(&rel);
        let written = entry
            .to_object(&r)
            .map_err(git(&rel.display().to_string()))
            .and_then(|o| {
                let blob = o.peel_to_blob().map_err(git(&rel.display().to_string()))?;
                let io = |source| TreeError::Io {
                    path: path.clone(),
                    source,
                };
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io)?;
                }
                std::fs::write(&path, blob.content()).map_err(io)
            });
        match written {
            Ok(()) => {
                files.push(rel);
                git2::TreeWalkResult::Ok
            }
            Err(e) => {
                failed = Some(e);
                git2::TreeWalkResult::Abort
            }
        }
    })
    .map_err(git("tree walk"))
    .or_else(|e| if failed.is_some() { Ok(()) } else { Err(e) })?;
    if let Some(e) = failed {
        return Err(e);
    }
    files.sort();
    Ok(files)
}
