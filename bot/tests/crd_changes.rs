//! CRD changes classified on the real charts: every change between two tags of kube-prometheus-
//! stack (72.9.1 → 88.5.3) and cert-manager (v1.14.7 → v1.16.5), one line per change, against
//! lists reviewed by hand against the two schemas (and an independent implementation of the
//! same rules, in `fixtures/crd-review/` with the hand check). `diff A B` carries them for
//! tenants, as text, Markdown and JSON.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use ake_bot_testkit::{Bot, ConfigRepo, Run};
use serde_json::Value;

fn ake_bot(repo: &ConfigRepo, cache: &std::path::Path, args: &[&str]) -> Run {
    Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(args)
        .repo(repo.path())
        .env("AKE_BOT_CACHE_DIR", cache)
        .run()
}

/// The project at tag `before`, then `addon` bumped to `version` (pin and render) at `after`.
fn bumped(addon: &str, version: &str) -> (ConfigRepo, tempfile::TempDir) {
    let repo = ConfigRepo::from_project();
    let cache = tempfile::tempdir().unwrap();
    repo.git_init();
    repo.git(&["tag", "-a", "before", "-m", "before"]);
    repo.pin(addon, version);
    let render = ake_bot(&repo, cache.path(), &["render", "--addon", addon]);
    assert_eq!(render.code, 0, "{}", render.stderr);
    repo.git(&["commit", "-q", "-am", &format!("bump {addon} to {version}")]);
    repo.git(&["tag", "-a", "after", "-m", "after"]);
    (repo, cache)
}

/// `diff before after --output json`: the addon's classified CRD changes, one line each:
/// `crd impact version path: what`.
fn classified(repo: &ConfigRepo, cache: &std::path::Path, addon: &str) -> Vec<String> {
    let run = ake_bot(
        repo,
        cache,
        &["diff", "before", "after", "--output", "json"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let a = v["data"]["addons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["addon"] == addon)
        .unwrap()
        .clone();
    let mut out = Vec::new();
    for c in a["summary"]["crds"].as_array().unwrap() {
        for s in c["changes"].as_array().unwrap() {
            out.push(format!(
                "{} {} {} {}: {}",
                c["crd"].as_str().unwrap(),
                s["impact"].as_str().unwrap(),
                s["version"].as_str().unwrap_or("-"),
                match s["path"].as_str().unwrap() {
                    "" => "-",
                    p => p,
                },
                s["what"].as_str().unwrap()
            ));
        }
    }
    out
}

/// `diff before after --output markdown`, which must hold each of `lines`.
fn markdown_with(repo: &ConfigRepo, cache: &std::path::Path, lines: &[&str]) -> String {
    let md = ake_bot(
        repo,
        cache,
        &["diff", "before", "after", "--output", "markdown"],
    );
    for line in lines {
        assert!(md.stdout.contains(line), "{line} in:\n{}", md.stdout);
    }
    md.stdout
}

#[test]
fn kube_prometheus_stack_72_to_88_names_every_breaking_path() {
    let (repo, cache) = bumped("kube-prometheus-stack", "88.5.3");
    let lines = classified(&repo, cache.path(), "kube-prometheus-stack");
    let count = |impact: &str| {
        lines
            .iter()
            .filter(|l| l.split(' ').nth(1) == Some(impact))
            .count()
    };
    // Counted by hand from the schemas (an independent script agrees): no property is removed,
    // but minLength/minimum/pattern are added across the monitoring API, CEL rules arrive on
    // Prometheus and PrometheusAgent, and `spec.receivers` becomes a map list.
    assert_eq!((count("breaking"), count("additive")), (264, 275));
    insta::assert_snapshot!("crd-changes-kube-prometheus-stack", lines.join("\n"));

    // The text a tenant reads names the same breaking paths.
    let text = ake_bot(&repo, cache.path(), &["diff", "before", "after"]);
    assert!(
        text.stdout.contains(
            "crd      `alertmanagerconfigs.monitoring.coreos.com`: breaking (105 breaking, "
        ),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(
            "breaking v1alpha1: now required at `spec.receivers[].victoropsConfigs[].routingKey`"
        ),
        "{}",
        text.stdout
    );
    markdown_with(
        &repo,
        cache.path(),
        &["**264 breaking changes** for custom resources"],
    );
}

#[test]
fn cert_manager_14_to_16_is_additive_only() {
    let (repo, cache) = bumped("cert-manager", "v1.16.5");
    let lines = classified(&repo, cache.path(), "cert-manager");
    assert!(
        lines.iter().all(|l| !l.contains(" breaking ")),
        "{lines:#?}"
    );
    insta::assert_snapshot!("crd-changes-cert-manager", lines.join("\n"));
    let md = markdown_with(
        &repo,
        cache.path(),
        &[
            "- `certificates.cert-manager.io`: additive only (2 changes)",
            "- `clusterissuers.cert-manager.io`: additive only",
            "- `certificaterequests.cert-manager.io`: descriptions only",
        ],
    );
    assert!(!md.contains("breaking change"), "{md}");
}

/// A third pair, from a GitHub release asset rather than a chart: the CRDs gain CEL rules and
/// versions, three CRDs arrive, and nothing is removed. The same rules' independent
/// implementation (`fixtures/crd-review/oracle.py`) agrees on every breaking and additive line
/// but the deliberate `none → atomic` difference.
#[test]
fn gateway_api_1_2_to_1_5_names_its_cel_rules_and_new_versions() {
    let (repo, cache) = bumped("gateway-api", "v1.5.1");
    let lines = classified(&repo, cache.path(), "gateway-api");
    for line in [
        // `spec.rules` had no minItems in v1.2.1 and has `minItems: 1` in v1.5.1.
        "httproutes.gateway.networking.k8s.io breaking v1 spec.rules: minItems tightened: none → 1",
        "gateways.gateway.networking.k8s.io breaking v1 spec.listeners: CEL rule added: `self.all(l, (l.protocol == 'TLS' ? has(l.tls) && has(l.tls.mode) && l.tls.mode != '' : true))`",
        // ReferenceGrant gains a served v1 (v1beta1 stays the storage version).
        "referencegrants.gateway.networking.k8s.io additive v1 -: version added",
        "tlsroutes.gateway.networking.k8s.io additive - -: CRD added (versions v1)",
    ] {
        assert!(lines.iter().any(|l| l == line), "{line} in {lines:#?}");
    }
    assert!(
        !lines.iter().any(|l| l.contains("none → atomic")),
        "{lines:#?}"
    );
    insta::assert_snapshot!("crd-changes-gateway-api", lines.join("\n"));
    markdown_with(
        &repo,
        cache.path(),
        &[
            "- `referencegrants.gateway.networking.k8s.io`: additive only (1 change)",
            "- `gateways.gateway.networking.k8s.io`: breaking (8 breaking, 18 additive)",
            "- `listenersets.gateway.networking.k8s.io`: added",
        ],
    );
}
