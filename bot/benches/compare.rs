//! Side-by-side timings: each measurement runs ake-bot's code and a reference tool on the same
//! data in the same invocation, and prints the ratio. Not a test: nothing asserts on time.
//!
//!   scripts/with-helm scripts/with-schemas cargo bench --bench compare
//!
//! 1. version lookup on the largest real index (grafana, 4 MB, 3,591 versions):
//!    ake-bot parse + choose  vs  `helm search repo` over the same cached index;
//! 2. `ake-bot sync --dry-run` cold (empty cache) over 3 addons × 4 branches  vs  the
//!    `helm template` runs that plan needs, as many at a time as ake-bot runs (the floor any
//!    helm-based tool pays); warm (nothing new upstream) vs cold; peak RSS at 12/48/120
//!    entries (bundles copied under new names in a temp dir);
//! 3. semantic diff of two kube-prometheus-stack renders with CRDs (5 MB each)
//!    vs  `git diff --no-index` on the same two files;
//! 4. an OCI lookup (the pinned version's metadata) on a real local registry (Debian's
//!    docker-registry, with auth)  vs  `helm show chart oci://…` of the same version;
//! 5. `ake-bot validate --all` (every bundle on main and the release branches, strict schemas
//!    and CRDs)  vs  kubernetes-validate --strict on the same renders for the same minors.
//!    Needs scripts/with-schemas (AKE_BOT_SCHEMAS, KUBERNETES_VALIDATE).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ake_bot::manifest::{self, Manifests};
use ake_bot::upstream::Index;
use ake_bot::version::{Constraint, Version};

const RUNS: usize = 5;

#[path = "compare_parts/tag_diff.rs"]
mod tag_diff;

#[path = "compare_parts/plan_scale.rs"]
mod plan_scale;

#[path = "compare_parts/index_rss.rs"]
mod index_rss;

