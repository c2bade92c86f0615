//! `ake-bot sync --dry-run`, `check` and `render` through the built binary, on a scratch copy
//! of the project's real config, real mirror and the real helm.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use ake_bot_testkit::{Bot, ConfigRepo, Run};
use serde_json::Value;

fn bot() -> Bot {
    Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
}

fn ake_bot(repo: &Path, args: &[&str]) -> Run {
    let cache = tempfile::tempdir().unwrap();
    bot()
        .args(args)
        .repo(repo)
        .env("AKE_BOT_CACHE_DIR", cache.path())
        .run()
}

fn plan_json(repo: &ConfigRepo, extra: &[&str]) -> (Run, Vec<Value>) {
    let mut args = vec!["sync", "--dry-run", "--output", "json"];
    args.extend_from_slice(extra);
    let run = ake_bot(repo.path(), &args);
    let v: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        )
    });
    assert_eq!(v["command"], "sync");
    assert_eq!(v["exit_code"].as_i64(), Some(i64::from(run.code)));
    let entries = v["data"]["entries"].as_array().cloned().unwrap_or_default();
    (run, entries)
}

fn entry<'a>(entries: &'a [Value], addon: &str, branch: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["addon"] == addon && e["branch"] == branch)
        .unwrap_or_else(|| panic!("no plan entry for {addon} on {branch}"))
}

#[test]
fn the_plan_chooses_per_branch_and_shows_real_pr_bodies() {
    let repo = ConfigRepo::from_project();
    let before = repo.files();
    let (run, entries) = plan_json(&repo, &[]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);

    // main takes the newest; the capped branch stops below the cap; 1.24 is held back by the
    // charts' own kubeVersion.
    let cm_main = entry(&entries, "cert-manager", "main");
    assert_eq!(
        (cm_main["current"].as_str(), cm_main["target"].as_str()),
        (Some("v1.14.7"), Some("v1.16.5"))
    );
    assert_eq!(
        cm_main["title"],
        "chore(cert-manager): bump v1.14.7 → v1.16.5"
    );
    assert!(
        cm_main["added"].as_u64().unwrap() > 0,
        "1.16 adds objects: {cm_main}"
    );
    assert_eq!(
        entry(&entries, "cert-manager", "release-1.31")["target"],
        "v1.15.5"
    );
    let kps_old = entry(&entries, "kube-prometheus-stack", "release-1.24");
    assert_eq!(kps_old["action"]["kind"], "up-to-date");
    assert_eq!(kps_old["skipped"][0]["reason"], "kube-version");
    assert_eq!(
        entry(&entries, "kube-prometheus-stack", "main")["target"],
        "88.5.3"
    );
    let argo_old = entry(&entries, "argo-cd", "release-1.24");
    assert_eq!(argo_old["action"]["kind"], "blocked");
    assert!(argo_old["action"]["reason"]
        .as_str()
        .unwrap()
        .contains(">=1.25.0-0"));

    let body = cm_main["body"].as_str().unwrap();
    assert!(body.starts_with("<!-- ake-bot: {\"kind\":\"sync\",\"addon\":\"cert-manager\""));
    assert!(
        body.contains("| app version | `v1.14.7` | `v1.16.5` |"),
        "{body}"
    );
    assert!(
        body.contains("quay.io/jetstack/cert-manager-controller"),
        "image changes are listed"
    );
    assert!(body.chars().count() < 65_536);

    // argo-cd's chart carries artifacthub.io/changes: they reach the body.
    let argo_body = entry(&entries, "argo-cd", "main")["body"].as_str().unwrap();
    assert!(argo_body.contains("### Upstream"), "{argo_body}");
    assert!(
        argo_body.contains("redis"),
        "the redis image downgrade is visible"
    );

    // kube-prometheus-stack 72 → 88: multi-MB CRD changes, still under GitHub's limit.
    let kps_body = entry(&entries, "kube-prometheus-stack", "main")["body"]
        .as_str()
        .unwrap();
    assert!(
        kps_body.chars().count() <= 65_536 - 4_096,
        "{}",
        kps_body.chars().count()
    );
    assert!(kps_body.contains("CustomResourceDefinition"));

    assert_eq!(before, repo.files(), "a dry run writes nothing");
}

