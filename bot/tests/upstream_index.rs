//! Helm repository indexes: the real published ones (argo, grafana, grafana-community,
//! dandydeveloper) with their quirks, and version choice per branch on the real mirror.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::Read;
use std::path::Path;

use ake_bot::config::{self, TrainBranch};
use ake_bot::git::Tree;
use ake_bot::upstream::{choose, Index, SkipReason};
use ake_bot::version::Version;
use ake_bot_testkit::{fixtures_dir, mirror_dir, workspace_root};

fn real_index(name: &str) -> Index {
    let path = fixtures_dir().join("upstream/indexes").join(name);
    let bytes = std::fs::read(&path).unwrap();
    let text = if name.ends_with(".gz") {
        let mut s = String::new();
        flate2_read(&bytes, &mut s);
        s
    } else {
        String::from_utf8(bytes).unwrap()
    };
    Index::parse(&path.display().to_string(), &text).unwrap()
}

fn flate2_read(bytes: &[u8], out: &mut String) {
    // The bot reads gzip the same way (upstream::fetch); tests only need the text.
    let mut d = flate2::read::GzDecoder::new(bytes);
    d.read_to_string(out).unwrap();
}

#[test]
fn argo_index_has_every_argo_cd_version_and_skips_non_semver_without_failing() {
    let idx = real_index("argoproj-argo-helm.index.yaml.gz");
    let argocd = idx.releases("argo-cd");
    assert_eq!(
        argocd.releases.len(),
        902,
        "the data README counts 902 argo-cd versions"
    );
    assert_eq!(
        argocd.releases[0].version.to_string(),
        "10.1.1",
        "newest first"
    );
    // argo-workflows 0.46.00 has a leading zero: Masterminds (and so Helm) still accepts it.
    let wf = idx.releases("argo-workflows");
    assert!(wf.releases.iter().any(|r| r.entry.version == "0.46.00"));
    // kubeVersion and annotations survive.
    let r = argocd
        .releases
        .iter()
        .find(|r| r.entry.version == "7.9.1")
        .unwrap();
    assert_eq!(r.entry.kube_version.as_deref(), Some(">=1.25.0-0"));
    assert!(r.entry.changes().is_some());
}

#[test]
fn grafana_index_duplicates_and_v_prefixes_are_handled() {
    let idx = real_index("grafana-helm-charts.index.yaml.gz");
    let mimir = idx.releases("mimir-distributed");
    let dup = "5.6.0-weekly.314";
    assert_eq!(
        mimir
            .releases
            .iter()
            .filter(|r| r.entry.version == dup)
            .count(),
        1,
        "a version listed twice is kept once"
    );
    assert!(mimir
        .skipped
        .iter()
        .any(|s| s.contains(dup) && s.contains("twice")));
    let op = idx.releases("grafana-operator");
    assert!(op.releases.iter().any(|r| r.entry.version == "v5.20.0"));
    // grafana's newest entry is deprecated upstream (moved to grafana-community).
    let g = idx.releases("grafana");
    assert!(g.releases[0].entry.deprecated);
}

#[test]
fn hostile_entries_are_skipped_not_fatal() {
    let text = r#"apiVersion: v1
entries:
  demo:
  - name: demo
    version: 1.2.0
    digest: "00"
    urls: [demo-1.2.0.tgz]
  - name: demo
    version: [not, a, string]
  - name: demo
    version: not-a-version
  - name: demo
    version: 1.10
    urls: [demo-1.10.tgz]
"#;
    let idx = Index::parse("test", text).unwrap();
    let r = idx.releases("demo");
    let versions: Vec<String> = r.releases.iter().map(|r| r.version.to_string()).collect();
    // An unquoted 1.10 is a YAML float; Helm reads it as the string "1.10" and so do we
    // (serde turns the float back into "1.1", which is what YAML really said).
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(r.skipped.len(), 2, "{:?}", r.skipped);
    assert!(Index::parse("x", "just: [a, list").is_err());
    assert!(Index::parse("x", "apiVersion: v1\n")
        .unwrap_err()
        .0
        .contains("no `entries`"));
}