fn main() {
    index_rss::index_rss(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().expect("workspace root");
    let helm = std::env::var("HELM").unwrap_or_else(|_| "helm".into());
    let fixtures = root.join("bot/tests/fixtures/upstream");
    // `AKE_BOT_BENCH_ONLY=sync`: only the sync rows (minutes, not a quarter of an hour).
    if std::env::var("AKE_BOT_BENCH_ONLY").as_deref() == Ok("sync") {
        plan_scale::plan_scale(&root, env!("CARGO_BIN_EXE_ake-bot"), &helm, RUNS);
        return;
    }
    println!("ake-bot benchmark: median of {RUNS} runs each; ratio = ake-bot / reference (lower is faster)\n");
    println!(
        "{:<58} {:>12} {:>12} {:>8}",
        "measurement", "ake-bot", "reference", "ratio"
    );

    // 1. Version lookup.
    let gz = std::fs::read(fixtures.join("indexes/grafana-helm-charts.index.yaml.gz"))
        .expect("grafana index");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .expect("gunzip");
    let helm_home = tempfile::tempdir().expect("tmp");
    let cache = helm_home.path().join("cache");
    std::fs::create_dir_all(&cache).expect("mkdir");
    std::fs::write(cache.join("grafana-index.yaml"), &text).expect("write index");
    let repos = helm_home.path().join("repositories.yaml");
    std::fs::write(
        &repos,
        "apiVersion: \"\"\ngenerated: \"0001-01-01T00:00:00Z\"\nrepositories:\n- name: grafana\n  url: https://grafana.github.io/helm-charts\n",
    )
    .expect("write repositories.yaml");
    let range = ">=9.0.0, <10.0.0";
    let ours = median(|| {
        grafana_lookup(&Index::parse("grafana", &text).expect("parse"));
    });
    let reference = median(|| {
        let out = Command::new(&helm)
            .args([
                "search",
                "repo",
                "grafana/grafana",
                "--version",
                range,
                "--output",
                "json",
            ])
            .env("HELM_REPOSITORY_CONFIG", &repos)
            .env("HELM_REPOSITORY_CACHE", &cache)
            .env("HELM_CONFIG_HOME", helm_home.path())
            .env("HELM_DATA_HOME", helm_home.path())
            .output()
            .expect("helm search repo");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("\"9.4.5\""));
    });
    row(
        "version lookup, grafana index (4 MB) vs helm search repo",
        ours,
        reference,
    );

    // 2. sync --dry-run: cold vs the parallel helm floor, warm vs cold, memory by size.
    let bin = env!("CARGO_BIN_EXE_ake-bot");
    let cache_dir = tempfile::tempdir().expect("tmp");
    plan_scale::plan_scale(&root, bin, &helm, 3);

    // 3. Semantic diff of two kube-prometheus-stack renders.
    let a = fixtures.join("rendered/kube-prometheus-stack/73.2.3.with-crds.yaml");
    let b = fixtures.join("rendered/kube-prometheus-stack/88.5.3.with-crds.yaml");
    let (ta, tb) = (
        std::fs::read_to_string(&a).expect("a"),
        std::fs::read_to_string(&b).expect("b"),
    );
    let ours = median(|| {
        let d = manifest::diff(
            &Manifests::parse(&ta).expect("a"),
            &Manifests::parse(&tb).expect("b"),
        );
        assert!(!d.is_empty());
    });
    let reference = median(|| {
        let out = Command::new("git")
            .args(["diff", "--no-index", "--no-color"])
            .arg(&a)
            .arg(&b)
            .output()
            .expect("git diff");
        assert_eq!(
            out.status.code(),
            Some(1),
            "git diff --no-index exits 1 when files differ"
        );
    });
    row(
        "semantic diff, kps 73.2.3 → 88.5.3 with CRDs vs git diff",
        ours,
        reference,
    );
    // Where that time goes: parsing two 5 MB YAML streams into objects, which a line diff
    // never does.
    let parse_only = median(|| {
        Manifests::parse(&ta).expect("a");
        Manifests::parse(&tb).expect("b");
    });
    row(
        "  of which: parsing both renders (2 x 5 MB)",
        parse_only,
        reference,
    );
    tag_diff::tag_diff(&root, bin);

    // 4. OCI lookup on a real local registry: the pinned version's metadata.
    oci_lookup(&root, &helm);

    // 5. Policies: every gatekeeper-library policy over the bundles' renders of three
    // branches. gator (a Go binary from GitHub releases) cannot be installed from the
    // registries this project builds from, so the time is absolute.
    policies(&root);

    // 6. validate every branch vs kubernetes-validate on the same files and minors.
    let (Some(schemas), Some(kv)) = (
        std::env::var_os("AKE_BOT_SCHEMAS"),
        std::env::var_os("KUBERNETES_VALIDATE"),
    ) else {
        println!("(validate vs kubernetes-validate skipped: run through scripts/with-schemas)");
        return;
    };
    let repo = ake_bot_testkit::ConfigRepo::from_project();
    repo.git_init();
    for minor in ["1.32", "1.31"] {
        repo.cut_release_branch(minor);
    }
    let files: Vec<PathBuf> = [
        "argo-cd",
        "cert-manager",
        "gateway-api",
        "kube-prometheus-stack",
    ]
    .iter()
    .map(|b| {
        repo.path()
            .join(format!("bundles/{b}/rendered/manifests.yaml"))
    })
    .collect();
    let ours = median(|| {
        let out = Command::new(bin)
            .args(["validate", "--all", "--output", "json", "--repo"])
            .arg(repo.path())
            .arg("--schemas")
            .arg(&schemas)
            .env("AKE_BOT_CACHE_DIR", cache_dir.path())
            .output()
            .expect("ake-bot validate");
        // release-1.24 is not cut here (a warning); the others validate clean.
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    });
    let reference = median(|| {
        for minor in ["1.33.0", "1.32.0", "1.31.0"] {
            let out = Command::new(&kv)
                .args(["--strict", "--quiet", "-k", minor])
                .args(&files)
                .output()
                .expect("kubernetes-validate");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    });
    row(
        "validate --all (3 branches x 4 bundles) vs kubernetes-validate",
        ours,
        reference,
    );
}

/// ake-bot reading cert-manager v1.16.5's metadata from a CNCF distribution registry on
/// 127.0.0.1 (tags list, manifest, config blob, with htpasswd auth)  vs  `helm show chart` of the
/// same version from the same registry. Each ake-bot run starts cold (a new fetcher, no cache).
fn oci_lookup(root: &Path, helm: &str) {
    if Command::new("docker-registry")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("(OCI lookup skipped: no docker-registry; apt-get install docker-registry)");
        return;
    }
    let registry = ake_bot_testkit::registry::Registry::start();
    let charts: Vec<PathBuf> = ["v1.14.7", "v1.15.5", "v1.16.4", "v1.16.5"]
        .iter()
        .map(|v| root.join(format!("mirror/jetstack/cert-manager-{v}.tgz")))
        .collect();
    let paths: Vec<&Path> = charts.iter().map(PathBuf::as_path).collect();
    registry.push(Path::new(helm), "jetstack", &paths);
    let auth = registry.auth_file();
    // The bench is one process: ake-bot finds the credentials where `docker login` would
    // have put them (REGISTRY_AUTH_FILE), and helm through its own registry config.
    std::env::set_var("REGISTRY_AUTH_FILE", &auth);
    let reference = registry.oci("jetstack/cert-manager");
    let text = format!(
        "source:\n  oci: {reference}\nversion: v1.16.5\nallowed: \">=1.0.0\"\nnamespace: cert-manager\ndeploy_to: tenant\n"
    );
    let bundle =
        ake_bot::config::parse_bundle(Path::new("bundles/cert-manager"), &text, &|_| false)
            .expect("bundle");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let cache = tempfile::tempdir().expect("tmp");
    let ours = median(|| {
        let f = ake_bot::upstream::Fetcher::new(Default::default(), cache.path().to_path_buf())
            .expect("fetcher");
        let r = rt
            .block_on(ake_bot::upstream::pinned_release(&f, &bundle))
            .expect("lookup");
        assert_eq!(r.entry.app_version.as_deref(), Some("v1.16.5"));
    });
    let helm_config = tempfile::tempdir().expect("tmp");
    let reference_time = median(|| {
        let out = Command::new(helm)
            .args([
                "show",
                "chart",
                &reference,
                "--version",
                "v1.16.5",
                "--plain-http",
            ])
            .env("HELM_REGISTRY_CONFIG", &auth)
            .env("HELM_CONFIG_HOME", helm_config.path())
            .env("HELM_CACHE_HOME", helm_config.path())
            .output()
            .expect("helm show chart");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("appVersion: v1.16.5"));
    });
    row(
        "OCI lookup, local registry vs helm show chart",
        ours,
        reference_time,
    );
}

