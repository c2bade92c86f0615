//! `sync --dry-run` at scale: cold (empty cache) against the helm calls it needs run as
//! parallel as ake-bot runs them (the floor), warm (nothing new upstream) against cold, and
//! peak memory by plan size (bundles copied under new names in a temp dir).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A scratch config repo with `copies` of each helm bundle (argo-cd, cert-manager,
/// kube-prometheus-stack; gateway-api removed): 3 × copies addons on 4 branches.
fn scaled_repo(copies: usize) -> ake_bot_testkit::ConfigRepo {
    let repo = ake_bot_testkit::ConfigRepo::from_project();
    let bundles = repo.path().join("bundles");
    std::fs::remove_dir_all(bundles.join("gateway-api")).expect("remove gateway-api");
    for name in ["argo-cd", "cert-manager", "kube-prometheus-stack"] {
        for k in 2..=copies {
            copy_dir(&bundles.join(name), &bundles.join(format!("{name}-{k}")));
        }
    }
    repo
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let p = e.expect("entry").path();
        let dest = to.join(p.file_name().expect("name"));
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).expect("copy");
        }
    }
}

/// One `sync --dry-run --output json` with `cache`: (wall time, peak RSS in MB when
/// /usr/bin/time is there, the plan's entries).
fn sync_once(
    bin: &str,
    repo: &Path,
    cache: &Path,
) -> (Duration, Option<f64>, Vec<serde_json::Value>) {
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut cmd = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "peak-rss-kb %M", bin]);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(["sync", "--dry-run", "--output", "json", "--repo"])
        .arg(repo)
        .env("AKE_BOT_CACHE_DIR", cache);
    let t = Instant::now();
    let out = cmd.output().expect("ake-bot");
    let took = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kb "))
        .and_then(|kb| kb.trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan json");
    let entries = v["data"]["entries"].as_array().cloned().expect("entries");
    (took, rss, entries)
}

/// The `helm template` calls `entries` imply (the same charts from the offline mirror, no
/// values), run `parallel` at a time: the floor of any helm-based tool on this plan.
fn helm_floor(root: &Path, helm: &str, entries: &[serde_json::Value], parallel: usize) -> Duration {
    let mut calls: Vec<Vec<String>> = Vec::new();
    for e in entries.iter().filter(|e| e["action"]["kind"] == "update") {
        let addon = e["addon"].as_str().expect("addon");
        let base = ["argo-cd", "cert-manager", "kube-prometheus-stack"]
            .into_iter()
            .find(|b| addon == *b || addon.starts_with(&format!("{b}-")))
            .expect("a copied helm bundle");
        let (repo, ns) = match base {
            "cert-manager" => ("jetstack", "cert-manager"),
            "argo-cd" => ("argo", "argocd"),
            _ => ("prometheus-community", "monitoring"),
        };
        let kube = format!("{}.0", e["kubernetes"].as_str().expect("kubernetes"));
        let mut versions = vec![e["target"].as_str().expect("target")];
        if e["origin"]["kind"] == "not-cut" {
            versions.push(e["current"].as_str().expect("current"));
        }
        for v in versions {
            let chart: PathBuf = root
                .join("mirror")
                .join(repo)
                .join(format!("{base}-{v}.tgz"));
            calls.push(vec![
                "template".into(),
                addon.into(),
                chart.display().to_string(),
                "--namespace".into(),
                ns.into(),
                "--kube-version".into(),
                kube.clone(),
                "--include-crds".into(),
            ]);
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(args) = calls.get(i) else { break };
                let out = Command::new(helm)
                    .args(args)
                    .output()
                    .expect("helm template");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            });
        }
    });
    t.elapsed()
}

pub fn plan_scale(root: &Path, bin: &str, helm: &str, runs: usize) {
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    // 12 entries: cold (a fresh cache each run) vs the floor, and warm vs cold.
    let repo = scaled_repo(1);
    let (mut cold, mut warm, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    let mut entries = Vec::new();
    for _ in 0..runs {
        let cache = tempfile::tempdir().expect("tmp");
        let (t, _, e) = sync_once(bin, repo.path(), cache.path());
        cold.push(t);
        let (w, _, again) = sync_once(bin, repo.path(), cache.path());
        assert_eq!(again, e, "a warm plan says exactly what the cold one said");
        warm.push(w);
        entries = e;
        floor.push(helm_floor(root, helm, &entries, parallel));
    }
    let (cold, warm, floor) = (median(cold), median(warm), median(floor));
    super::row(
        &format!(
            "sync --dry-run cold, {} entries vs helm x{parallel} parallel",
            entries.len()
        ),
        cold,
        floor,
    );
    super::row("sync --dry-run warm (nothing new) vs cold", warm, cold);

    // Peak memory by plan size, cold.
    for copies in [1, 4, 10] {
        let repo = scaled_repo(copies);
        let cache = tempfile::tempdir().expect("tmp");
        let (t, rss, e) = sync_once(bin, repo.path(), cache.path());
        match rss {
            Some(mb) => println!(
                "{:<58} {:>10.0}MB {:>10.1}s {:>8}",
                format!("peak RSS, cold sync --dry-run, {} entries (time)", e.len()),
                mb,
                t.as_secs_f64(),
                "—"
            ),
            None => println!("(peak RSS skipped: no /usr/bin/time; apt-get install time)"),
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
