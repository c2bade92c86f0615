//! The semantic diff on real `helm template` output (../fixtures/upstream/rendered, with
//! provenance in mirror/provenance.json): parsing agrees with the upstream stats, the canonical
//! form is lossless and stable, and the diff calls out what the data README says changed.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;

use ake_bot::manifest::{diff, Manifests};
use ake_bot_testkit::fixtures_dir;
use serde_json::Value;

fn rendered(rel: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join("upstream/rendered").join(rel)).unwrap()
}

fn stats() -> Value {
    serde_json::from_str(&rendered("stats.json")).unwrap()
}

const FILES: &[&str] = &[
    "cert-manager/v1.15.5.yaml",
    "cert-manager/v1.16.5.yaml",
    "cert-manager/v1.15.5.with-crds.yaml",
    "cert-manager/v1.16.5.with-crds.yaml",
    "argo-cd/7.8.28.yaml",
    "argo-cd/7.9.1.yaml",
    "kube-prometheus-stack/72.9.1.yaml",
    "kube-prometheus-stack/72.9.1.kube-1.22.0.yaml",
    "kube-prometheus-stack/73.2.3.with-crds.yaml",
    "kube-prometheus-stack/88.5.3.with-crds.yaml",
];

#[test]
fn parsing_finds_exactly_the_objects_upstream_counted() {
    let stats = stats();
    for file in FILES {
        let m = Manifests::parse(&rendered(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let s = &stats[*file];
        assert_eq!(m.len() as u64, s["resources"].as_u64().unwrap(), "{file}");
        let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
        for o in m.objects() {
            *kinds.entry(o.key.kind.clone()).or_default() += 1;
        }
        let expected: BTreeMap<String, u64> = serde_json::from_value(s["kinds"].clone()).unwrap();
        assert_eq!(kinds, expected, "{file}");
    }
}

#[test]
fn the_canonical_form_is_lossless_and_a_fixed_point() {
    for file in FILES {
        let m = Manifests::parse(&rendered(file)).unwrap();
        let canonical = m.to_canonical_yaml();
        let again = Manifests::parse(&canonical).unwrap_or_else(|e| panic!("{file}: {e}"));
        // Lossless: every object survives, value and all (the kps CRDs' unquoted `- =`
        // included) — and none is lost or added, which a zip alone would not notice.
        assert_eq!(m.len(), again.len(), "{file}: object count changed");
        for (a, b) in m.objects().iter().zip(again.objects()) {
            assert_eq!(a.key, b.key, "{file}");
            assert_eq!(a.value, b.value, "{file}: {}", a.key);
        }
        assert_eq!(
            again.to_canonical_yaml(),
            canonical,
            "{file}: not a fixed point"
        );
    }
}

#[test]
fn cert_manager_bump_shows_its_four_images() {
    let d = diff(
        &Manifests::parse(&rendered("cert-manager/v1.15.5.yaml")).unwrap(),
        &Manifests::parse(&rendered("cert-manager/v1.16.5.yaml")).unwrap(),
    );
    let images: Vec<String> = d
        .summary
        .images
        .iter()
        .map(|i| {
            format!(
                "{} {} → {}",
                i.container,
                i.from.as_deref().unwrap_or("-"),
                i.to.as_deref().unwrap_or("-")
            )
        })
        .collect();
    insta::assert_snapshot!(images.join("\n"), @r"
    cert-manager-controller quay.io/jetstack/cert-manager-controller:v1.15.5 → quay.io/jetstack/cert-manager-controller:v1.16.5
    cert-manager-cainjector quay.io/jetstack/cert-manager-cainjector:v1.15.5 → quay.io/jetstack/cert-manager-cainjector:v1.16.5
    cert-manager-webhook quay.io/jetstack/cert-manager-webhook:v1.15.5 → quay.io/jetstack/cert-manager-webhook:v1.16.5
    cert-manager-startupapicheck quay.io/jetstack/cert-manager-startupapicheck:v1.15.5 → quay.io/jetstack/cert-manager-startupapicheck:v1.16.5
    ");
}

#[test]
fn argo_cd_shows_the_redis_downgrade() {
    let d = diff(
        &Manifests::parse(&rendered("argo-cd/7.8.28.yaml")).unwrap(),
        &Manifests::parse(&rendered("argo-cd/7.9.1.yaml")).unwrap(),
    );
    let redis: Vec<_> = d
        .summary
        .images
        .iter()
        .filter(|i| i.to.as_deref().is_some_and(|t| t.contains("redis")))
        .collect();
    assert!(!redis.is_empty());
    assert!(redis.iter().all(|i| i.from.as_deref()
        == Some("public.ecr.aws/docker/library/redis:7.4.2-alpine")
        && i.to.as_deref() == Some("public.ecr.aws/docker/library/redis:7.2.8-alpine")));
    assert!(
        d.summary.crds.is_empty(),
        "argo-cd's CRDs are unchanged between these versions"
    );
}

#[test]
fn kube_prometheus_stack_major_bump_shows_crds_operator_and_removals() {
    let d = diff(
        &Manifests::parse(&rendered("kube-prometheus-stack/73.2.3.with-crds.yaml")).unwrap(),
        &Manifests::parse(&rendered("kube-prometheus-stack/88.5.3.with-crds.yaml")).unwrap(),
    );
    assert!(
        d.summary
            .crds
            .iter()
            .any(|c| c.is_breaking() && c.additive().next().is_some()),
        "{:?}",
        d.summary.crds
    );
    assert!(d.summary.images.iter().any(|i| {
        i.from
            .as_deref()
            .is_some_and(|f| f.ends_with("prometheus-operator:v0.82.2"))
            && i.to
                .as_deref()
                .is_some_and(|t| t.ends_with("prometheus-operator:v0.93.1"))
    }));
    let removed: Vec<String> = d.removed.iter().map(|r| r.to_string()).collect();
    assert!(
        removed.iter().any(|r| r.starts_with("Pod ")),
        "the grafana test Pod is gone: {removed:?}"
    );
    assert_eq!(d.summary.removed, d.removed);
    // 88.5.3's grafana admin password is random: its value must not leak into any diff.
    let secret = Manifests::parse(&rendered("kube-prometheus-stack/88.5.3.with-crds.yaml"))
        .unwrap()
        .objects()
        .iter()
        .find(|o| o.key.kind == "Secret" && o.key.name == "kube-prometheus-stack-grafana")
        .and_then(|o| {
            o.value
                .pointer("/data/admin-password")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .expect("the grafana secret carries a password");
    for c in &d.changed {
        assert!(
            !c.unified_diff.contains(&secret),
            "{} leaks the password",
            c.key
        );
    }
}

#[test]
fn capabilities_differences_are_small_and_precise() {
    // The same chart rendered for Kubernetes 1.22 and for helm's default differs in a handful
    // of lines (the data README: 2 removed, 6 added).
    let d = diff(
        &Manifests::parse(&rendered("kube-prometheus-stack/72.9.1.kube-1.22.0.yaml")).unwrap(),
        &Manifests::parse(&rendered("kube-prometheus-stack/72.9.1.yaml")).unwrap(),
    );
    assert!(d.added.is_empty() && d.removed.is_empty());
    let (plus, minus): (usize, usize) = d
        .changed
        .iter()
        .fold((0, 0), |(p, m), c| (p + c.lines_added, m + c.lines_removed));
    assert!(
        plus <= 6 && minus <= 2 && plus + minus > 0,
        "+{plus} -{minus}"
    );
}
