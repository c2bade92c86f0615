//! `ake-bot sync` for real: the built binary against a real bare `origin` and the fake GitHub
//! (every request and response checked against GitHub's REST description). It must converge:
//! the first run opens one PR per addon, the next writes nothing.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use ake_bot_testkit::github::{FakeGitHub, FakeGitHubServer};
use ake_bot_testkit::{git, Bot, ConfigRepo, Run};

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
    let (origin_dir, origin) = repo.with_bare_origin();
    Env {
        repo,
        _origin_dir: origin_dir,
        origin,
        cache: tempfile::tempdir().unwrap(),
    }
}

async fn sync(env: &Env, api: &str) -> Run {
    sync_with(env, api, &[]).await
}

async fn sync_with(env: &Env, api: &str, extra: &[&str]) -> Run {
    let (repo, cache, api) = (
        env.repo.path().to_path_buf(),
        env.cache.path().to_path_buf(),
        api.to_string(),
    );
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
            .arg("sync")
            .args(&extra)
            .repo(&repo)
            .env("AKE_BOT_CACHE_DIR", &cache)
            .github(&api, "acme/platform-config", TOKEN)
            .env("RUST_LOG", "debug")
            .run()
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
                "ake-bot/gateway-api",
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
        // cert-manager's CRD changes are additive only; kube-prometheus-stack's break objects.
        assert!(
            !cm.labels.iter().any(|l| l == "crd-breaking"),
            "{:?}",
            cm.labels
        );
        let kps = w
            .pulls
            .iter()
            .find(|p| p.head == "ake-bot/kube-prometheus-stack")
            .unwrap();
        assert!(
            kps.labels.iter().any(|l| l == "crd-breaking"),
            "{:?}",
            kps.labels
        );
        assert!(kps.body.contains("breaking changes** for custom resources"));
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
    // An OCI source: the pinned manifest digest moves with the version, on the next line.
    let digest = env
        .repo
        .layout_digest("mirror/oci/jetstack/cert-manager", "v1.16.5");
    assert!(
        bundle.contains(&format!("\nversion: v1.16.5\ndigest: {digest}\n")),
        "{bundle}"
    );
    assert_eq!(bundle.matches("digest:").count(), 1, "{bundle}");
    // A GitHub release source: the asset's digest, likewise.
    let gateway = git(
        o,
        &[
            "show",
            "ake-bot/gateway-api:bundles/gateway-api/bundle.yaml",
        ],
    );
    assert!(
        gateway.contains("\nversion: v1.5.1\ndigest: sha256:0860d1882591f7943c9296b3f69df53095fb88f8ee691f468c28a808a3d5fdc0\n"),
        "{gateway}"
    );
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
        second
            .stdout
            .contains("cert-manager             main           #"),
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

/// A human (or another tool) changes main on origin.
fn push_main(env: &Env, file: &str, from: &str, to: &str, message: &str) {
    env.repo.edit(file, from, to);
    env.repo.git(&["commit", "-q", "-am", message]);
    env.repo.git(&["push", "-q", "origin", "main"]);
}

async fn start(env: &Env) -> FakeGitHubServer {
    FakeGitHubServer::start(
        FakeGitHub::new("acme", "platform-config", env.origin.clone()).with_token(TOKEN),
    )
    .await
}

const CM: &[&str] = &["--addon", "cert-manager"];
const CM_BUNDLE: &str = "bundles/cert-manager/bundle.yaml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_version_updates_the_same_pr() {
    let env = setup();
    push_main(
        &env,
        CM_BUNDLE,
        "allowed: \">=1.14.0, <2.0.0\"",
        "allowed: \">=1.14.0, <1.16.0\"",
        "hold cert-manager below 1.16",
    );
    let server = start(&env).await;
    let first = sync_with(&env, &server.uri(), CM).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let number = server.world().open_pulls()[0].number;
    assert!(server
        .world()
        .pull(number)
        .unwrap()
        .title
        .ends_with("→ v1.15.5"));

    // The range opens up: v1.16.5 becomes the newest allowed.
    push_main(
        &env,
        CM_BUNDLE,
        "<1.16.0\"",
        "<2.0.0\"",
        "allow cert-manager 1.16",
    );
    let second = sync_with(&env, &server.uri(), CM).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    let w = server.world();
    assert_eq!(w.open_pulls().len(), 1, "the same PR, not a second one");
    let pr = w.pull(number).unwrap();
    assert_eq!(pr.title, "chore(cert-manager): bump v1.14.7 → v1.16.5");
    assert!(pr.body.contains("\"target\":\"v1.16.5\""));
    drop(w);
    let o = &env.origin;
    assert!(git(
        o,
        &[
            "show",
            "ake-bot/cert-manager:bundles/cert-manager/bundle.yaml"
        ]
    )
    .contains("version: v1.16.5"));
    assert_eq!(
        git(o, &["rev-parse", "ake-bot/cert-manager~1"]),
        git(o, &["rev-parse", "main"]),
        "rebased on the new main"
    );
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_main_catches_up_the_stale_pr_is_closed_and_its_branch_deleted() {
    let env = setup();
    let server = start(&env).await;
    assert_eq!(sync_with(&env, &server.uri(), CM).await.code, 0);
    let number = server.world().open_pulls()[0].number;

    // Someone bumps main by hand (pin and render), as the PR would have.
    bump_main_by_hand(&env);

    let run = sync_with(&env, &server.uri(), CM).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(&format!("closed #{number}")),
        "{}",
        run.stdout
    );
    {
        let w = server.world();
        assert_eq!(w.pull(number).unwrap().state, "closed");
        let comments = w.comments_on(number);
        assert_eq!(comments.len(), 1);
        assert!(
            comments[0]
                .body
                .contains("already runs cert-manager v1.16.5"),
            "{}",
            comments[0].body
        );
    }
    assert!(
        !refs(&env.origin).contains("refs/heads/ake-bot/cert-manager"),
        "branch deleted"
    );

    // And then there is nothing left to do.
    let writes = server.world().writes().len();
    assert_eq!(sync_with(&env, &server.uri(), CM).await.code, 0);
    assert_eq!(server.world().writes().len(), writes);
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_a_human_declined_is_not_reopened_but_a_newer_one_is() {
    let env = setup();
    push_main(
        &env,
        CM_BUNDLE,
        "allowed: \">=1.14.0, <2.0.0\"",
        "allowed: \">=1.14.0, <1.16.0\"",
        "hold cert-manager below 1.16",
    );
    let server = start(&env).await;
    assert_eq!(sync_with(&env, &server.uri(), CM).await.code, 0);
    let declined = server.world().open_pulls()[0].number;
    server.world().close_pull(declined);

    let refs_before = refs(&env.origin);
    let writes = server.world().writes().len();
    let run = sync_with(&env, &server.uri(), CM).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("skipped: a pull request for v1.15.5 was closed without merging"),
        "{}",
        run.stdout
    );
    assert_eq!(
        server.world().writes().len(),
        writes,
        "no reopen, no new PR"
    );
    assert_eq!(refs(&env.origin), refs_before, "no push");

    push_main(
        &env,
        CM_BUNDLE,
        "<1.16.0\"",
        "<2.0.0\"",
        "allow cert-manager 1.16",
    );
    let run = sync_with(&env, &server.uri(), CM).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let w = server.world();
    let open = w.open_pulls();
    assert_eq!(open.len(), 1);
    assert_ne!(open[0].number, declined, "a new PR for the newer version");
    assert!(open[0].title.ends_with("→ v1.16.5"));
    assert_eq!(
        w.pull(declined).unwrap().state,
        "closed",
        "the declined one stays closed"
    );
    drop(w);
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_push_and_pr_converges_on_the_next_run() {
    let env = setup();
    let server = start(&env).await;
    // Every attempt to open the PR fails: the branch is pushed, the PR is not.
    for _ in 0..4 {
        server
            .world()
            .inject("pulls/create", ake_bot_testkit::github::Fault::Status(500));
    }
    let run = sync_with(&env, &server.uri(), CM).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: cert-manager on main: opening a pull request"),
        "{}",
        run.stderr
    );
    assert!(refs(&env.origin).contains("refs/heads/ake-bot/cert-manager"));
    assert!(server.world().open_pulls().is_empty());

    let refs_before = refs(&env.origin);
    let run = sync_with(&env, &server.uri(), CM).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        refs(&env.origin),
        refs_before,
        "the pushed branch is reused, not pushed again"
    );
    assert_eq!(server.world().open_pulls().len(), 1);
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_anywhere_converges_without_duplicates() {
    for op in ["pulls/create", "issues/add-labels"] {
        let env = setup();
        let server = start(&env).await;
        for _ in 0..4 {
            server
                .world()
                .inject(op, ake_bot_testkit::github::Fault::Status(502));
        }
        let failed = sync_with(&env, &server.uri(), CM).await;
        assert_eq!(failed.code, 1, "{op}: {}", failed.stderr);
        let ok = sync_with(&env, &server.uri(), CM).await;
        assert_eq!(ok.code, 0, "{op}: {}", ok.stderr);
        let w = server.world();
        let open = w.open_pulls();
        assert_eq!(open.len(), 1, "{op}: exactly one PR");
        assert!(
            open[0].labels.iter().any(|l| l == "addon/cert-manager"),
            "{op}: labels converged"
        );
        drop(w);
        server.finish();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_converge_to_one_pr_per_addon() {
    let env = setup();
    let server = start(&env).await;
    let uri = server.uri();
    let (a, b) = tokio::join!(sync_with(&env, &uri, CM), sync_with(&env, &uri, CM));
    // Each run either did the work (one opened the PR; the other found or adopted it), or
    // lost the push race to the other's lease and said so; never both failing, never two PRs.
    let line = |r: &Run| {
        r.stdout
            .lines()
            .find(|l| l.starts_with("cert-manager "))
            .unwrap_or_default()
            .to_string()
    };
    for r in [&a, &b] {
        match r.code {
            0 => assert!(
                ["opened #", "is up to date", "updated #"]
                    .iter()
                    .any(|w| line(r).contains(w)),
                "a successful run says what happened to the PR:\n{}",
                r.stdout
            ),
            1 => assert!(
                r.stderr.contains("error: cert-manager on main: ")
                    && r.stderr.contains("the remote branch moved"),
                "a run may only fail by losing the push race:\n{}",
                r.stderr
            ),
            other => panic!("exit {other}:\n{}", r.stderr),
        }
    }
    assert!(
        a.code == 0 || b.code == 0,
        "both runs failed:\n{}\n{}",
        a.stderr,
        b.stderr
    );
    let opened = [&a, &b]
        .iter()
        .filter(|r| line(r).contains("opened #"))
        .count();
    assert_eq!(
        opened, 1,
        "exactly one run opened the PR:\n{}\n{}",
        a.stdout, b.stdout
    );
    let third = sync_with(&env, &uri, CM).await;
    assert_eq!(third.code, 0, "{}", third.stderr);
    let w = server.world();
    assert_eq!(
        w.pulls
            .iter()
            .filter(|p| p.head == "ake-bot/cert-manager")
            .count(),
        1,
        "never a duplicate PR"
    );
    drop(w);
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_shows_what_would_happen_to_existing_prs_and_writes_nothing() {
    let env = setup();
    let server = start(&env).await;
    // Before any PR exists.
    let run = sync_with(
        &env,
        &server.uri(),
        &["--dry-run", "--branch", "main", "--addon", "cert-manager"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("→ would open a pull request"),
        "{}",
        run.stdout
    );

    assert_eq!(sync_with(&env, &server.uri(), CM).await.code, 0);
    let number = server.world().open_pulls()[0].number;
    let refs_before = refs(&env.origin);
    let writes = server.world().writes().len();

    let run = sync_with(
        &env,
        &server.uri(),
        &[
            "--dry-run",
            "--branch",
            "main",
            "--addon",
            "cert-manager",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let plan = &v["data"]["entries"];
    assert_eq!(
        plan[0]["pr"],
        serde_json::json!({"kind": "keep", "number": number})
    );

    // A human edits the title: the dry run says it would be rewritten.
    server.world().pull_mut(number).unwrap().title = "edited".into();
    let run = sync_with(
        &env,
        &server.uri(),
        &["--dry-run", "--branch", "main", "--addon", "cert-manager"],
    )
    .await;
    assert!(
        run.stdout.contains(&format!("→ would update #{number}")),
        "{}",
        run.stdout
    );

    assert_eq!(refs(&env.origin), refs_before, "a dry run pushes nothing");
    assert_eq!(
        server.world().writes().len(),
        writes,
        "a dry run writes nothing to GitHub"
    );
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_error_for_one_addon_does_not_stop_the_others() {
    let env = setup();
    let server = start(&env).await;
    // The first PR creation is refused for good (422 is not retried).
    server
        .world()
        .inject("pulls/create", ake_bot_testkit::github::Fault::Status(422));
    let run = sync(&env, &server.uri()).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(
        server.world().open_pulls().len(),
        3,
        "the other three addons got their PRs"
    );
    let again = sync(&env, &server.uri()).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        server.world().open_pulls().len(),
        4,
        "the refused one, on the next run"
    );
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_merge_there_is_nothing_to_do() {
    let env = setup();
    let server = start(&env).await;
    assert_eq!(sync_with(&env, &server.uri(), CM).await.code, 0);
    let number = server.world().open_pulls()[0].number;
    // A human merges the bot's PR (fast-forward main to the bot branch).
    git(
        &env.origin,
        &[
            "update-ref",
            "refs/heads/main",
            "refs/heads/ake-bot/cert-manager",
        ],
    );
    {
        let mut w = server.world();
        let pr = w.pull_mut(number).unwrap();
        pr.state = "closed".into();
        pr.merged = true;
    }
    let writes = server.world().writes().len();
    let run = sync_with(&env, &server.uri(), CM).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("cert-manager             main           nothing to do"),
        "{}",
        run.stdout
    );
    assert_eq!(
        server.world().writes().len(),
        writes,
        "no new PR, no comment"
    );
    assert!(server.world().open_pulls().is_empty());
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_while_closing_a_stale_pr_converge_with_one_comment() {
    for op in ["issues/create-comment", "pulls/update"] {
        let env = setup();
        let server = start(&env).await;
        assert_eq!(sync_with(&env, &server.uri(), CM).await.code, 0);
        let number = server.world().open_pulls()[0].number;
        // main catches up by hand: the PR is now stale.
        bump_main_by_hand(&env);

        for _ in 0..4 {
            server
                .world()
                .inject(op, ake_bot_testkit::github::Fault::Status(503));
        }
        let failed = sync_with(&env, &server.uri(), CM).await;
        assert_eq!(failed.code, 1, "{op}: {}", failed.stderr);
        let ok = sync_with(&env, &server.uri(), CM).await;
        assert_eq!(ok.code, 0, "{op}: {}", ok.stderr);
        let w = server.world();
        assert_eq!(w.pull(number).unwrap().state, "closed", "{op}");
        assert_eq!(
            w.comments_on(number).len(),
            1,
            "{op}: exactly one closing comment"
        );
        drop(w);
        assert!(
            !refs(&env.origin).contains("refs/heads/ake-bot/cert-manager"),
            "{op}: branch deleted"
        );
        server.finish();
    }
}

/// Someone bumps cert-manager on main by hand (pin and render) and pushes, as the PR would have.
fn bump_main_by_hand(env: &Env) {
    env.repo.pin("cert-manager", "v1.16.5");
    let render = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(["render", "--addon", "cert-manager"])
        .repo(env.repo.path())
        .env("AKE_BOT_CACHE_DIR", env.cache.path())
        .run();
    assert_eq!(render.code, 0, "{}", render.stderr);
    env.repo
        .git(&["commit", "-q", "-am", "bump cert-manager by hand"]);
    env.repo.git(&["push", "-q", "origin", "main"]);
}

/// The train with its release branches on origin, as the bot would have cut them.
fn setup_with_release_branches(frozen_132_patch: bool) -> Env {
    let repo = ConfigRepo::from_project();
    if frozen_132_patch {
        // release-1.32 frozen, taking patches only: argo-cd 7.8.27 → 7.8.28 (main goes to
        // 7.9.1, so main's update cannot carry it), nothing for the others.
        repo.edit(
            "branches.toml",
            "kubernetes = \"1.32\"\n",
            "kubernetes = \"1.32\"\nstatus = \"frozen\"\nupdates = \"patch\"\n",
        );
    }
    repo.git_init();
    for minor in ["1.32", "1.31", "1.24"] {
        repo.cut_release_branch(minor);
    }
    let (origin_dir, origin) = repo.with_bare_origin();
    for minor in ["1.32", "1.31", "1.24"] {
        repo.git(&["push", "-q", "origin", &format!("release-{minor}")]);
    }
    Env {
        repo,
        _origin_dir: origin_dir,
        origin,
        cache: tempfile::tempdir().unwrap(),
    }
}

fn open_heads(server: &FakeGitHubServer) -> Vec<(String, String, String)> {
    let w = server.world();
    let mut v: Vec<(String, String, String)> = w
        .open_pulls()
        .iter()
        .map(|p| (p.base.clone(), p.head.clone(), p.title.clone()))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_branch_gets_its_own_pr_and_a_branch_main_serves_gets_none() {
    let env = setup_with_release_branches(false);
    let server = start(&env).await;
    let first = sync(&env, &server.uri()).await;
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let heads = open_heads(&server);
    let expected: Vec<(String, String, String)> = [
        (
            "main",
            "ake-bot/argo-cd",
            "chore(argo-cd): bump 7.8.27 → 7.9.1",
        ),
        (
            "main",
            "ake-bot/cert-manager",
            "chore(cert-manager): bump v1.14.7 → v1.16.5",
        ),
        (
            "main",
            "ake-bot/gateway-api",
            "chore(gateway-api): bump v1.2.1 → v1.5.1",
        ),
        (
            "main",
            "ake-bot/kube-prometheus-stack",
            "chore(kube-prometheus-stack): bump 72.9.1 → 88.5.3",
        ),
        // Capped below main's version: its own PR, onto its own branch.
        (
            "release-1.31",
            "ake-bot/release-1.31/cert-manager",
            "chore(cert-manager): bump v1.14.7 → v1.15.5 (release-1.31)",
        ),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(
        heads, expected,
        "release-1.32 and the rest of 1.31 are main's to carry"
    );
    // The direct PR holds one commit on the release branch's tip: its pin and its render.
    let o = &env.origin;
    assert_eq!(
        git(o, &["rev-parse", "ake-bot/release-1.31/cert-manager~1"]),
        git(o, &["rev-parse", "release-1.31"])
    );
    let rendered = git(
        o,
        &[
            "show",
            "ake-bot/release-1.31/cert-manager:bundles/cert-manager/rendered/manifests.yaml",
        ],
    );
    assert!(
        rendered.contains("# chart cert-manager v1.15.5, Kubernetes 1.31, branch release-1.31"),
        "{}",
        rendered.lines().take(3).collect::<Vec<_>>().join("\n")
    );

    // A second run writes nothing, on any branch.
    let refs_before = refs(o);
    let writes = server.world().writes().len();
    let second = sync(&env, &server.uri()).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(refs(o), refs_before);
    assert_eq!(server.world().writes().len(), writes);
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_branch_taking_patches_gets_a_patch_and_nothing_more() {
    let env = setup_with_release_branches(true);
    let server = start(&env).await;
    let run = sync_with(&env, &server.uri(), &["--branch", "release-1.32"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let heads = open_heads(&server);
    assert_eq!(
        heads,
        [(
            "release-1.32".to_string(),
            "ake-bot/release-1.32/argo-cd".to_string(),
            "chore(argo-cd): bump 7.8.27 → 7.8.28 (release-1.32)".to_string()
        )],
        "--branch limits the run; cert-manager and kube-prometheus-stack have no patch"
    );
    server.finish();
}

/// The dashboard issue of the world (exactly one must exist).
fn dashboard(server: &FakeGitHubServer) -> (u64, String) {
    let w = server.world();
    let boards: Vec<_> = w
        .issues
        .iter()
        .filter(|i| i.labels.iter().any(|l| l == "ake-bot-dashboard"))
        .collect();
    assert_eq!(boards.len(), 1, "one dashboard issue: {boards:#?}");
    (boards[0].number, boards[0].body.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_written_once_and_a_ticked_box_is_acted_on_then_cleared() {
    let env = setup_with_release_branches(false);
    let server = start(&env).await;
    let first = sync(&env, &server.uri()).await;
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let (number, body) = dashboard(&server);
    assert!(
        first
            .stdout
            .contains(&format!("dashboard: opened #{number}")),
        "{}",
        first.stdout
    );
    let pr_of = |base: &str, head: &str| {
        server
            .world()
            .open_pulls()
            .iter()
            .find(|p| p.base == base && p.head == head)
            .map(|p| p.number)
            .unwrap_or_else(|| panic!("no open PR {head} → {base}"))
    };
    let main_cm = pr_of("main", "ake-bot/cert-manager");
    let direct_cm = pr_of("release-1.31", "ake-bot/release-1.31/cert-manager");
    for branch in [
        "`main` | 1.33 | maintained",
        "`release-1.24` | 1.24 | frozen",
    ] {
        assert!(body.contains(branch), "{branch} missing:\n{body}");
    }
    let row = body
        .lines()
        .find(|l| l.starts_with("| **cert-manager** |"))
        .unwrap_or_else(|| panic!("no cert-manager row:\n{body}"));
    assert_eq!(
        row,
        format!(
            "| **cert-manager** | v1.14.7 → v1.16.5 #{main_cm} | v1.14.7 → v1.16.5 via main's #{main_cm} | v1.14.7 → v1.15.5 #{direct_cm} | v1.14.7 |"
        )
    );
    let unticked = "- [ ] <!-- ake-bot-tick approve:cert-manager@release-1.24 -->";
    assert!(body.contains(unticked), "{body}");
    assert!(
        body.contains(
            "**cert-manager** on `release-1.31`: v1.16.5 not taken: branch cap \"<1.16\""
        ),
        "{body}"
    );

    // Nothing new: nothing written, the dashboard included.
    let writes = server.world().writes().len();
    let second = sync(&env, &server.uri()).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(server.world().writes().len(), writes, "{}", second.stdout);
    assert!(second
        .stdout
        .contains(&format!("dashboard: #{number} is up to date")));
    // The dry run prints the body the next run would write, and writes nothing.
    let dry = sync_with(&env, &server.uri(), &["--dry-run"]).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let printed = dry
        .stdout
        .split("━━━━ Dashboard issue (Release-train dashboard) ━━━━\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no dashboard in the dry run:\n{}", dry.stdout));
    assert!(printed.contains(row), "{printed}");
    assert!(printed.contains(unticked), "{printed}");
    assert_eq!(server.world().writes().len(), writes);

    // A person ticks "open this PR now" for the frozen branch's held-back update.
    {
        let mut w = server.world();
        let issue = w.issue_mut(number).unwrap();
        issue.body = issue
            .body
            .replace(unticked, &unticked.replace("[ ]", "[x]"));
    }
    let third = sync(&env, &server.uri()).await;
    assert_eq!(third.code, 0, "{}\n{}", third.stdout, third.stderr);
    assert!(
        third.stdout.contains(
            "asked on the dashboard: open the held-back update of cert-manager on release-1.24"
        ),
        "{}",
        third.stdout
    );
    let approved = pr_of("release-1.24", "ake-bot/release-1.24/cert-manager");
    {
        let w = server.world();
        let p = w.pull(approved).unwrap();
        assert_eq!(
            p.title,
            "chore(cert-manager): bump v1.14.7 → v1.16.5 (release-1.24)"
        );
        assert!(
            p.labels.iter().any(|l| l == "dashboard-approved"),
            "{:?}",
            p.labels
        );
    }
    let (_, body) = dashboard(&server);
    assert!(
        !body.contains("ake-bot-tick approve:cert-manager@release-1.24"),
        "acted on, then gone:\n{body}"
    );
    assert!(!body.contains("- [x]"), "{body}");
    assert!(
        body.contains(&format!("v1.14.7 → v1.16.5 #{approved} |")),
        "{body}"
    );

    // The approval lasts while its PR is open: the next run keeps it and writes nothing.
    let writes = server.world().writes().len();
    let fourth = sync(&env, &server.uri()).await;
    assert_eq!(fourth.code, 0, "{}", fourth.stderr);
    assert_eq!(server.world().writes().len(), writes, "{}", fourth.stdout);
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backport_supersedes_a_direct_pr_for_the_same_version() {
    let env = setup_with_release_branches(false);
    let server = start(&env).await;
    // A direct PR onto release-1.31 proposes v1.15.5 (capped below main's v1.16.5).
    let first = sync(&env, &server.uri()).await;
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let direct = server
        .world()
        .open_pulls()
        .iter()
        .find(|p| p.head == "ake-bot/release-1.31/cert-manager")
        .map(|p| p.number)
        .unwrap();
    // Main moves to v1.15.5 by hand, and that change is backported to release-1.31.
    env.repo.git(&["checkout", "-q", "main"]);
    env.repo.pin("cert-manager", "v1.15.5");
    let render = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(["render", "--addon", "cert-manager"])
        .repo(env.repo.path())
        .env("AKE_BOT_CACHE_DIR", env.cache.path())
        .run();
    assert_eq!(render.code, 0, "{}", render.stderr);
    env.repo.git(&[
        "commit",
        "-q",
        "-am",
        "chore(cert-manager): bump v1.14.7 → v1.15.5",
    ]);
    env.repo.git(&["push", "-q", "origin", "main"]);
    let (repo, cache, api) = (
        env.repo.path().to_path_buf(),
        env.cache.path().to_path_buf(),
        server.uri(),
    );
    let backport = tokio::task::spawn_blocking(move || {
        Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
            .args(["backport", "--branch", "release-1.31"])
            .repo(&repo)
            .env("AKE_BOT_CACHE_DIR", &cache)
            .github(&api, "acme/platform-config", TOKEN)
            .run()
    })
    .await
    .unwrap();
    assert_eq!(backport.code, 0, "{}\n{}", backport.stdout, backport.stderr);
    let w = server.world();
    let open_on_131: Vec<_> = w
        .open_pulls()
        .iter()
        .filter(|p| p.base == "release-1.31")
        .map(|p| p.head.clone())
        .collect();
    assert_eq!(open_on_131.len(), 1, "{open_on_131:?}");
    assert!(open_on_131[0].starts_with("ake-bot/backport/release-1.31/"));
    assert_eq!(w.pull(direct).unwrap().state, "closed");
    assert!(w
        .comments_on(direct)
        .iter()
        .any(|c| c.body.contains("carries the same version")));
    drop(w);
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_github_will_not_list_is_not_written_and_the_prs_go_on() {
    let env = setup();
    let server = start(&env).await;
    server.world().inject(
        "issues/list-for-repo",
        ake_bot_testkit::github::Fault::Status(403),
    );
    let run = sync(&env, &server.uri()).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("the release-train dashboard: listing issues labelled ake-bot-dashboard"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("dashboard: not written (GitHub failed; see the problems)"),
        "{}",
        run.stdout
    );
    let w = server.world();
    assert_eq!(w.open_pulls().len(), 4, "the PRs go on");
    assert!(
        w.issues.is_empty(),
        "no dashboard written blind (it could be a second one)"
    );
    drop(w);
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_writes_on_a_release_branch_and_the_dashboard_converge_without_duplicates() {
    let env = setup_with_release_branches(false);
    let server = start(&env).await;
    // Four attempts per call: every one of the five PRs, and the dashboard, fails to open.
    for (op, calls) in [("pulls/create", 5), ("issues/create", 1)] {
        for _ in 0..4 * calls {
            server
                .world()
                .inject(op, ake_bot_testkit::github::Fault::Status(502));
        }
    }
    // Every PR and the dashboard fail to open: the bot branches are pushed, nothing else.
    let failed = sync(&env, &server.uri()).await;
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        failed
            .stderr
            .contains("error: cert-manager on release-1.31: opening a pull request"),
        "{}",
        failed.stderr
    );
    assert!(refs(&env.origin).contains("refs/heads/ake-bot/release-1.31/cert-manager"));
    let ok = sync(&env, &server.uri()).await;
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    {
        let w = server.world();
        let on_131: Vec<_> = w
            .pulls
            .iter()
            .filter(|p| p.base == "release-1.31")
            .collect();
        assert_eq!(
            on_131.len(),
            1,
            "exactly one PR onto release-1.31: {on_131:#?}"
        );
        assert_eq!(w.issues.len(), 1, "exactly one dashboard");
    }
    // Converged: the next run writes nothing.
    let writes = server.world().writes().len();
    let again = sync(&env, &server.uri()).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(server.world().writes().len(), writes, "{}", again.stdout);
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_legs_and_the_dashboard_job_leave_what_one_unsharded_run_would() {
    let env = setup_with_release_branches(false);
    let server = start(&env).await;
    let matrix = sync_with(
        &env,
        &server.uri(),
        &["--shard-matrix", "2", "--output", "json"],
    )
    .await;
    assert_eq!(matrix.code, 0, "{}", matrix.stderr);
    let v: serde_json::Value = serde_json::from_str(&matrix.stdout).unwrap();
    let legs: Vec<(String, Vec<String>)> = v["data"]["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let addons = l["addons"].as_array().unwrap();
            let addons = addons.iter().map(|a| a.as_str().unwrap().to_string());
            (l["shard"].as_str().unwrap().to_string(), addons.collect())
        })
        .collect();
    let mut every: Vec<&String> = legs.iter().flat_map(|(_, a)| a).collect();
    every.sort();
    assert_eq!(
        every,
        [
            "argo-cd",
            "cert-manager",
            "gateway-api",
            "kube-prometheus-stack"
        ],
        "each addon in exactly one leg"
    );

    // Each leg writes only its own addons' PRs, and no dashboard.
    let mut seen = std::collections::BTreeSet::new();
    for (shard, addons) in &legs {
        let run = sync_with(&env, &server.uri(), &["--shard", shard]).await;
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout
                .contains(&format!("dashboard: not written (shard {shard}")),
            "{}",
            run.stdout
        );
        for (_, head, _) in open_heads(&server) {
            if seen.insert(head.clone()) {
                let addon = head.rsplit('/').next().unwrap();
                assert!(
                    addons.iter().any(|a| a == addon),
                    "leg {shard} ({addons:?}) opened {head}"
                );
            }
        }
    }
    assert!(!seen.is_empty());
    assert!(server
        .world()
        .issues
        .iter()
        .all(|i| !i.labels.iter().any(|l| l == "ake-bot-dashboard")));

    let board = sync_with(&env, &server.uri(), &["--dashboard-only"]).await;
    assert_eq!(board.code, 0, "{}\n{}", board.stdout, board.stderr);
    let (number, body) = dashboard(&server);
    assert!(
        board
            .stdout
            .contains(&format!("dashboard: opened #{number}")),
        "{}",
        board.stdout
    );
    assert!(
        !body.contains("(new PR)"),
        "every cell names the PR a leg opened:\n{body}"
    );

    // One unsharded run over the result wants nothing else: no PR, branch or dashboard write.
    let (pulls, refs_before) = (format!("{:?}", server.world().pulls), refs(&env.origin));
    let whole = sync(&env, &server.uri()).await;
    assert_eq!(whole.code, 0, "{}\n{}", whole.stdout, whole.stderr);
    assert_eq!(format!("{:?}", server.world().pulls), pulls);
    assert_eq!(refs(&env.origin), refs_before);
    assert_eq!(dashboard(&server), (number, body));
    assert!(
        whole
            .stdout
            .contains(&format!("dashboard: #{number} is up to date")),
        "{}",
        whole.stdout
    );
    server.finish();
}
