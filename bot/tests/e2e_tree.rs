//! Which tree `ake-bot e2e` installs, seen through `e2e --dry-run` (no cluster needed): a pull
//! request's CI checkout is a detached merge commit, and `--branch <base> --work-tree` must
//! install that commit's renders as the base branch, not `origin/<base>` (issue #12, point 4).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use ake_bot_testkit::{Bot, ConfigRepo, Run};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn ake_bot(repo: &Path, args: &[&str]) -> Run {
    Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(args)
        .repo(repo)
        .run()
}

fn plan(repo: &Path, args: &[&str]) -> Value {
    let mut all = vec!["e2e", "--dry-run", "--output", "json"];
    all.extend_from_slice(args);
    let run = ake_bot(repo, &all);
    assert_eq!(run.code, 0, "{args:?}\nstderr:\n{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", run.stdout));
    assert_eq!(v["command"], "e2e");
    assert_eq!(v["type"], "plan");
    v["data"].clone()
}

fn bundle<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["bundle"] == name)
        .unwrap_or_else(|| panic!("no {name} in {plan}"))
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

const EXTRA: &str = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: the-prs-change\n  namespace: cert-manager\ndata:\n  from: the-pull-request\n";

/// A CI checkout of a PR onto release-1.32: release-1.32 only on origin, HEAD detached at a
/// merge commit that changes cert-manager's render.
fn pr_checkout() -> (ConfigRepo, tempfile::TempDir, String) {
    let repo = ConfigRepo::from_project();
    repo.git_init();
    repo.cut_release_branch("1.32");
    let (origin_dir, _) = repo.with_bare_origin();
    repo.git(&["checkout", "-q", "--detach", "origin/release-1.32"]);
    repo.git(&["branch", "-q", "-D", "release-1.32"]);
    let rel = "bundles/cert-manager/rendered/manifests.yaml";
    let text = repo.read(rel);
    let changed = format!("{}\n{EXTRA}", text.trim_end_matches('\n'));
    repo.write(rel, &changed);
    repo.git(&["commit", "-q", "-am", "Merge the PR into release-1.32"]);
    (repo, origin_dir, rel.to_string())
}

#[test]
fn work_tree_installs_the_checked_out_merge_commit_as_the_base_branch() {
    let (repo, _origin, rel) = pr_checkout();
    let in_work_tree = repo.read(&rel);
    let on_origin = repo.git(&["show", &format!("origin/release-1.32:{rel}")]);
    assert_ne!(
        sha256(&in_work_tree),
        sha256(&on_origin),
        "the PR changes the render"
    );

    let p = plan(repo.path(), &["--branch", "release-1.32", "--work-tree"]);
    assert_eq!(p["branch"], "release-1.32");
    assert_eq!(p["kubernetes"], "1.32");
    assert_eq!(p["origin"]["kind"], "work-tree", "{p}");
    assert_eq!(p["from"], "work tree");
    assert!(p.get("commit").is_none(), "{p}");
    assert_eq!(p["cluster"], "ake-bot-release-1-32");
    // The branch's own node image, from the work tree's branches.toml.
    assert!(
        p["image"]
            .as_str()
            .unwrap()
            .starts_with("kindest/node:v1.32."),
        "{p}"
    );
    let cm = bundle(&p, "cert-manager");
    assert_eq!(cm["file"], rel);
    assert_eq!(
        cm["sha256"],
        sha256(&in_work_tree),
        "the work tree's render"
    );

    // Without the flag the same command reads release-1.32 from origin: what the PR does not
    // change. (No GITHUB_BASE_REF here: the test's environment is empty.)
    let q = plan(repo.path(), &["--branch", "release-1.32"]);
    assert_eq!(q["origin"]["kind"], "git", "{q}");
    assert_eq!(q["from"], "origin/release-1.32");
    assert_eq!(
        q["commit"].as_str().unwrap(),
        repo.git(&["rev-parse", "origin/release-1.32"]).trim()
    );
    let cm_origin = bundle(&q, "cert-manager");
    assert_eq!(cm_origin["sha256"], sha256(&on_origin));
    assert_eq!(
        cm["objects"].as_u64().unwrap(),
        cm_origin["objects"].as_u64().unwrap() + 1,
        "the PR's ConfigMap is installed with --work-tree only"
    );
    // Bundles the PR did not touch are the same either way.
    assert_eq!(
        bundle(&p, "argo-cd")["sha256"],
        bundle(&q, "argo-cd")["sha256"]
    );
}

#[test]
fn the_dry_run_text_says_where_the_renders_come_from() {
    let (repo, _origin, _) = pr_checkout();
    let run = ake_bot(
        repo.path(),
        &["e2e", "-n", "--branch", "release-1.32", "--work-tree"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = run.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("━━━━ release-1.32 (Kubernetes 1.32, kindest/node:v1.32.")
            && first.ends_with(") from work tree ━━━━"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("kind cluster ake-bot-release-1-32 (context kind-ake-bot-release-1-32)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("(dry run: no cluster created"),
        "{}",
        run.stdout
    );
}

#[test]
fn work_tree_needs_a_branch_and_a_train_branch() {
    let (repo, _origin, _) = pr_checkout();
    let run = ake_bot(repo.path(), &["e2e", "--dry-run", "--work-tree"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--branch"), "{}", run.stderr);

    let run = ake_bot(
        repo.path(),
        &["e2e", "--dry-run", "--branch", "feature-x", "--work-tree"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("feature-x"), "{}", run.stderr);
}

#[test]
fn dry_run_needs_no_kind() {
    let (repo, _origin, _) = pr_checkout();
    let run = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args([
            "e2e",
            "--dry-run",
            "--branch",
            "release-1.32",
            "--work-tree",
        ])
        .repo(repo.path())
        .env("KIND", "/nonexistent/kind")
        .env_remove("PATH")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn the_kind_config_comes_from_the_installed_tree_too() {
    let (repo, _origin, _) = pr_checkout();
    // Only the PR's merge commit has a kind config for release-1.32; origin does not.
    let rel = "e2e/release-1.32/kind.yaml";
    repo.write(
        rel,
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n  - role: control-plane\n",
    );
    repo.git(&["add", rel]);
    repo.git(&["commit", "-q", "-m", "a kind config for 1.32"]);

    let p = plan(repo.path(), &["--branch", "release-1.32", "--work-tree"]);
    assert_eq!(p["kind_config"], rel, "{p}");
    // origin/release-1.32 has none, whatever the work tree holds.
    let q = plan(repo.path(), &["--branch", "release-1.32"]);
    assert!(q.get("kind_config").is_none(), "{q}");
}
