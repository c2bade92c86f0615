//! The bot's git writes against a real bare `origin`: commits built in memory on top of
//! origin/main, lease-protected pushes, and a token that never lands anywhere.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};

use ake_bot::git::{commit_info, commit_on, FileChange, Identity, Remote, RemoteError};
use ake_bot_testkit::{bare_origin, git};
use secrecy::SecretString;

const TOKEN: &str = "ghs_pushTOKEN0123456789";

fn clone(origin: &Path, dir: &Path) -> PathBuf {
    let work = dir.join("clone");
    git(dir, &["clone", "-q", origin.to_str().unwrap(), "clone"]);
    work
}

fn bot() -> Identity {
    Identity {
        name: "ake-bot".into(),
        email: "ake-bot@example.com".into(),
    }
}

fn change(path: &str, text: &str) -> FileChange {
    FileChange {
        path: PathBuf::from(path),
        content: Some(text.as_bytes().to_vec()),
    }
}

#[tokio::test]
async fn a_commit_on_origin_main_is_pushed_without_touching_the_checkout() {
    let (dir, origin) = bare_origin(&[]);
    let work = clone(&origin, dir.path());
    std::fs::write(work.join("local-edit.txt"), "uncommitted work\n").unwrap();
    let head_before = git(&work, &["rev-parse", "HEAD"]);
    let status_before = git(&work, &["status", "--porcelain"]);

    let remote = Remote::new(&work, "origin", Some(SecretString::from(TOKEN)));
    remote.fetch(&["main"]).await.unwrap();
    let base = commit_info(&work, "refs/remotes/origin/main")
        .unwrap()
        .unwrap();
    let changes = [
        change("bundles/cert-manager/bundle.yaml", "version: v1.16.5\n"),
        change(
            "bundles/cert-manager/rendered/manifests.yaml",
            "---\nkind: X\n",
        ),
    ];
    let c = commit_on(
        &work,
        &base.id,
        &changes,
        "chore(cert-manager): bump v1.14.7 → v1.16.5",
        &bot(),
    )
    .unwrap();
    assert_eq!(c.parent.as_deref(), Some(base.id.as_str()));
    remote
        .push(&c.id, "ake-bot/cert-manager", None)
        .await
        .unwrap();

    assert_eq!(
        git(&origin, &["rev-parse", "refs/heads/ake-bot/cert-manager"]).trim(),
        c.id
    );
    assert_eq!(
        git(
            &origin,
            &[
                "show",
                "ake-bot/cert-manager:bundles/cert-manager/bundle.yaml"
            ]
        ),
        "version: v1.16.5\n"
    );
    assert_eq!(
        git(
            &origin,
            &["log", "-1", "--format=%an <%ae>|%s", "ake-bot/cert-manager"]
        )
        .trim(),
        "ake-bot <ake-bot@example.com>|chore(cert-manager): bump v1.14.7 → v1.16.5"
    );
    assert_eq!(
        git(&work, &["rev-parse", "HEAD"]),
        head_before,
        "HEAD did not move"
    );
    assert_eq!(
        git(&work, &["status", "--porcelain"]),
        status_before,
        "work tree and index untouched"
    );
    assert_eq!(
        remote.branches("ake-bot/").await.unwrap(),
        [("ake-bot/cert-manager".to_string(), c.id.clone())]
    );

    // The same content on the same base gives the same tree: how a re-run knows to do nothing.
    let again = commit_on(
        &work,
        &base.id,
        &changes,
        "chore(cert-manager): bump v1.14.7 → v1.16.5",
        &bot(),
    )
    .unwrap();
    assert_eq!(again.tree, c.tree);
    drop(dir);
}

#[tokio::test]
async fn pushes_are_leased_so_a_concurrent_run_is_never_overwritten_blindly() {
    let (dir, origin) = bare_origin(&["ake-bot/argo-cd"]);
    let work = clone(&origin, dir.path());
    let remote = Remote::new(&work, "origin", None);
    remote.fetch(&["main", "ake-bot/argo-cd"]).await.unwrap();
    let main = commit_info(&work, "refs/remotes/origin/main")
        .unwrap()
        .unwrap();
    let theirs = commit_info(&work, "refs/remotes/origin/ake-bot/argo-cd")
        .unwrap()
        .unwrap();
    let ours = commit_on(
        &work,
        &main.id,
        &[change("a.txt", "ours\n")],
        "ours",
        &bot(),
    )
    .unwrap();

    // Creating a branch that exists, or updating one that moved: rejected as stale.
    let err = remote
        .push(&ours.id, "ake-bot/argo-cd", None)
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::Stale { .. }), "{err}");
    let err = remote
        .push(&ours.id, "ake-bot/argo-cd", Some(&main.id))
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::Stale { .. }), "{err}");
    // With the right expectation it goes through; deleting needs the current value too.
    remote
        .push(&ours.id, "ake-bot/argo-cd", Some(&theirs.id))
        .await
        .unwrap();
    let err = remote
        .delete("ake-bot/argo-cd", &theirs.id)
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::Stale { .. }), "{err}");
    remote.delete("ake-bot/argo-cd", &ours.id).await.unwrap();
    assert!(remote.branches("ake-bot/").await.unwrap().is_empty());
    drop(dir);
}

#[tokio::test]
async fn the_token_is_never_written_or_reported() {
    let (dir, origin) = bare_origin(&[]);
    let work = clone(&origin, dir.path());
    let remote = Remote::new(&work, "origin", Some(SecretString::from(TOKEN)));
    remote.fetch(&["main"]).await.unwrap();
    let err = remote.fetch(&["no-such-branch"]).await.unwrap_err();
    assert!(matches!(err, RemoteError::Failed { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains(TOKEN));
    // Nothing under .git mentions it (config, logs, FETCH_HEAD, packed refs).
    for entry in walk(&work.join(".git")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "{} holds the token",
            entry.display()
        );
    }
    drop(dir);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
