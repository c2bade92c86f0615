//! Creating commits without a work tree: blobs and trees are written straight into the object
//! database on top of a base commit, and no ref, index or file of the user's checkout moves.

use std::path::{Path, PathBuf};

/// A file to write into the new commit's tree, or remove from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: PathBuf,
    /// `None` removes the file.
    pub content: Option<Vec<u8>>,
}

/// Who the bot commits as (from config; never the user's git identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

/// A commit's id, tree and first parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: String,
    pub tree: String,
    pub parent: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("git error {doing} in {repo}: {source}")]
    Git {
        repo: PathBuf,
        doing: String,
        #[source]
        source: git2::Error,
    },
    #[error("{path} is not a valid path inside the repository")]
    BadPath { path: PathBuf },
    #[error(
        "tag {name} already exists and points at {points_at}, not {wanted}; tags are never moved"
    )]
    TagExists {
        name: String,
        points_at: String,
        wanted: String,
    },
}

/// Commit `changes` on top of `base` (a commit id) with `message`, moving no ref.
pub fn commit_on(
    repo: &Path,
    base: &str,
    changes: &[FileChange],
    message: &str,
    who: &Identity,
) -> Result<CommitInfo, WriteError> {
    let git = |doing: &str| {
        let (repo, doing) = (repo.to_path_buf(), doing.to_string());
        move |source| WriteError::Git {
            repo,
            doing,
            source,
        }
    };
    let r = git2::Repository::open(repo).map_err(git("opening the repository"))?;
    let base_commit = git2::Oid::from_str(base)
        .and_then(|oid| r.find_commit(oid))
        .map_err(git(&format!("reading base commit {base}")))?;
    let base_tree = base_commit.tree().map_err(git("reading the base tree"))?;
    let mut update = git2::build::TreeUpdateBuilder::new();
    for c in changes {
        let p = c
            .path
            .to_str()
            .filter(|p| is_clean_relative(p))
            .ok_or_else(|| WriteError::BadPath {
                path: c.path.clone(),
            })?;
        match &c.content {
            Some(bytes) => {
                let blob = r.blob(bytes).map_err(git(&format!("writing {p}")))?;
                update.upsert(p, blob, git2::FileMode::Blob);
            }
            None => {
                update.remove(p);
            }
        }
    }
    let tree_id = update
        .create_updated(&r, &base_tree)
        .map_err(git("building the tree"))?;
    let tree = r.find_tree(tree_id).map_err(git("reading the new tree"))?;
    let sig = git2::Signature::now(&who.name, &who.email).map_err(git("making the signature"))?;
    let id = r
        .commit(None, &sig, &sig, message, &tree, &[&base_commit])
        .map_err(git("creating the commit"))?;
    Ok(CommitInfo {
        id: id.to_string(),
        tree: tree_id.to_string(),
        parent: Some(base.to_string()),
    })
}

/// The tree and first parent of `rev` (a commit id or ref name), if it resolves.
pub fn commit_info(repo: &Path, rev: &str) -> Result<Option<CommitInfo>, WriteError> {
    let git = |source| WriteError::Git {
        repo: repo.to_path_buf(),
        doing: format!("resolving {rev}"),
        source,
    };
    let r = git2::Repository::open(repo).map_err(git)?;
    let obj = match r.revparse_single(rev) {
        Ok(o) => o,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(git(e)),
    };
    let c = obj.peel_to_commit().map_err(git)?;
    Ok(Some(CommitInfo {
        id: c.id().to_string(),
        tree: c.tree_id().to_string(),
        parent: c.parent_id(0).ok().map(|p| p.to_string()),
    }))
}

/// Create the annotated tag `name` on `commit` with `message`. If it already exists on that
/// commit, nothing happens (a resumed release); anywhere else, it is an error.
pub fn create_tag(
    repo: &Path,
    name: &str,
    commit: &str,
    message: &str,
    who: &Identity,
) -> Result<(), WriteError> {
    let git = |doing: &str| {
        let (repo, doing) = (repo.to_path_buf(), doing.to_string());
        move |source| WriteError::Git {
            repo,
            doing,
            source,
        }
    };
    let r = git2::Repository::open(repo).map_err(git("opening the repository"))?;
    if let Ok(existing) = r.revparse_single(&format!("refs/tags/{name}")) {
        let at = existing
            .peel_to_commit()
            .map_err(git(&format!("reading tag {name}")))?
            .id()
            .to_string();
        return if at == commit {
            Ok(())
        } else {
            Err(WriteError::TagExists {
                name: name.into(),
                points_at: at,
                wanted: commit.into(),
            })
        };
    }
    let obj = git2::Oid::from_str(commit)
        .and_then(|oid| r.find_object(oid, Some(git2::ObjectType::Commit)))
        .map_err(git(&format!("reading commit {commit}")))?;
    let sig = git2::Signature::now(&who.name, &who.email).map_err(git("making the signature"))?;
    // force = false: libgit2 refuses to overwrite, the last guard against moving a tag.
    r.tag(name, &obj, &sig, message, false)
        .map_err(git(&format!("creating tag {name}")))?;
    Ok(())
}

/// The message of annotated tag `name`, if it exists and is annotated.
pub fn tag_message(repo: &Path, name: &str) -> Option<String> {
    let r = git2::Repository::open(repo).ok()?;
    let obj = r.revparse_single(&format!("refs/tags/{name}")).ok()?;
    let tag = obj.as_tag()?;
    tag.message().ok().flatten().map(str::to_string)
}

fn is_clean_relative(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && seg != ".git")
}
