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
    /// How many parents: more than one is a merge, picked against its first parent.
    pub parents: usize,
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
    // Rename detection (libgit2's default, made explicit): a commit that moves a file the
    // target changed carries the target's edit to the new path instead of conflicting.
    let mut opts = git2::MergeOptions::new();
    opts.find_renames(true);
    let mut index = r
        .cherrypick_commit(&pick, &ours, mainline, Some(&opts))
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
        parents: c.parent_count(),
    }
}

/// The commits on `head`'s first-parent line after `since` (exclusive), oldest first, at most
/// `limit`. `since` must be on that line: anything else (a force-push rewrote main, or a commit
/// that only came in through a merge) is an error rather than a guess.
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
        // Reached the root without meeting `since`: it is an ancestor only through a merge's
        // second parent, so it was never a main-line commit.
        if cur.parent_count() == 0 {
            return Err(err(repo, format!("walking {since}..{head}"))(
                git2::Error::from_str(&format!(
                    "{since} is not on the first-parent line of {head}"
                )),
            ));
        }
        cur = cur.parent(0).map_err(err(repo, "walking history"))?;
    }
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use git2::{build::TreeUpdateBuilder, FileMode, Oid, Repository, Signature, Time};

    use super::*;

    /// A throwaway repository. Commits go straight into the object store (no work tree, no
    /// index, no user identity), one second apart from a fixed instant, so the history and its
    /// ids are the same on every machine.
    struct Repo {
        _dir: tempfile::TempDir,
        path: PathBuf,
        git: Repository,
        clock: Cell<i64>,
    }

    const EMAIL: &str = "test@ake.invalid";

    impl Repo {
        fn new() -> Repo {
            let dir = tempfile::tempdir().expect("temp dir");
            let git = Repository::init_bare(dir.path()).expect("git init");
            Repo {
                path: dir.path().to_path_buf(),
                _dir: dir,
                git,
                clock: Cell::new(1_700_000_000),
            }
        }

        /// A commit with `parents` whose tree is the first parent's (empty for a root) with
        /// `files` applied: `Some(text)` writes the file, `None` removes it.
        fn commit(
            &self,
            parents: &[&str],
            files: &[(&str, Option<&str>)],
            message: &str,
        ) -> String {
            let g = &self.git;
            let parents: Vec<git2::Commit> = parents
                .iter()
                .map(|p| {
                    g.find_commit(Oid::from_str(p).expect("oid"))
                        .expect("parent")
                })
                .collect();
            let base = match parents.first() {
                Some(p) => p.tree().expect("parent tree"),
                None => {
                    let empty = g
                        .treebuilder(None)
                        .expect("tree builder")
                        .write()
                        .expect("tree");
                    g.find_tree(empty).expect("empty tree")
                }
            };
            let mut update = TreeUpdateBuilder::new();
            for (path, text) in files {
                match text {
                    Some(t) => {
                        let blob = g.blob(t.as_bytes()).expect("blob");
                        update.upsert(*path, blob, FileMode::Blob);
                    }
                    None => {
                        update.remove(*path);
                    }
                }
            }
            let tree = g
                .find_tree(update.create_updated(g, &base).expect("tree update"))
                .expect("tree");
            let now = self.clock.get();
            self.clock.set(now + 1);
            let sig = Signature::new("Ake Test", EMAIL, &Time::new(now, 0)).expect("signature");
            let parents: Vec<&git2::Commit> = parents.iter().collect();
            g.commit(None, &sig, &sig, message, &tree, &parents)
                .expect("commit")
                .to_string()
        }

        fn branch(&self, name: &str, id: &str) {
            let c = self
                .git
                .find_commit(Oid::from_str(id).expect("oid"))
                .expect("commit");
            self.git.branch(name, &c, true).expect("branch");
        }

        fn pick(&self, commit: &str, onto: &str, keep_ours: &dyn Fn(&str) -> bool) -> Pick {
            cherry_pick(&self.path, commit, onto, keep_ours).expect("cherry-pick")
        }
    }

    fn keep_nothing(_: &str) -> bool {
        false
    }

    /// `changes` as (path, text) so a failing assertion shows readable file contents.
    fn texts(changes: &[FileChange]) -> Vec<(String, Option<String>)> {
        changes
            .iter()
            .map(|c| {
                let text = c
                    .content
                    .as_ref()
                    .map(|b| String::from_utf8(b.clone()).expect("utf-8"));
                (c.path.display().to_string(), text)
            })
            .collect()
    }

    fn change(path: &str, text: Option<&str>) -> (String, Option<String>) {
        (path.to_string(), text.map(str::to_string))
    }

    fn paths(ps: &[&str]) -> Vec<PathBuf> {
        ps.iter().map(PathBuf::from).collect()
    }

    const VALUES_A: &str = "bundles/a/values.yaml.j2";
    const VALUES_B: &str = "bundles/b/values.yaml.j2";

    #[test]
    fn clean_pick_carries_exactly_the_commits_file() {
        let r = Repo::new();
        let base = r.commit(
            &[],
            &[
                (VALUES_A, Some("replicas: 1\nimage: a:v1\n")),
                (VALUES_B, Some("replicas: 1\nimage: b:v1\n")),
            ],
            "base",
        );
        // The release branch diverged in another file...
        let release = r.commit(
            &[&base],
            &[(VALUES_B, Some("replicas: 3\nimage: b:v1\n"))],
            "b",
        );
        // ...and main changed bundle a.
        let pick = r.commit(
            &[&base],
            &[(VALUES_A, Some("replicas: 1\nimage: a:v2\n"))],
            "a",
        );

        let got = r.pick(&pick, &release, &keep_nothing);
        assert_eq!(
            texts(&got.changes),
            vec![change(VALUES_A, Some("replicas: 1\nimage: a:v2\n"))]
        );
        assert_eq!(got.conflicts, Vec::<PathBuf>::new());
        assert_eq!(got.resolved, Vec::<PathBuf>::new());
    }

    #[test]
    fn conflict_is_reported_with_both_sides_in_markers() {
        let r = Repo::new();
        let src = "src/retry.rs";
        let base = r.commit(
            &[],
            &[
                (
                    src,
                    Some("fn main() {\n    let retries = 3;\n    run(retries);\n}\n"),
                ),
                ("README.md", Some("hello\n")),
            ],
            "base",
        );
        let release = r.commit(
            &[&base],
            &[(
                src,
                Some("fn main() {\n    let retries = 4;\n    run(retries);\n}\n"),
            )],
            "release: 4 retries",
        );
        let pick = r.commit(
            &[&base],
            &[
                (
                    src,
                    Some("fn main() {\n    let retries = 5;\n    run(retries);\n}\n"),
                ),
                ("README.md", Some("hello, world\n")),
            ],
            "main: 5 retries",
        );

        let got = r.pick(&pick, &release, &keep_nothing);
        // Ours is the target branch, theirs the picked commit, each labelled by its id; the
        // clean half of the commit still comes through.
        let marked = format!(
            "fn main() {{\n\
             <<<<<<< {release}\n    let retries = 4;\n\
             =======\n    let retries = 5;\n\
             >>>>>>> {pick}\n    run(retries);\n}}\n"
        );
        assert_eq!(
            texts(&got.changes),
            vec![
                change("README.md", Some("hello, world\n")),
                change(src, Some(&marked)),
            ]
        );
        assert_eq!(got.conflicts, paths(&[src]));
        assert_eq!(got.resolved, Vec::<PathBuf>::new());
    }

    #[test]
    fn generated_files_keep_the_branch_side() {
        let r = Repo::new();
        let rendered = "bundles/a/rendered/manifests.yaml";
        let base = r.commit(
            &[],
            &[
                (VALUES_A, Some("image: a:v1\n")),
                (rendered, Some("kind: Deployment\nimage: a:v1\n")),
                ("branches.toml", Some("[[branch]]\nname = \"main\"\n")),
            ],
            "base",
        );
        // The branch rendered its own manifests (a different kube version, say).
        let release = r.commit(
            &[&base],
            &[(rendered, Some("kind: Deployment\nimage: a:v1-release\n"))],
            "release render",
        );
        let pick = r.commit(
            &[&base],
            &[
                (VALUES_A, Some("image: a:v2\n")),
                (rendered, Some("kind: Deployment\nimage: a:v2\n")),
                (
                    "branches.toml",
                    Some("[[branch]]\nname = \"main\"\n\n[[branch]]\nname = \"release-1.1\"\n"),
                ),
            ],
            "bump a",
        );

        // Without keep_ours the fixture really conflicts and really changes branches.toml, so
        // the assertions below are not vacuous.
        let plain = r.pick(&pick, &release, &keep_nothing);
        assert_eq!(plain.conflicts, paths(&[rendered]));
        assert_eq!(
            texts(&plain.changes)
                .into_iter()
                .map(|(p, _)| p)
                .collect::<Vec<_>>(),
            vec!["branches.toml", rendered, VALUES_A]
        );

        let keep = |p: &str| p.contains("/rendered/") || p == "branches.toml";
        let got = r.pick(&pick, &release, &keep);
        assert_eq!(
            texts(&got.changes),
            vec![change(VALUES_A, Some("image: a:v2\n"))]
        );
        assert_eq!(got.conflicts, Vec::<PathBuf>::new());
        assert_eq!(got.resolved, paths(&[rendered]));
    }

    /// Long enough that git's similarity check can see a renamed-and-edited file as a rename.
    fn doc(line2: &str, line10: &str) -> String {
        let mut lines: Vec<String> = (1..=12)
            .map(|i| format!("line {i}: the addon bundle documentation text"))
            .collect();
        lines[1] = line2.to_string();
        lines[9] = line10.to_string();
        lines.join("\n") + "\n"
    }

    const OLD_DOC: &str = "docs/old.md";
    const NEW_DOC: &str = "docs/new.md";

    /// Base, a rename of docs/old.md to docs/new.md (with an edit on line 10), and a branch
    /// that left docs/old.md alone.
    fn rename_fixture(r: &Repo) -> (String, String, String) {
        let original = doc("line 2: original", "line 10: original");
        let base = r.commit(
            &[],
            &[(OLD_DOC, Some(&original)), ("README.md", Some("hello\n"))],
            "base",
        );
        let renamed = doc("line 2: original", "line 10: edited by the rename");
        let rename = r.commit(
            &[&base],
            &[(OLD_DOC, None), (NEW_DOC, Some(&renamed))],
            "rename docs",
        );
        let untouched = r.commit(&[&base], &[("README.md", Some("release\n"))], "release");
        (base, rename, untouched)
    }

    #[test]
    fn rename_onto_unchanged_file_deletes_old_and_adds_new() {
        let r = Repo::new();
        let (_, rename, untouched) = rename_fixture(&r);
        let got = r.pick(&rename, &untouched, &keep_nothing);
        assert_eq!(
            texts(&got.changes),
            vec![
                change(
                    NEW_DOC,
                    Some(&doc("line 2: original", "line 10: edited by the rename"))
                ),
                change(OLD_DOC, None),
            ]
        );
        assert_eq!(got.conflicts, Vec::<PathBuf>::new());
        assert_eq!(got.resolved, Vec::<PathBuf>::new());
    }

    #[test]
    fn rename_onto_modified_file_carries_the_branch_edit_to_the_new_path() {
        let r = Repo::new();
        let (base, rename, _) = rename_fixture(&r);
        let modified = r.commit(
            &[&base],
            &[(
                OLD_DOC,
                Some(&doc("line 2: edited on the branch", "line 10: original")),
            )],
            "release edits docs",
        );
        let got = r.pick(&rename, &modified, &keep_nothing);
        // git2's merge finds the rename, so the branch's line 2 and the commit's line 10 both
        // land in the new path, and the old path goes.
        assert_eq!(
            texts(&got.changes),
            vec![
                change(
                    NEW_DOC,
                    Some(&doc(
                        "line 2: edited on the branch",
                        "line 10: edited by the rename"
                    ))
                ),
                change(OLD_DOC, None),
            ]
        );
        assert_eq!(got.conflicts, Vec::<PathBuf>::new());
        assert_eq!(got.resolved, Vec::<PathBuf>::new());
    }

    /// main: M0 - M1 - M2 (merge of F1), feature: M0 - F1, release: M0 - R1.
    struct MergeFixture {
        r: Repo,
        m0: String,
        m1: String,
        f1: String,
        m2: String,
        r1: String,
    }

    fn merge_fixture() -> MergeFixture {
        let r = Repo::new();
        let m0 = r.commit(
            &[],
            &[
                (VALUES_A, Some("replicas: 1\n")),
                (VALUES_B, Some("image: b:v1\n")),
                ("README.md", Some("hello\n")),
            ],
            "base",
        );
        let r1 = r.commit(
            &[&m0],
            &[("README.md", Some("release 1.0\n"))],
            "cut release",
        );
        let m1 = r.commit(
            &[&m0],
            &[(VALUES_B, Some("image: b:v2\n"))],
            "main-only bump of b",
        );
        let f1 = r.commit(&[&m0], &[(VALUES_A, Some("replicas: 2\n"))], "scale a");
        // The merge's tree is main's plus the feature's change.
        let m2 = r.commit(
            &[&m1, &f1],
            &[(VALUES_A, Some("replicas: 2\n"))],
            "Merge pull request #7 from feature\n\nscale a\n",
        );
        r.branch("main", &m2);
        MergeFixture {
            r,
            m0,
            m1,
            f1,
            m2,
            r1,
        }
    }

    #[test]
    fn merge_commit_is_picked_against_its_first_parent() {
        let f = merge_fixture();
        let got = f.r.pick(&f.m2, &f.r1, &keep_nothing);
        // Only what the feature brought; main's own bump of b (already in M1) stays out, and
        // the release's README is untouched.
        assert_eq!(
            texts(&got.changes),
            vec![change(VALUES_A, Some("replicas: 2\n"))]
        );
        assert_eq!(got.conflicts, Vec::<PathBuf>::new());
        assert_eq!(got.resolved, Vec::<PathBuf>::new());
    }

    #[test]
    fn changed_paths_lists_both_sides_of_a_rename() {
        let r = Repo::new();
        let (base, rename, untouched) = rename_fixture(&r);
        assert_eq!(
            changed_paths(&r.path, &rename).expect("changed paths"),
            vec![NEW_DOC, OLD_DOC]
        );
        assert_eq!(
            changed_paths(&r.path, &untouched).expect("changed paths"),
            vec!["README.md"]
        );
        // A root commit changed everything it holds.
        assert_eq!(
            changed_paths(&r.path, &base).expect("changed paths"),
            vec!["README.md", OLD_DOC]
        );
        // A merge: against the first parent only.
        let f = merge_fixture();
        assert_eq!(
            changed_paths(&f.r.path, &f.m2).expect("changed paths"),
            vec![VALUES_A]
        );
    }

    #[test]
    fn commit_summary_reads_subject_author_and_first_parent() {
        let f = merge_fixture();
        let by_ref = commit_summary(&f.r.path, "main")
            .expect("summary")
            .expect("main exists");
        assert_eq!(
            by_ref,
            CommitSummary {
                id: f.m2.clone(),
                subject: "Merge pull request #7 from feature".to_string(),
                author_email: EMAIL.to_string(),
                parent: Some(f.m1.clone()),
                parents: 2,
            }
        );
        let plain = commit_summary(&f.r.path, &f.f1)
            .expect("summary")
            .expect("f1 exists");
        assert_eq!(plain.subject, "scale a");
        assert_eq!(plain.parent, Some(f.m0.clone()));
        let root = commit_summary(&f.r.path, &f.m0)
            .expect("summary")
            .expect("m0 exists");
        assert_eq!(root.parent, None);
        assert_eq!(
            commit_summary(&f.r.path, "no-such-branch").expect("summary"),
            None
        );
    }

    #[test]
    fn first_parent_since_walks_the_main_line_oldest_first() {
        let f = merge_fixture();
        let ids = |v: Vec<CommitSummary>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
        let p = &f.r.path;
        // The feature commit came in through the merge's second parent: not listed.
        assert_eq!(
            ids(first_parent_since(p, &f.m0, "main", 10).expect("walk")),
            vec![f.m1.clone(), f.m2.clone()]
        );
        assert_eq!(
            ids(first_parent_since(p, &f.m1, &f.m2, 10).expect("walk")),
            vec![f.m2.clone()]
        );
        assert_eq!(
            ids(first_parent_since(p, &f.m2, &f.m2, 10).expect("walk")),
            Vec::<String>::new()
        );
        // Exactly `limit` commits is fine; one more is an error.
        assert_eq!(
            ids(first_parent_since(p, &f.m0, &f.m2, 2).expect("walk")),
            vec![f.m1.clone(), f.m2.clone()]
        );
        let over = first_parent_since(p, &f.m0, &f.m2, 1).expect_err("over the limit");
        assert!(over.to_string().contains("more than 1 commits"), "{over}");
        // Not an ancestor (the release branch's commit): an error, not a guess.
        let not = first_parent_since(p, &f.r1, &f.m2, 10).expect_err("not an ancestor");
        assert!(
            not.to_string()
                .contains(&format!("{} is not an ancestor of {}", f.r1, f.m2)),
            "{not}"
        );
        // An ancestor only through a merge's second parent is not on the main line either.
        let side = first_parent_since(p, &f.f1, &f.m2, 10).expect_err("off the main line");
        assert!(
            side.to_string().contains(&format!(
                "{} is not on the first-parent line of {}",
                f.f1, f.m2
            )),
            "{side}"
        );
    }

    #[test]
    fn rename_against_a_same_line_edit_is_a_conflict_that_keeps_both_versions() {
        let r = Repo::new();
        let (base, rename, _) = rename_fixture(&r);
        let branch_text = doc("line 2: original", "line 10: edited on the branch");
        let same_line = r.commit(
            &[&base],
            &[(OLD_DOC, Some(&branch_text))],
            "release line 10",
        );
        let got = r.pick(&rename, &same_line, &keep_nothing);
        // libgit2 files the two sides of a conflicted rename under their own paths, so there
        // are no markers: the commit's version arrives at the new path, the branch's stays at
        // the old one, and both paths are conflicts for a person to merge. Nothing is lost.
        assert_eq!(
            texts(&got.changes),
            vec![
                change(
                    NEW_DOC,
                    Some(&doc("line 2: original", "line 10: edited by the rename"))
                ),
                change(OLD_DOC, Some(&branch_text)),
            ]
        );
        assert_eq!(got.conflicts, paths(&[NEW_DOC, OLD_DOC]));
        assert_eq!(got.resolved, Vec::<PathBuf>::new());
    }
}
