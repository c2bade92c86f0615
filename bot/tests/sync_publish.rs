//! `ake-bot sync` for real: the built binary against a real bare `origin` and the fake GitHub
//! (every request and response checked against GitHub's REST description). It must converge:
//! the first run opens one PR per addon, the next writes nothing.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use ake_bot_testkit::github::{FakeGitHub, FakeGitHubServer};
use ake_bot_testkit::{git, ConfigRepo};

const TOKEN: &str = "ghs_syncTOKEN0123456789abcdef";

struct Env {
    repo: ConfigRepo,
    _origin_dir: tempfile::TempDir,
    origin: std::path::PathBuf,
    cache: tempfile::TempDir,
}

/// The project's config as a clone of a bare origin, like a CI checkout.
fn setup() -> Env {
    let repo = ConfigRepo::from_project();
    repo.git_init();
    let origin_dir = tempfile::tempdir().unwrap();
    let origin = origin_dir.path().join("origin.git");
    git(
        origin_dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            repo.path().to_str().unwrap(),
            "origin.git",
        ],
    );
    repo.git(&["remote", "add", "origin", origin.to_str().unwrap()]);
    repo.git(&["fetch", "-q", "origin"]);
    Env {
        repo,
        _origin_dir: origin_dir,
        origin,
        cache: tempfile::tempdir().unwrap(),
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn sync(env: &Env, api: &str) -> Run {
    let (repo, cache, api) = (
        env.repo.path().to_path_buf(),
        env.cache.path().to_path_buf(),
        api.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let out = assert_cmd::Command::cargo_bin("ake-bot")
            .unwrap()
            .args(["sync", "--repo"])
            .arg(&repo)
            .env("AKE_BOT_CACHE_DIR", &cache)
            .env("GITHUB_API_URL", &api)
            .env("GITHUB_REPOSITORY", "acme/platform-config")
            .env("GITHUB_TOKEN", TOKEN)
            .env("RUST_LOG", "debug")
            .timeout(std::time::Duration::from_secs(300))
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

fn refs(origin: &Path) -> String {
    git(
        origin,
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_opens_one_pr_per_addon_and_a_second_run_writes_nothing() {
    let env = setup();
    let server = FakeGitHubServer::start(
        FakeGitHub::new("acme", "platform-config", env.origin.clone()).with_token(TOKEN),
    )
    .await;
    let head_before = env.repo.git(&["rev-parse", "HEAD"]);

    let first = sync(&env, &server.uri()).await;
    assert_eq!(
        first.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        first.stdout, first.stderr
    );
    {
        let w = server.world();
        let mut heads: Vec<&str> = w.open_pulls().iter().map(|p| p.head.as_str()).collect();
        heads.sort();
        assert_eq!(
            heads,
            [
                "ake-bot/argo-cd",
                "ake-bot/cert-manager",
                "ake-bot/kube-prometheus-stack"
            ]
        );
        let cm = w
            .pulls
            .iter()
            .find(|p| p.head == "ake-bot/cert-manager")
            .unwrap();
        assert_eq!(cm.title, "chore(cert-manager): bump v1.14.7 → v1.16.5");
        assert_eq!(cm.base, "main");
        for label in [
            "ake-bot",
            "addon/cert-manager",
            "crd-change",
            "image-change",
        ] {
            assert!(
                cm.labels.iter().any(|l| l == label),
                "{label} in {:?}",
                cm.labels
            );
        }
    }
    // The branch holds one commit on top of main: the bumped pin and the new render.
    let o = &env.origin;
    assert_eq!(
        git(o, &["rev-parse", "ake-bot/cert-manager~1"]),
        git(o, &["rev-parse", "main"])
    );
    let bundle = git(
        o,
        &[
            "show",
            "ake-bot/cert-manager:bundles/cert-manager/bundle.yaml",
        ],
    );
    assert!(bundle.contains("\nversion: v1.16.5\n"), "{bundle}");
    let rendered = git(
        o,
        &[
            "show",
            "ake-bot/cert-manager:bundles/cert-manager/rendered/manifests.yaml",
        ],
    );
    assert!(rendered.contains("# chart cert-manager v1.16.5, Kubernetes 1.33, branch main"));
    let changed = git(o, &["diff", "--name-only", "main", "ake-bot/cert-manager"]);
    assert_eq!(
        changed,
        "bundles/cert-manager/bundle.yaml\nbundles/cert-manager/rendered/manifests.yaml\n"
    );
    assert_eq!(
        git(
            o,
            &["log", "-1", "--format=%an <%ae>", "ake-bot/cert-manager"]
        )
        .trim(),
        "ake-bot <ake-bot@users.noreply.github.com>"
    );

    // Second run: nothing new upstream, so no push and no API write.
    let refs_before = refs(o);
    let writes_before = server.world().writes().len();
    let second = sync(&env, &server.uri()).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(refs(o), refs_before, "no push");
    assert_eq!(server.world().writes().len(), writes_before, "no API write");
    assert!(
        second.stdout.contains("cert-manager             #"),
        "{}",
        second.stdout
    );
    assert!(second.stdout.contains("is up to date"), "{}", second.stdout);

    // The user's checkout is untouched, and the token is nowhere in the output.
    assert_eq!(env.repo.git(&["rev-parse", "HEAD"]), head_before);
    assert!(env.repo.git(&["status", "--porcelain"]).trim().is_empty());
    for run in [&first, &second] {
        assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
    }
    server.finish();
}
