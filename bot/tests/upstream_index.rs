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
    // argo-workflows 0.46.00 has a leading zero: Masterminds (and so Helm) still accepts it;
    // strict SemVer does not, and where the two disagree ake-bot takes strictness.
    let wf = idx.releases("argo-workflows");
    assert!(!wf.releases.iter().any(|r| r.entry.version == "0.46.00"));
    assert!(wf
        .unusable
        .iter()
        .any(|u| u.version == "0.46.00" && u.reason.contains("leading zero")));
    assert!(wf.releases.len() > 100, "the others are all there");
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
    // Upstream lists this version twice with two different archives: which one is it? Not
    // chosen, and the reason names both digests.
    let dup = "5.6.0-weekly.314";
    assert!(
        !mimir.releases.iter().any(|r| r.entry.version == dup),
        "a version listed with two digests is not usable"
    );
    let u = mimir.unusable.iter().find(|u| u.version == dup).unwrap();
    assert!(
        u.reason
            .starts_with("listed more than once with different digests (sha256 ")
            && u.reason.matches(" and ").count() == 1,
        "{}",
        u.reason
    );
    let op = idx.releases("grafana-operator");
    assert!(op.releases.iter().any(|r| r.entry.version == "v5.20.0"));
    // grafana's newest entry is deprecated upstream (moved to grafana-community).
    let g = idx.releases("grafana");
    assert!(g.releases[0].entry.deprecated);
}

const D1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

#[test]
fn unusable_entries_are_set_apart_with_their_reason() {
    let text = format!(
        r#"apiVersion: v1
entries:
  demo:
  - {{name: demo, version: v1.99, digest: "{D1}", urls: [a.tgz]}}
  - {{name: demo, version: v1.17.3, digest: "", urls: [a.tgz]}}
  - {{name: demo, version: v1.17.2, digest: "{D1}"}}
  - {{name: demo, version: v01.17.0, digest: "{D1}", urls: [a.tgz]}}
  - {{name: demo, version: 1.17.1.4, digest: "{D1}", urls: [a.tgz]}}
  - {{name: demo, version: 1.17.1-, digest: "{D1}", urls: [a.tgz]}}
  - {{name: demo, version: v1.16.9, digest: "sha256:abc", urls: [a.tgz]}}
  - {{name: demo, version: v1.16.8, digest: "{D1}", urls: [a.tgz]}}
  - {{name: demo, version: v1.16.8, digest: "{D2}", urls: [b.tgz]}}
  - {{name: demo, version: v1.16.7, digest: "{D1}", urls: [a.tgz]}}
  - {{name: demo, version: v1.16.7, digest: "{D1}", urls: [a.tgz]}}
  - {{name: demo, version: [not, a, string]}}
  - {{name: demo, version: v1.16.5, digest: "{D2}", urls: [c.tgz]}}
  - {{name: evil, version: v1.16.4, digest: "{D2}", urls: [c.tgz]}}
"#
    );
    let idx = Index::parse("test", &text).unwrap();
    let r = idx.releases("demo");
    let usable: Vec<&str> = r
        .releases
        .iter()
        .map(|r| r.entry.version.as_str())
        .collect();
    // A duplicate with the same digest is the same archive: kept, silently.
    assert_eq!(usable, ["v1.16.7", "v1.16.5"]);
    let why = |v: &str| {
        r.unusable
            .iter()
            .find(|u| u.version == v)
            .unwrap_or_else(|| panic!("{v} not set apart: {:?}", r.unusable))
            .reason
            .clone()
    };
    assert!(
        why("v1.99").contains("not major.minor.patch"),
        "{}",
        why("v1.99")
    );
    assert!(why("v01.17.0").contains("leading zero"));
    assert!(why("1.17.1.4").contains("more than three numeric parts"));
    assert!(why("1.17.1-").contains("empty pre-release"));
    assert_eq!(
        why("v1.17.3"),
        "no sha256 digest, so its archive cannot be verified"
    );
    assert_eq!(why("v1.17.2"), "no download URL");
    assert_eq!(
        why("v1.16.9"),
        "digest \"sha256:abc\" is not a sha256 digest"
    );
    assert!(why("v1.16.8").contains(&format!("(sha256 {D1} and {D2})")));
    assert_eq!(
        why("v1.16.4"),
        "the entry is for chart \"evil\", listed under \"demo\""
    );
    assert!(
        why("?").starts_with("the entry does not decode"),
        "{}",
        why("?")
    );
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