fn train_and_bundles() -> (config::Train, config::Bundles) {
    let root = workspace_root();
    let train = config::load_train(&root).unwrap();
    let bundles = config::load_bundles(&Tree::Dir(root)).unwrap();
    (train, bundles)
}

fn branch<'a>(train: &'a config::Train, name: &str) -> &'a TrainBranch {
    train.branch(name).unwrap()
}

fn mirror_index(repo: &str) -> Index {
    let p = mirror_dir().join(repo).join("index.yaml");
    Index::parse("mirror", &std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn kube_version_bites_on_the_old_branch_exactly_as_helm_decides() {
    let (train, bundles) = train_and_bundles();
    let kps = &bundles
        .loaded
        .iter()
        .find(|b| b.bundle.name.as_str() == "kube-prometheus-stack")
        .unwrap()
        .bundle;
    let releases = mirror_index("prometheus-community")
        .releases("kube-prometheus-stack")
        .releases;

    let on_main = choose(&releases, kps, branch(&train, "main"), &kps.version);
    assert_eq!(on_main.target.unwrap().version.to_string(), "88.5.3");

    // kube-prometheus-stack raised kubeVersion to >=1.25.0-0 at 73.0.0: 1.24 keeps 72.9.1.
    let old = choose(&releases, kps, branch(&train, "release-1.24"), &kps.version);
    assert_eq!(old.target.unwrap().version.to_string(), "72.9.1");
    let skipped: Vec<_> = old
        .skipped_newer
        .iter()
        .map(|s| s.version.as_str())
        .collect();
    assert_eq!(skipped, ["88.5.3", "73.2.3"]);
    assert!(
        matches!(&old.skipped_newer[0].reason, SkipReason::KubeVersion { constraint, .. } if constraint == ">=1.25.0-0")
    );
}

#[test]
fn branch_caps_limit_the_choice() {
    let (train, bundles) = train_and_bundles();
    let cm = &bundles
        .loaded
        .iter()
        .find(|b| b.bundle.name.as_str() == "cert-manager")
        .unwrap()
        .bundle;
    let releases = mirror_index("jetstack").releases("cert-manager").releases;
    let main = choose(&releases, cm, branch(&train, "main"), &cm.version);
    assert_eq!(main.target.unwrap().version.to_string(), "v1.16.5");
    let capped = choose(&releases, cm, branch(&train, "release-1.31"), &cm.version);
    assert_eq!(capped.target.unwrap().version.to_string(), "v1.15.5");
    assert!(capped
        .skipped_newer
        .iter()
        .all(|s| matches!(s.reason, SkipReason::Cap { .. })));
}

#[test]
fn nothing_admissible_means_no_target_and_an_inadmissible_pin() {
    let (train, bundles) = train_and_bundles();
    let argo = &bundles
        .loaded
        .iter()
        .find(|b| b.bundle.name.as_str() == "argo-cd")
        .unwrap()
        .bundle;
    let releases = mirror_index("argo").releases("argo-cd").releases;
    let c = choose(
        &releases,
        argo,
        branch(&train, "release-1.24"),
        &argo.version,
    );
    assert!(c.target.is_none());
    assert!(matches!(
        c.current_admissible,
        Err(SkipReason::KubeVersion { .. })
    ));
}

#[test]
fn provider_suffixed_kubernetes_versions_follow_helm() {
    // GKE/EKS report versions like v1.30.2-gke.1587003: a pre-release in semver terms. Helm's
    // `-0` idiom in kubeVersion admits them; a plain constraint does not.
    let gke = Version::parse("v1.30.2-gke.1587003").unwrap();
    assert!(ake_bot::version::Constraint::parse(">=1.25.0-0")
        .unwrap()
        .matches(&gke));
    assert!(!ake_bot::version::Constraint::parse(">=1.25.0")
        .unwrap()
        .matches(&gke));
    let _ = Path::new(".");
}
