//! `ake-bot release --dry-run` on a real repository with real tags: the next tag by the
//! train's format, the changelog grouped from commit subjects, the addon version table.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use ake_bot_testkit::{Bot, ConfigRepo, Run};

fn ake_bot(repo: &ConfigRepo, args: &[&str]) -> Run {
    let cache = tempfile::tempdir().unwrap();
    Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(args)
        .repo(repo.path())
        .env("AKE_BOT_CACHE_DIR", cache.path())
        .run()
}

#[test]
fn the_next_tag_and_notes_follow_the_commits_since_the_last_tag() {
    let repo = ConfigRepo::from_project();
    repo.git_init();
    repo.git(&["tag", "-a", "v1.33.0", "-m", "release v1.33.0"]);
    repo.pin("cert-manager", "v1.16.5");
    assert_eq!(
        ake_bot(&repo, &["render", "--addon", "cert-manager"]).code,
        0
    );
    repo.git(&[
        "commit",
        "-q",
        "-am",
        "chore(cert-manager): bump v1.14.7 → v1.16.5",
    ]);
    repo.edit(
        "branches.toml",
        "# Reference: README.md",
        "# Reference: README.md (see Configuration)",
    );
    repo.git(&[
        "commit",
        "-q",
        "-am",
        "docs: point at the configuration reference",
    ]);
    // A release branch cut from here has never been released.
    repo.git(&["branch", "release-1.32"]);

    let run = ake_bot(&repo, &["release", "--dry-run", "--output", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let plans = v["data"]["branches"].as_array().unwrap();
    let main = plans.iter().find(|p| p["branch"] == "main").unwrap();
    assert_eq!(
        (main["previous_tag"].as_str(), main["tag"].as_str()),
        (Some("v1.33.0"), Some("v1.33.1"))
    );
    assert_eq!(
        main["changes"],
        serde_json::json!([
            {"kind": "bump", "addon": "cert-manager", "from": "v1.14.7", "to": "v1.16.5"},
            {"kind": "other", "subject": "docs: point at the configuration reference"}
        ])
    );
    let notes = main["notes"].as_str().unwrap();
    assert!(
        notes.starts_with(
            "## v1.33.1\n\nKubernetes 1.33 · branch `main` · changes since `v1.33.0`\n"
        ),
        "{notes}"
    );
    assert!(
        notes.contains("### Addon updates\n\n- **cert-manager** v1.14.7 → v1.16.5\n"),
        "{notes}"
    );
    assert!(notes.contains("| cert-manager | v1.16.5 |"), "{notes}");
    // Tenants moving from v1.33.0 read what the bump does to cert-manager's CRDs, classified
    // as in `diff v1.33.0 v1.33.1`: additive only, so no warning.
    assert!(
        notes.contains(
            "### CRD changes\n\n- **cert-manager** `certificaterequests.cert-manager.io`: descriptions only\n\
             - **cert-manager** `certificates.cert-manager.io`: additive only (2 changes)\n"
        ),
        "{notes}"
    );
    assert!(!notes.contains("[!WARNING]"), "{notes}");
    let r132 = plans
        .iter()
        .find(|p| p["branch"] == "release-1.32")
        .unwrap();
    assert_eq!(
        (r132["previous_tag"].as_str(), r132["tag"].as_str()),
        (None, Some("v1.32.0"))
    );
    assert!(r132["notes"]
        .as_str()
        .unwrap()
        .contains("first release of this branch"));
    assert!(
        plans.iter().all(|p| p["branch"] != "release-1.31"),
        "a branch that does not exist has nothing to release"
    );

    // Once tagged, main has nothing new.
    repo.git(&["tag", "-a", "v1.33.1", "-m", "release v1.33.1"]);
    let run = ake_bot(&repo, &["release", "--dry-run", "--branch", "main"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        "nothing to release: no branch has changes since its last tag"
    );
}

#[test]
fn release_without_github_access_and_unknown_branches_are_clear_errors() {
    let repo = ConfigRepo::from_project();
    repo.git_init();
    let run = ake_bot(&repo, &["release"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("pass --dry-run"), "{}", run.stderr);
    let run = ake_bot(&repo, &["release", "--dry-run", "--branch", "release-9.99"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown branch \"release-9.99\""),
        "{}",
        run.stderr
    );
}

#[test]
fn branch_cut_dry_run_shows_the_new_train() {
    let repo = ConfigRepo::from_project();
    let run = ake_bot(
        &repo,
        &[
            "branch",
            "cut",
            "1.33",
            "--kind-image",
            "kindest/node:v1.34.0",
            "--dry-run",
            "--output",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let plan = &v["data"];
    assert_eq!(
        (plan["branch"].as_str(), plan["new_main"].as_str()),
        (Some("release-1.33"), Some("1.34"))
    );
    let toml = plan["branches_toml"].as_str().unwrap();
    assert!(toml.contains("[main]\nkubernetes = \"1.34\"\nkind_image = \"kindest/node:v1.34.0\"\n\n[[release]]\nkubernetes = \"1.33\""), "{toml}");
    assert!(
        toml.contains("# cert-manager 1.16 has only been qualified on 1.32 and newer."),
        "comments survive"
    );
    assert!(
        !repo.read("branches.toml").contains("kubernetes = \"1.34\""),
        "a dry run writes nothing"
    );

    let wrong = ake_bot(
        &repo,
        &["branch", "cut", "1.32", "--kind-image", "x", "--dry-run"],
    );
    assert_eq!(wrong.code, 2);
    assert!(
        wrong
            .stderr
            .contains("main targets Kubernetes 1.33, not 1.32"),
        "{}",
        wrong.stderr
    );
}
