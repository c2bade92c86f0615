//! Nothing upstream says is trusted beyond what can be checked (issue #10). Each scenario uses
//! a synthetic index or archive made by the test — never committed to `mirror/` — and proves
//! the error or warning text, that nothing was written, and that the other addons went on.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::time::{Duration, Instant};

use ake_bot::config::Mirrors;
use ake_bot::upstream::Fetcher;
use ake_bot_testkit::{chart_archive, Bot, ConfigRepo, Run};
use serde_json::Value;
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An index entry line for `demo`.
fn entry(version: &str, digest: &str, url: &str) -> String {
    format!("  - {{name: demo, version: \"{version}\", digest: \"{digest}\", urls: [\"{url}\"]}}\n")
}

fn index(entries: &[String]) -> String {
    format!("apiVersion: v1\nentries:\n  demo:\n{}", entries.concat())
}

/// Files under `dir` (to prove nothing was written).
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walk(dir) {
        out.push(e.strip_prefix(dir).unwrap().display().to_string());
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn a_mislabelled_archive_is_refused_with_or_without_a_cache() {
    let server = MockServer::start().await;
    let old = chart_archive("demo", "demo", "1.0.0");
    // The entry for 1.1.0 points at 1.0.0's archive, with 1.0.0's digest.
    let text = index(&[
        entry("1.1.0", &sha(&old), "demo-1.1.0.tgz"),
        entry("1.0.0", &sha(&old), "demo-1.0.0.tgz"),
    ]);
    for (p, body) in [
        ("/charts/index.yaml", text.into_bytes()),
        ("/charts/demo-1.0.0.tgz", old.clone()),
        ("/charts/demo-1.1.0.tgz", old.clone()),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(body))
            .mount(&server)
            .await;
    }
    let cache = tempfile::tempdir().unwrap();
    let repo = format!("{}/charts", server.uri());
    let f = Fetcher::new(Mirrors::default(), cache.path().to_path_buf()).unwrap();
    let idx = f.index(&repo, "demo").await.unwrap();
    let rel = idx.releases("demo");
    let v = |s: &str| {
        rel.releases
            .iter()
            .find(|r| r.entry.version == s)
            .unwrap()
            .entry
            .clone()
    };

    // Without a cache.
    let err = f.chart(&repo, &v("1.1.0")).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!("the archive of demo 1.1.0 from {repo}/demo-1.1.0.tgz holds demo 1.0.0 (its Chart.yaml): the index entry points at another chart's archive; refusing it")
    );
    assert!(
        files(cache.path()).is_empty(),
        "nothing cached: {:?}",
        files(cache.path())
    );

    // With 1.0.0 cached under the same digest: still refused, and the cache is untouched.
    f.chart(&repo, &v("1.0.0")).await.unwrap();
    let cached = files(cache.path());
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(
        cached[0].ends_with("-demo-1.0.0.tgz"),
        "keyed by version too: {cached:?}"
    );
    let err = f.chart(&repo, &v("1.1.0")).await.unwrap_err().to_string();
    assert!(err.contains("holds demo 1.0.0 (its Chart.yaml)"), "{err}");
    assert_eq!(files(cache.path()), cached);
}

#[tokio::test]
async fn entry_urls_never_reach_a_local_file_or_a_weaker_scheme() {
    let mirror = tempfile::tempdir().unwrap();
    let archive = chart_archive("demo", "demo", "1.0.0");
    let passwd = std::fs::read("/etc/passwd").unwrap_or_default();
    std::fs::write(
        mirror.path().join("index.yaml"),
        index(&[
            entry("1.3.0", &sha(&passwd), "file:///etc/passwd"),
            entry(
                "1.2.0",
                &sha(&archive),
                "http://charts.example.com/demo-1.2.0.tgz",
            ),
            entry(
                "1.1.0",
                &sha(&archive),
                "ftp://charts.example.com/demo-1.1.0.tgz",
            ),
            entry(
                "1.0.0",
                &sha(&archive),
                "https://charts.example.com/../../../etc/passwd",
            ),
        ]),
    )
    .unwrap();
    // The user's mirror of an https repository: the only local path ake-bot reads.
    let toml = format!(
        "[main]\nkubernetes = \"1.33\"\nkind_image = \"k\"\n[mirrors]\n\"https://charts.example.com\" = \"{}\"\n",
        mirror.path().display()
    );
    std::fs::write(mirror.path().join("branches.toml"), toml).unwrap();
    let train = ake_bot::config::load_train(mirror.path()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let f = Fetcher::new(train.mirrors.clone(), cache.path().to_path_buf()).unwrap();
    let repo = "https://charts.example.com";
    let idx = f.index(repo, "demo").await.unwrap();
    let rel = idx.releases("demo");
    let v = |s: &str| {
        rel.releases
            .iter()
            .find(|r| r.entry.version == s)
            .unwrap()
            .entry
            .clone()
    };
    let index_at = mirror.path().join("index.yaml").display().to_string();

    let err = f.chart(repo, &v("1.3.0")).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!("demo 1.3.0: the index {index_at} points at \"file:///etc/passwd\": scheme \"file\" is not allowed in an index (http or https, or a path relative to the repository)")
    );
    assert!(
        !err.contains(&sha(&passwd)[..16]),
        "the local file was never read: {err}"
    );
    let err = f.chart(repo, &v("1.2.0")).await.unwrap_err().to_string();
    assert!(
        err.ends_with("its charts may not be fetched over plain http"),
        "{err}"
    );
    let err = f.chart(repo, &v("1.1.0")).await.unwrap_err().to_string();
    assert!(err.contains("scheme \"ftp\" is not allowed"), "{err}");
    // `..` cannot climb out of the mirror: the URL is normalised first, and
    // https://charts.example.com/etc/passwd is not in the mirror.
    let err = f.chart(repo, &v("1.0.0")).await.unwrap_err().to_string();
    assert!(
        err.contains(&mirror.path().join("etc/passwd").display().to_string()),
        "{err}"
    );
    assert!(files(cache.path()).is_empty());
}

