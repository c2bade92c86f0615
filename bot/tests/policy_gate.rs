//! Policies in the train: `validate` evaluates the Gatekeeper constraints under `policies/`
//! against every branch's renders (with the team's exemptions), and a bump that introduces a
//! violation says so in its PR body. Real charts, real library templates.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use ake_bot_testkit::{fixtures_dir, Bot, ConfigRepo, Run};

fn bot(repo: &ConfigRepo, args: &[&str]) -> Run {
    Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(args)
        .repo(repo.path())
        .with_schemas()
        .run()
}

/// A platform that allows Argo CD's images only from its own registries, and redis only on
/// the 7.4 line (the library's K8sAllowedRepos template, unchanged).
fn argocd_images(repo: &ConfigRepo) {
    let template = std::fs::read_to_string(
        fixtures_dir().join("gatekeeper-library/library/general/allowedrepos/template.yaml"),
    )
    .unwrap();
    repo.write("policies/allowedrepos/template.yaml", &template);
    repo.write(
        "policies/allowedrepos/constraint.yaml",
        "apiVersion: constraints.gatekeeper.sh/v1beta1\n\
         kind: K8sAllowedRepos\n\
         metadata:\n  name: argocd-images\n\
         spec:\n  match:\n    kinds:\n      - apiGroups: [\"\"]\n        kinds: [\"Pod\"]\n    namespaces: [\"argocd\"]\n\
         \x20 parameters:\n    repos:\n      - \"quay.io/argoproj/\"\n      - \"ghcr.io/dexidp/\"\n      - \"public.ecr.aws/docker/library/redis:7.4\"\n",
    );
}

#[test]
fn a_bump_that_breaks_a_policy_says_so_in_its_pr_body() {
    let repo = ConfigRepo::from_project();
    argocd_images(&repo);

    // The committed argo-cd (7.8.27, redis 7.4.2) passes.
    let before = bot(&repo, &["validate", "--branch", "main"]);
    assert!(
        !before.stdout.contains("argocd-images"),
        "{}",
        before.stdout
    );

    // 7.9.1 moves redis to 7.2.8: the constraint denies it, and the PR says which object
    // (where the file to be committed has it), which constraint and the template's own message.
    let cache = tempfile::tempdir().unwrap();
    let sync = || {
        Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
            .args([
                "sync",
                "--dry-run",
                "--addon",
                "argo-cd",
                "--branch",
                "main",
            ])
            .repo(repo.path())
            .with_schemas()
            .env("AKE_BOT_CACHE_DIR", cache.path())
            .run()
    };
    let plan = sync();
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    // The same render read back from the cache (the entry not cached, as when another run's
    // policies differ) points at the same document and line.
    std::fs::remove_dir_all(cache.path().join("entries")).unwrap();
    let again = sync();
    assert_eq!(again.stdout, plan.stdout);
    for expected in [
        "labels: ake-bot, addon/argo-cd, image-change, validation-failed, policy-violation",
        "- **error** `Deployment argocd/argo-cd-argocd-redis` (document 21, line 23520): its Pods: violates K8sAllowedRepos/argocd-images (template k8sallowedrepos): container <redis> has an invalid image repo <public.ecr.aws/docker/library/redis:7.2.8-alpine>",
    ] {
        assert!(plan.stdout.contains(expected), "missing {expected:?} in:\n{}", plan.stdout);
    }
}

#[test]
fn validate_reports_the_project_policies_with_the_accepted_exemptions() {
    let repo = ConfigRepo::from_project().with_policies();
    let run = bot(&repo, &["validate", "--branch", "main", "--output", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let report = &v["data"][0];
    let exemptions = report["exemptions"].as_array().unwrap();
    let accepted: Vec<(&str, &str)> = exemptions
        .iter()
        .map(|e| {
            (
                e["constraint"].as_str().unwrap(),
                e["object"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(accepted.contains(&(
        "K8sPSPHostNetworkingPorts/no-host-network",
        "DaemonSet monitoring/kube-prometheus-stack-prometheus-node-exporter"
    )));
    assert!(exemptions.iter().all(|e| e["by"] == "bundle.yaml"
        && e["bundle"] == "kube-prometheus-stack"
        && !e["reason"].as_str().unwrap().is_empty()));
    // The warn-level constraints still report what charts have not fixed yet.
    let warnings: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "policy")
        .collect();
    assert!(!warnings.is_empty());
    assert!(
        warnings.iter().all(|f| f["severity"] == "warning"),
        "{warnings:#?}"
    );

    // Without the exemption, the node-exporter's host network is an error again.
    repo.edit(
        "bundles/kube-prometheus-stack/bundle.yaml",
        "  no-host-network: node-exporter serves node metrics from the node's network namespace\n",
        "",
    );
    let run = bot(&repo, &["validate", "--branch", "main"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(
        "DaemonSet monitoring/kube-prometheus-stack-prometheus-node-exporter: its Pods: violates K8sPSPHostNetworkingPorts/no-host-network"
    ), "{}", run.stdout);
}

#[test]
fn a_stale_or_mistyped_exemption_is_a_warning() {
    let repo = ConfigRepo::from_project().with_policies();
    repo.edit(
        "bundles/kube-prometheus-stack/bundle.yaml",
        "policy_exemptions:\n",
        "policy_exemptions:\n  no-hots-paths: a typo\n",
    );
    let run = bot(&repo, &["validate", "--branch", "main"]);
    assert!(
        run.stdout.contains(
            "policy_exemptions: `no-hots-paths`: no constraint of that name under policies/"
        ),
        "{}",
        run.stdout
    );
}