#[test]
fn text_output_prints_the_plan_then_each_pr() {
    let repo = ConfigRepo::from_project();
    let run = ake_bot(
        repo.path(),
        &["sync", "--dry-run", "--addon", "cert-manager"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("cert-manager             main           k8s 1.33  update v1.14.7 → v1.16.5"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("skipped v1.16.5: branch cap \"<1.16\""),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("━━━━ Pull request for cert-manager on release-1.31 ━━━━"));
    assert!(!run.stdout.contains("argo-cd"), "--addon limits the plan");
}

#[test]
fn sync_without_dry_run_says_what_is_missing() {
    let repo = ConfigRepo::from_project();
    let run = ake_bot(repo.path(), &["sync"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--dry-run"), "{}", run.stderr);
}

/// Every bad-input case: one clear message naming addon, branch and cause; the other addons are
/// still planned; nothing is written; exit status 1.
fn assert_one_addon_fails(repo: &ConfigRepo, addon: &str, cause: &str) {
    let before = repo.files();
    let (run, entries) = plan_json(repo, &["--branch", "main"]);
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "exactly one error:\n{}", run.stderr);
    assert!(
        errors[0].starts_with(&format!("error: {addon} on main: ")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(cause),
        "expected {cause:?} in:\n{}",
        run.stderr
    );
    let planned: Vec<&str> = entries
        .iter()
        .map(|e| e["addon"].as_str().unwrap())
        .collect();
    assert!(!planned.contains(&addon), "{planned:?}");
    let addons = std::fs::read_dir(repo.path().join("bundles"))
        .unwrap()
        .count();
    assert_eq!(
        planned.len(),
        addons - 1,
        "the other addons are still planned: {planned:?}"
    );
    assert_eq!(before, repo.files(), "nothing is written");
}

#[test]
fn an_unknown_field_in_a_bundle_names_file_line_and_fix() {
    let repo = ConfigRepo::from_project();
    repo.edit("bundles/argo-cd/bundle.yaml", "allowed:", "allowd:");
    assert_one_addon_fails(
        &repo,
        "argo-cd",
        "bundles/argo-cd/bundle.yaml:8:1: unknown field `allowd`",
    );
    let run = ake_bot(repo.path(), &["check"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("hint: did you mean `allowed`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unreachable_upstream_fails_only_its_addon() {
    let repo = ConfigRepo::from_project();
    repo.edit(
        "branches.toml",
        "= \"mirror/argo\"",
        "= \"http://127.0.0.1:9/charts\"",
    );
    assert_one_addon_fails(
        &repo,
        "argo-cd",
        "cannot reach http://127.0.0.1:9/charts/index.yaml",
    );
}

#[test]
fn an_unreachable_registry_fails_only_its_addon() {
    let repo = ConfigRepo::from_project();
    repo.edit(
        "branches.toml",
        "= \"mirror/oci/jetstack\"",
        "= \"oci://127.0.0.1:9/jetstack\"",
    );
    assert_one_addon_fails(
        &repo,
        "cert-manager",
        "oci://127.0.0.1:9/jetstack/cert-manager: cannot reach the registry",
    );
}

#[test]
fn a_chart_missing_from_the_index_is_named() {
    let repo = ConfigRepo::from_project();
    repo.edit(
        "bundles/argo-cd/bundle.yaml",
        "chart: argo-cd",
        "chart: argo-cd-typo",
    );
    assert_one_addon_fails(&repo, "argo-cd", "chart argo-cd-typo is not in the index");
}

#[test]
fn a_tampered_chart_archive_is_not_taken_and_the_next_version_is() {
    let repo = ConfigRepo::from_project();
    let tgz = repo.path().join("mirror/argo/argo-cd-7.9.1.tgz");
    let mut bytes = std::fs::read(&tgz).unwrap();
    bytes.push(0);
    std::fs::write(&tgz, bytes).unwrap();
    // The tampered version is set apart like any unusable entry: the next newest is proposed,
    // the tampered one is "not taken" with the reason, and a warning says so.
    let before = repo.files();
    let (run, entries) = plan_json(&repo, &["--branch", "main", "--addon", "argo-cd"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let e = entry(&entries, "argo-cd", "main");
    assert_eq!(e["target"].as_str(), Some("7.8.28"), "{e}");
    let skipped = e["skipped"].to_string();
    assert!(
        skipped.contains("7.9.1") && skipped.contains("digest mismatch for argo-cd 7.9.1"),
        "{skipped}"
    );
    assert!(
        run.stderr
            .contains("index entry skipped: argo-cd 7.9.1: digest mismatch"),
        "{}",
        run.stderr
    );
    assert_eq!(before, repo.files(), "nothing is written");
}

#[test]
fn a_helm_template_failure_is_reported_with_helms_reason() {
    let repo = ConfigRepo::from_project();
    // cert-manager 1.15+ refuses the deprecated installCRDs next to crds.enabled.
    repo.edit(
        "bundles/cert-manager/values.yaml.j2",
        "  keep: true\n",
        "  keep: true\ninstallCRDs: true\n",
    );
    assert_one_addon_fails(&repo, "cert-manager", "cannot be enabled at the same time");
}

#[test]
fn a_values_template_error_names_template_and_line() {
    let repo = ConfigRepo::from_project();
    repo.edit(
        "bundles/kube-prometheus-stack/values.yaml.j2",
        "retention: 7d",
        "retention: {{ retention_days }}d",
    );
    assert_one_addon_fails(
        &repo,
        "kube-prometheus-stack",
        "values template bundles/kube-prometheus-stack/values.yaml.j2: line 10: undefined value",
    );
}

#[test]
fn a_broken_branches_toml_stops_the_run_with_its_position() {
    let repo = ConfigRepo::from_project();
    repo.edit(
        "branches.toml",
        "kind_image = \"kindest/node:v1.32.5@",
        "kind_imag = \"kindest/node:v1.32.5@",
    );
    let run = ake_bot(repo.path(), &["sync", "--dry-run"]);
    assert_eq!(run.code, 2);
    let line = 1 + repo
        .read("branches.toml")
        .lines()
        .position(|l| l.starts_with("kind_imag ="))
        .unwrap();
    let expected = format!("branches.toml:{line}:1: unknown field `kind_imag`");
    assert!(
        run.stderr.contains(&expected),
        "{expected} in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: did you mean `kind_image`?"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn an_unknown_addon_lists_the_known_ones() {
    let repo = ConfigRepo::from_project();
    let run = ake_bot(
        repo.path(),
        &["sync", "--dry-run", "--addon", "cert-manger"],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown addon \"cert-manger\": bundles/ has argo-cd, cert-manager, gateway-api, kube-prometheus-stack"),
        "{}",
        run.stderr
    );
}

#[test]
fn check_accepts_the_project_config_and_reports_every_problem_at_once() {
    let repo = ConfigRepo::from_project();
    let ok = ake_bot(repo.path(), &["check"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.ends_with("config ok\n"));

    repo.pin("cert-manager", "v2.0.0");
    repo.edit(
        "branches.toml",
        "caps = { cert-manager = \"<1.16\" }",
        "caps = { cert-manger = \"<1.16\" }",
    );
    let bad = ake_bot(repo.path(), &["check"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("the pinned version v2.0.0 is outside the allowed range"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr
            .contains("cap names addon `cert-manger`, but bundles/cert-manger/ does not exist"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.contains("did you mean `cert-manager`?"),
        "{}",
        bad.stderr
    );
}

#[test]
fn check_warns_about_a_kind_image_without_a_digest_and_still_passes() {
    let repo = ConfigRepo::from_project();
    let pinned = ake_bot(repo.path(), &["check"]);
    assert_eq!(pinned.code, 0, "{}", pinned.stderr);
    assert!(
        !pinned.stdout.contains("warning"),
        "the project pins every node image by digest:\n{}",
        pinned.stdout
    );

    let toml = repo.read("branches.toml");
    let (line, text) = toml
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("kind_image = \"kindest/node:v1.32.5@sha256:"))
        .unwrap();
    repo.edit(
        "branches.toml",
        text,
        "kind_image = \"kindest/node:v1.32.5\"",
    );
    let line = line + 1;

    let run = ake_bot(repo.path(), &["check"]);
    assert_eq!(run.code, 0, "a warning is not a failure:\n{}", run.stderr);
    let expected = format!(
        "branches.toml:{line}:14: branch release-1.32: kind_image \"kindest/node:v1.32.5\" is a tag without a digest"
    );
    let warning = run
        .stdout
        .lines()
        .find(|l| l.starts_with("warning: "))
        .unwrap_or_else(|| panic!("no warning in:\n{}", run.stdout));
    assert!(
        warning.contains(&expected),
        "{expected} in:\n{}",
        run.stdout
    );
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.starts_with("warning: "))
            .count(),
        1,
        "only the unpinned image:\n{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("hint: use the image with the @sha256 digest"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with("config ok\n"), "{}", run.stdout);

    // JSON: the warning with its position, and no problems.
    let json = ake_bot(repo.path(), &["check", "--output", "json"]);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["problems"].as_array().map(Vec::len), Some(0));
    let w = &v["data"]["warnings"][0];
    assert_eq!(w["line"].as_u64(), Some(line as u64), "{v}");
    assert_eq!(w["column"].as_u64(), Some(14), "{v}");
    assert!(
        w["file"].as_str().unwrap().ends_with("branches.toml"),
        "{v}"
    );

    // Under GitHub Actions: an annotation on the line, the file relative to the repository.
    let gh = bot()
        .args(["check"])
        .repo(repo.path())
        .env("GITHUB_ACTIONS", "true")
        .run();
    assert_eq!(gh.code, 0, "{}", gh.stderr);
    let annotation =
        format!("::warning file=branches.toml,line={line},col=14,title=ake-bot check::");
    assert!(
        gh.stdout.contains(&annotation),
        "{annotation} in:\n{}",
        gh.stdout
    );

    // A digest that is not one is an error.
    repo.edit(
        "branches.toml",
        "kind_image = \"kindest/node:v1.32.5\"",
        "kind_image = \"kindest/node:v1.32.5@sha256:e3b2327e\"",
    );
    let bad = ake_bot(repo.path(), &["check"]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(
        bad.stderr.contains(&format!(
            "branches.toml:{line}:14: branch release-1.32: kind_image"
        )),
        "{}",
        bad.stderr
    );
}

#[test]
fn committed_renders_are_current_and_rendering_is_reproducible() {
    let repo = ConfigRepo::from_project();
    let check = ake_bot(repo.path(), &["render", "--check"]);
    assert_eq!(
        check.code, 0,
        "committed renders must match a fresh render:\n{}{}",
        check.stdout, check.stderr
    );

    // Remove one, re-render it, and get the same bytes back.
    let committed = repo.read("bundles/argo-cd/rendered/manifests.yaml");
    repo.remove("bundles/argo-cd/rendered/manifests.yaml");
    let run = ake_bot(repo.path(), &["render", "--addon", "argo-cd"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        committed,
        repo.read("bundles/argo-cd/rendered/manifests.yaml")
    );
}

#[test]
fn a_cut_release_branch_is_planned_from_its_own_pins_and_renders() {
    let repo = ConfigRepo::from_project();
    repo.git_init();
    // release-1.31 already runs cert-manager v1.15.5 (the newest under its cap), rendered for
    // 1.31 by `render`, which picks the checked-out branch.
    repo.git(&["checkout", "-q", "-b", "release-1.31"]);
    repo.pin("cert-manager", "v1.15.5");
    let run = ake_bot(repo.path(), &["render"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(repo
        .read("bundles/cert-manager/rendered/manifests.yaml")
        .contains("Kubernetes 1.31, branch release-1.31"));
    repo.git(&["commit", "-q", "-am", "release-1.31: cert-manager v1.15.5"]);
    repo.git(&["checkout", "-q", "main"]);

    let before = repo.files();
    let (run, entries) = plan_json(&repo, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let cm = entry(&entries, "cert-manager", "release-1.31");
    assert_eq!(
        cm["origin"],
        serde_json::json!({"kind": "git", "label": "release-1.31"})
    );
    assert_eq!(cm["current"], "v1.15.5");
    assert_eq!(cm["action"]["kind"], "up-to-date");
    let argo = entry(&entries, "argo-cd", "release-1.31");
    assert_eq!(argo["origin"]["kind"], "git");
    assert_eq!(argo["action"]["kind"], "update");
    assert!(!argo["body"]
        .as_str()
        .unwrap()
        .contains("not cut in this repository"));
    assert_eq!(
        entry(&entries, "argo-cd", "release-1.32")["origin"]["kind"],
        "not-cut"
    );
    assert_eq!(
        entry(&entries, "argo-cd", "main")["origin"]["kind"],
        "work-tree"
    );

    assert_eq!(before, repo.files(), "the work tree is untouched");
    assert_eq!(
        repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "main"
    );
    assert!(repo.git(&["status", "--porcelain"]).trim().is_empty());
}

#[test]
fn a_missing_helm_is_one_clear_error() {
    let repo = ConfigRepo::from_project();
    let cache = tempfile::tempdir().unwrap();
    let run = bot()
        .args(["sync", "--dry-run"])
        .repo(repo.path())
        .env("AKE_BOT_CACHE_DIR", cache.path())
        .env("HELM", repo.path().join("no-such-helm"))
        .run();
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with("error: $HELM points at ")
            && run.stderr.contains("which is not a file"),
        "{}",
        run.stderr
    );
    let run = bot()
        .args(["sync", "--dry-run"])
        .repo(repo.path())
        .env("AKE_BOT_CACHE_DIR", cache.path())
        .env_remove("HELM")
        .env("PATH", "/nonexistent")
        .run();
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("helm not found: install Helm"));
}

#[test]
fn check_renders_values_templates_for_every_branch() {
    let repo = ConfigRepo::from_project();
    repo.edit(
        "bundles/kube-prometheus-stack/values.yaml.j2",
        "{% if kube.minor_number < 25 %}",
        "{% if kube.minor_numbr < 25 %}",
    );
    let run = ake_bot(repo.path(), &["check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: bundles/kube-prometheus-stack/values.yaml.j2:"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("rendering for main: line"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("undefined"), "{}", run.stderr);
}

/// `ake-bot sync --dry-run | head -1`: a reader that goes away ends the output quietly — no
/// panic, no error, the command's own exit status.
#[test]
fn a_closed_stdout_ends_the_output_quietly() {
    let repo = ConfigRepo::from_project();
    let cache = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    for format in ["text", "json"] {
        let mut child = bot()
            .args([
                "sync",
                "--dry-run",
                "--branch",
                "main",
                "--addon",
                "cert-manager",
            ])
            .args(["--output", format])
            .repo(repo.path())
            .env("AKE_BOT_CACHE_DIR", cache.path())
            .command(home.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the first byte is written: every write meets EPIPE.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: {stderr}");
        assert!(
            !stderr.contains("error") && !stderr.contains("panicked"),
            "{format}: {stderr}"
        );
    }
}