#[tokio::test]
async fn a_stalled_upstream_fails_within_its_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3600)))
        .mount(&server)
        .await;
    let cache = tempfile::tempdir().unwrap();
    let f = Fetcher::new(Mirrors::default(), cache.path().to_path_buf())
        .unwrap()
        .with_timeout(Duration::from_secs(1))
        .with_retry_base(Duration::from_millis(10));
    let started = Instant::now();
    let err = f
        .index(&server.uri(), "demo")
        .await
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    assert!(err.contains("no complete answer within 1s"), "{err}");
    // Two and a half deadlines in all, whatever the retries.
    assert!(took < Duration::from_secs(4), "{took:?}");
}

/// The project's config plus a `demo` addon whose upstream is a synthetic repository, mirrored
/// from `https://demo.example/charts` (what the test writes there is the upstream).
fn with_demo(upstream: &Path) -> ConfigRepo {
    let repo = ConfigRepo::from_project();
    repo.write(
        "bundles/demo/bundle.yaml",
        "description: a synthetic addon\nsource:\n  helm:\n    repo: https://demo.example/charts\n    chart: demo\nversion: 1.0.0\nallowed: \">=1.0.0, <2.0.0\"\nnamespace: demo\ndeploy_to: tenant\n",
    );
    let toml = repo.read("branches.toml").replacen(
        "[mirrors]\n",
        &format!(
            "[mirrors]\n\"https://demo.example/charts\" = \"{}\"\n",
            upstream.display()
        ),
        1,
    );
    repo.write("branches.toml", &toml);
    repo
}

fn plan(repo: &ConfigRepo, cache: &Path, extra: &[&str]) -> (Run, Value) {
    let run = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(["sync", "--dry-run", "--branch", "main", "--output", "json"])
        .args(extra)
        .repo(repo.path())
        .env("AKE_BOT_CACHE_DIR", cache)
        .run();
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}:\n{}\n{}", run.stdout, run.stderr));
    (run, v)
}

fn plan_entry<'a>(v: &'a Value, addon: &str) -> Option<&'a Value> {
    v["data"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["addon"] == addon)
}

