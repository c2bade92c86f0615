//! The render cache across runs: a tick with nothing new upstream starts helm zero times and
//! prints byte-identical PR bodies; a change to what a render depends on re-renders exactly
//! the renders it touches.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use ake_bot_testkit::{Bot, ConfigRepo, CountingHelm, Run};
use serde_json::Value;

fn plan(repo: &ConfigRepo, cache: &Path, helm: &CountingHelm) -> (Run, Value) {
    let run = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(["sync", "--dry-run", "--output", "json"])
        .repo(repo.path())
        .env("AKE_BOT_CACHE_DIR", cache)
        .env("HELM", helm.path())
        .run();
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    (run, v["data"].clone())
}

fn templates(helm: &CountingHelm) -> Vec<String> {
    helm.calls()
        .into_iter()
        .filter(|c| c.starts_with("template "))
        .collect()
}

#[test]
fn a_tick_with_nothing_new_starts_helm_zero_times_and_says_the_same_bytes() {
    let repo = ConfigRepo::from_project();
    // A cut branch (baseline: its committed render) beside branches planned from the work
    // tree (baseline: the current pin rendered through the cache too).
    repo.git_init();
    repo.cut_release_branch("1.32");
    let cache = tempfile::tempdir().unwrap();
    let helm = CountingHelm::new();

    let (_, cold) = plan(&repo, cache.path(), &helm);
    let cold_templates = templates(&helm);
    assert!(
        cold_templates.len() >= 10,
        "a cold tick renders every update: {cold_templates:#?}"
    );
    let updates = cold["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"]["kind"] == "update")
        .count();
    assert!(updates >= 8, "{cold:#}");

    helm.reset();
    let (_, warm) = plan(&repo, cache.path(), &helm);
    assert_eq!(
        helm.calls(),
        Vec::<String>::new(),
        "a warm tick starts helm not once (not even `helm version`)"
    );
    // Every entry, body and dashboard byte for byte.
    assert_eq!(
        serde_json::to_string_pretty(&warm).unwrap(),
        serde_json::to_string_pretty(&cold).unwrap()
    );

    // A values change on one addon re-renders that addon only, for every branch it is on.
    let values = "bundles/cert-manager/values.yaml.j2";
    repo.write(
        values,
        &format!("{}\nreplicaCount: 2\n", repo.read(values).trim_end()),
    );
    helm.reset();
    let (_, changed) = plan(&repo, cache.path(), &helm);
    let again = templates(&helm);
    assert!(!again.is_empty(), "the changed values are rendered");
    assert!(
        again.iter().all(|c| c.contains("cert-manager")),
        "only cert-manager re-renders: {again:#?}"
    );
    let body = |plan: &Value| {
        plan["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["addon"] == "cert-manager" && e["branch"] == "main")
            .map(|e| e["body"].clone())
            .unwrap()
    };
    assert_ne!(
        body(&changed),
        body(&cold),
        "the body says what the new values change"
    );
}
