//! Snapshots of the PR bodies `sync` writes for the three real addons on `main`: the part a
//! reviewer reads first (everything before the full diff). Review changes with
//! `cargo insta review`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use ake_bot_testkit::{Bot, ConfigRepo};
use serde_json::Value;

fn plan_main() -> Vec<Value> {
    let repo = ConfigRepo::from_project();
    let cache = tempfile::tempdir().unwrap();
    let run = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(["sync", "--dry-run", "--output", "json", "--branch", "main"])
        .repo(repo.path())
        .arg("--schemas")
        .arg(ake_bot_testkit::schemas_dir())
        .env("AKE_BOT_CACHE_DIR", cache.path())
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    v["data"]["entries"].as_array().unwrap().clone()
}

fn summary_part(body: &str) -> &str {
    &body[..body
        .find("### Full diff")
        .expect("every body has a full diff section")]
}

#[test]
fn pr_bodies_on_main() {
    let plan = plan_main();
    for addon in ["cert-manager", "argo-cd", "kube-prometheus-stack"] {
        let e = plan.iter().find(|e| e["addon"] == addon).unwrap();
        let text = format!(
            "title: {}\nlabels: {}\n\n{}",
            e["title"].as_str().unwrap(),
            e["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(", "),
            summary_part(e["body"].as_str().unwrap())
        );
        insta::assert_snapshot!(format!("sync-body-{addon}"), text);
    }
}