/// The newest grafana in `>=9.0.0, <10.0.0` is 9.4.5 (the lookup the index rows time).
fn grafana_lookup(idx: &Index) {
    let c = Constraint::parse(">=9.0.0, <10.0.0").expect("constraint");
    let newest = idx
        .releases("grafana")
        .releases
        .into_iter()
        .find(|r| c.matches(&r.version));
    assert_eq!(
        newest.map(|r| r.version),
        Some(Version::parse("9.4.5").expect("v"))
    );
}

fn median(mut f: impl FnMut()) -> Duration {
    f(); // warm caches (files, chart cache) so runs compare steady state
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn policies(root: &Path) {
    let library = root.join("bot/tests/fixtures/gatekeeper-library/library");
    let mut files = Vec::new();
    let mut stack = vec![library.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("library dir") {
            let p = e.expect("entry").path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if p.is_dir() {
                stack.push(p);
            } else if name == "template.yaml" || name == "constraint.yaml" {
                files.push((p.clone(), std::fs::read_to_string(&p).expect("read")));
            }
        }
    }
    let (set, problems) = ake_bot::policy::PolicySet::load(&files);
    assert!(problems.is_empty(), "{problems:?}");
    let mut objects = Vec::new();
    for _branch in 0..3 {
        for b in std::fs::read_dir(root.join("bundles")).expect("bundles") {
            let f = b.expect("entry").path().join("rendered/manifests.yaml");
            let text = std::fs::read_to_string(&f).expect("render");
            let m = Manifests::parse(&text).expect("parse");
            objects.extend(m.objects().iter().map(|o| o.value.clone()));
        }
    }
    let constraints = set.constraints().len();
    let mut violations = 0;
    let ours = median(|| {
        violations = set.evaluate(&objects, &[]).len();
    });
    println!(
        "{:<58} {:>10.1}ms {:>12} {:>8}",
        format!(
            "policies: {constraints} library constraints x {} objects ({violations} found)",
            objects.len()
        ),
        ours.as_secs_f64() * 1e3,
        "no gator",
        "—"
    );
}

fn row(name: &str, ours: Duration, reference: Duration) {
    println!(
        "{name:<58} {:>10.1}ms {:>10.1}ms {:>7.2}x",
        ours.as_secs_f64() * 1e3,
        reference.as_secs_f64() * 1e3,
        ours.as_secs_f64() / reference.as_secs_f64()
    );
}
