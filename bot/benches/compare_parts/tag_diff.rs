//! `ake-bot diff A B` between two tags of a config repository whose only change is
//! kube-prometheus-stack 73.2.3 → 88.5.3 (renders with CRDs, 5 MB each)  vs  `git diff A B` in
//! the same repository: what a tenant reads before moving, against the line diff git gives.

use std::path::Path;
use std::process::Command;

use ake_bot_testkit::ConfigRepo;

const ADDON: &str = "kube-prometheus-stack";

pub fn tag_diff(root: &Path, bin: &str) {
    let rendered = root
        .join("bot/tests/fixtures/upstream/rendered")
        .join(ADDON);
    let render = |version: &str| {
        std::fs::read_to_string(rendered.join(format!("{version}.with-crds.yaml")))
            .expect("kube-prometheus-stack render")
    };
    let repo = ConfigRepo::from_project();
    let manifests = format!("bundles/{ADDON}/rendered/manifests.yaml");
    // Both tags pin the version their render is of: the diff reports versions from bundle.yaml.
    repo.pin(ADDON, "73.2.3");
    repo.write(&manifests, &render("73.2.3"));
    repo.git_init();
    repo.git(&["tag", "-a", "A", "-m", "A"]);
    repo.pin(ADDON, "88.5.3");
    repo.write(&manifests, &render("88.5.3"));
    repo.git(&[
        "commit",
        "-q",
        "-am",
        "kube-prometheus-stack 73.2.3 → 88.5.3",
    ]);
    repo.git(&["tag", "-a", "B", "-m", "B"]);

    let cache = tempfile::tempdir().expect("tmp");
    let ours = super::median(|| {
        let out = Command::new(bin)
            .args(["diff", "A", "B", "--repo"])
            .arg(repo.path())
            .env("AKE_BOT_CACHE_DIR", cache.path())
            .output()
            .expect("ake-bot diff");
        // Exit 1: the tags differ (diff(1)'s convention).
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("73.2.3 → 88.5.3"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    });
    let reference = super::median(|| {
        let out = Command::new("git")
            .args(["diff", "--no-color", "A", "B"])
            .current_dir(repo.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git diff");
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    super::row(
        "tag diff, kps 73.2.3 → 88.5.3 (git tags) vs git diff A B",
        ours,
        reference,
    );
}
