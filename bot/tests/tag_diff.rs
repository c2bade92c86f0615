//! `ake-bot diff A B` between two real tags of a config repository: what a tenant moving from
//! one release to the next gets.

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

/// main at v1.33.0, then cert-manager bumped to v1.16.5 (pin and render) and tagged v1.33.1.
fn two_releases() -> ConfigRepo {
    let repo = ConfigRepo::from_project();
    repo.git_init();
    repo.git(&["tag", "-a", "v1.33.0", "-m", "release v1.33.0"]);
    repo.pin("cert-manager", "v1.16.5");
    let render = ake_bot(&repo, &["render", "--addon", "cert-manager"]);
    assert_eq!(render.code, 0, "{}", render.stderr);
    repo.git(&[
        "commit",
        "-q",
        "-am",
        "chore(cert-manager): bump v1.14.7 → v1.16.5",
    ]);
    repo.git(&["tag", "-a", "v1.33.1", "-m", "release v1.33.1"]);
    repo
}

#[test]
fn a_tenant_sees_versions_and_manifest_changes_between_two_tags() {
    let repo = two_releases();
    let run = ake_bot(&repo, &["diff", "v1.33.0", "v1.33.1"]);
    assert_eq!(
        run.code, 1,
        "differences exit 1, like diff(1):\n{}",
        run.stderr
    );
    assert!(
        run.stdout.starts_with("v1.33.0 → v1.33.1 ("),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  argo-cd                  7.8.27 unchanged"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  cert-manager             v1.14.7 → v1.16.5  (+"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("image    `Deployment cert-manager/cert-manager` cert-manager-controller: quay.io/jetstack/cert-manager-controller:v1.14.7 → quay.io/jetstack/cert-manager-controller:v1.16.5"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("crd      `certificates.cert-manager.io`"),
        "{}",
        run.stdout
    );

    let json = ake_bot(&repo, &["diff", "v1.33.0", "v1.33.1", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let d = &v["data"];
    let cm = d["addons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["addon"] == "cert-manager")
        .unwrap();
    assert_eq!(
        (cm["from"].as_str(), cm["to"].as_str()),
        (Some("v1.14.7"), Some("v1.16.5"))
    );
    assert!(cm["changed"].as_u64().unwrap() > 0);
    assert_eq!(d["from_commit"].as_str().unwrap().len(), 40);

    let md = ake_bot(
        &repo,
        &["diff", "v1.33.0", "v1.33.1", "--output", "markdown"],
    );
    assert!(
        md.stdout
            .starts_with("## Moving from `v1.33.0` to `v1.33.1`\n"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout.contains("| cert-manager | v1.14.7 → v1.16.5 |"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout.contains("\n### cert-manager v1.14.7 → v1.16.5\n"),
        "{}",
        md.stdout
    );
}

#[test]
fn the_same_tag_twice_is_no_change_and_unknown_tags_are_named() {
    let repo = two_releases();
    let same = ake_bot(&repo, &["diff", "v1.33.1", "v1.33.1"]);
    assert_eq!(same.code, 0, "{}", same.stderr);
    let bad = ake_bot(&repo, &["diff", "v1.33.0", "v9.9.9"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .starts_with("error: \"v9.9.9\" is not a tag, branch or commit in "),
        "{}",
        bad.stderr
    );
}