#[test]
fn unusable_entries_never_block_an_addon_and_are_listed_as_not_taken() {
    let upstream = tempfile::tempdir().unwrap();
    let put = |name: &str, bytes: &[u8]| std::fs::write(upstream.path().join(name), bytes).unwrap();
    let (v100, v110) = (
        chart_archive("demo", "demo", "1.0.0"),
        chart_archive("demo", "demo", "1.1.0"),
    );
    put("demo-1.0.0.tgz", &v100);
    put("demo-1.1.0.tgz", &v110);
    // The newest entries are all unusable, each in its own way; the newest usable is 1.1.0.
    put(
        "index.yaml",
        index(&[
            entry("v1.99", &sha(&v110), "demo-1.1.0.tgz"),
            entry("1.6.0", &sha(&v110), "file:///etc/passwd"),
            entry("1.5.0", "", "demo-1.1.0.tgz"),
            format!(
                "  - {{name: demo, version: \"1.4.0\", digest: \"{}\"}}\n",
                sha(&v110)
            ),
            entry("v01.3.0", &sha(&v110), "demo-1.1.0.tgz"),
            entry("1.2.0", &sha(&v100), "demo-1.0.0.tgz"),
            entry("1.1.5", &sha(&v100), "demo-1.0.0.tgz"),
            entry("1.1.5", &sha(&v110), "demo-1.1.0.tgz"),
            entry("1.1.0", &sha(&v110), "demo-1.1.0.tgz"),
            entry("1.0.0", &sha(&v100), "demo-1.0.0.tgz"),
        ])
        .as_bytes(),
    );
    let repo = with_demo(upstream.path());
    let before = repo.files();
    let upstream_before = files(upstream.path());
    let cache = tempfile::tempdir().unwrap();
    let (run, v) = plan(&repo, cache.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let demo = plan_entry(&v, "demo").unwrap();
    assert_eq!(
        (demo["action"]["kind"].as_str(), demo["target"].as_str()),
        (Some("update"), Some("1.1.0")),
        "the newest usable version is chosen"
    );
    let not_taken: Vec<String> = demo["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["version"].as_str().unwrap(),
                s["why"].as_str().unwrap()
            )
        })
        .collect();
    let expect = [
        ("v1.99", "not major.minor.patch"),
        ("1.6.0", "scheme \"file\" is not allowed in an index"),
        ("1.5.0", "no sha256 digest"),
        ("1.4.0", "no download URL"),
        ("v01.3.0", "leading zero"),
        ("1.2.0", "holds demo 1.0.0 (its Chart.yaml)"),
        ("1.1.5", "listed more than once with different digests"),
    ];
    assert_eq!(not_taken.len(), expect.len(), "{not_taken:#?}");
    for ((version, why), line) in expect.iter().zip(&not_taken) {
        assert!(
            line.starts_with(&format!("{version} ")) && line.contains(why),
            "{line} (expected {version}: {why})"
        );
    }
    // Each is said once, as a warning naming chart, version and reason.
    for (version, why) in expect {
        let warned: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.contains(&format!("index entry skipped: demo {version}:")))
            .collect();
        assert_eq!(warned.len(), 1, "{version}: {}", run.stderr);
        assert!(warned[0].contains(why), "{}", warned[0]);
    }
    // The PR body's "not taken" section lists them too.
    let body = demo["body"].as_str().unwrap();
    assert!(
        body.contains("- `1.2.0`: unusable index entry: the archive of demo 1.2.0"),
        "{body}"
    );
    // The other addons went on; nothing was written but the cache.
    for addon in ["argo-cd", "cert-manager", "kube-prometheus-stack"] {
        assert!(plan_entry(&v, addon).is_some(), "{addon} planned");
    }
    assert_eq!(repo.files(), before, "nothing written to the repository");
    assert_eq!(files(upstream.path()), upstream_before);
}

#[test]
fn a_pin_missing_from_the_index_is_named_as_such() {
    let upstream = tempfile::tempdir().unwrap();
    let v100 = chart_archive("demo", "demo", "1.0.0");
    std::fs::write(upstream.path().join("demo-1.0.0.tgz"), &v100).unwrap();
    std::fs::write(
        upstream.path().join("index.yaml"),
        index(&[entry("1.0.0", &sha(&v100), "demo-1.0.0.tgz")]),
    )
    .unwrap();
    let repo = with_demo(upstream.path());
    repo.edit(
        "bundles/demo/bundle.yaml",
        "version: 1.0.0",
        "version: 1.0.7",
    );
    let cache = tempfile::tempdir().unwrap();
    let (run, v) = plan(&repo, cache.path(), &["--addon", "demo"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reason = plan_entry(&v, "demo").unwrap()["action"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    let index_at = upstream.path().join("index.yaml").display().to_string();
    assert_eq!(
        reason,
        format!("pinned 1.0.7 is not in the index of {index_at}; newest admissible is 1.0.0, which would be a downgrade")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upstream_fails_only_its_addon_within_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3600)))
        .mount(&server)
        .await;
    let repo = ConfigRepo::from_project();
    repo.edit(
        "bundles/argo-cd/bundle.yaml",
        "repo: https://argoproj.github.io/argo-helm",
        &format!("repo: {}/argo-helm", server.uri()),
    );
    let cache = tempfile::tempdir().unwrap();
    let cache_path = cache.path().to_path_buf();
    let started = Instant::now();
    let (run, v) =
        tokio::task::spawn_blocking(move || plan(&repo, &cache_path, &["--upstream-timeout", "2"]))
            .await
            .unwrap();
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("error: argo-cd on main: cannot reach ")
            && run.stderr.contains("no complete answer within 2s"),
        "{}",
        run.stderr
    );
    assert!(plan_entry(&v, "argo-cd").is_none());
    assert!(
        plan_entry(&v, "cert-manager").is_some(),
        "the others went on"
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
}
