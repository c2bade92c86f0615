//! `ake-bot release` for real: annotated tags pushed to a real bare origin and GitHub releases
//! on the fake GitHub. Tags never move; a second run is a no-op; a run that died between the
//! tag push and the release is finished by the next.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use ake_bot_testkit::github::{FakeGitHub, FakeGitHubServer, Fault};
use ake_bot_testkit::{git, Bot, ConfigRepo, Run};

const TOKEN: &str = "ghs_releaseTOKEN0123456789";

struct Env {
    repo: ConfigRepo,
    _dir: tempfile::TempDir,
    origin: std::path::PathBuf,
}

/// main released as v1.33.0, then cert-manager bumped; origin has both, the clone fetched.
fn setup() -> Env {
    let repo = ConfigRepo::from_project();
    repo.git_init();
    repo.git(&["tag", "-a", "v1.33.0", "-m", "## v1.33.0\n"]);
    repo.pin("cert-manager", "v1.16.5");
    repo.git(&[
        "commit",
        "-q",
        "-am",
        "chore(cert-manager): bump v1.14.7 → v1.16.5",
    ]);
    let (dir, origin) = repo.with_bare_origin();
    Env {
        repo,
        _dir: dir,
        origin,
    }
}

async fn release(env: &Env, api: &str) -> Run {
    let (repo, api) = (env.repo.path().to_path_buf(), api.to_string());
    tokio::task::spawn_blocking(move || {
        Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
            .args(["release", "--branch", "main"])
            .repo(&repo)
            .github(&api, "acme/platform-config", TOKEN)
            .run()
    })
    .await
    .unwrap()
}

fn refs(env: &Env) -> String {
    git(
        &env.origin,
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_twice_tags_once_and_publishes_once() {
    let env = setup();
    let server = FakeGitHubServer::start(
        FakeGitHub::new("acme", "platform-config", env.origin.clone()).with_token(TOKEN),
    )
    .await;
    let run = release(&env, &server.uri()).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("main             tagged v1.33.1 and published its release"),
        "{}",
        run.stdout
    );
    let o = &env.origin;
    assert_eq!(
        git(o, &["cat-file", "-t", "v1.33.1"]).trim(),
        "tag",
        "annotated"
    );
    assert_eq!(
        git(o, &["rev-parse", "v1.33.1^{commit}"]),
        git(o, &["rev-parse", "main"])
    );
    let message = git(o, &["tag", "-l", "--format=%(contents)", "v1.33.1"]);
    assert!(
        message.contains("- **cert-manager** v1.14.7 → v1.16.5"),
        "{message}"
    );
    {
        let w = server.world();
        assert_eq!(w.releases.len(), 1);
        assert_eq!(w.releases[0].tag, "v1.33.1");
        assert!(w.releases[0].body.contains("### Addon versions"));
    }

    let refs_before = refs(&env);
    let writes = server.world().writes().len();
    let again = release(&env, &server.uri()).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("v1.33.1: already released"),
        "{}",
        again.stdout
    );
    assert_eq!(refs(&env), refs_before, "no new tag");
    assert_eq!(server.world().writes().len(), writes, "no new release");
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_failed_after_the_tag_push_is_finished_by_the_next_run() {
    let env = setup();
    let server = FakeGitHubServer::start(
        FakeGitHub::new("acme", "platform-config", env.origin.clone()).with_token(TOKEN),
    )
    .await;
    for _ in 0..4 {
        server
            .world()
            .inject("repos/create-release", Fault::Status(500));
    }
    let run = release(&env, &server.uri()).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: main: creating the release v1.33.1"),
        "{}",
        run.stderr
    );
    let tag = git(&env.origin, &["rev-parse", "v1.33.1"]);
    assert!(server.world().releases.is_empty());

    let run = release(&env, &server.uri()).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("v1.33.1: published the missing release"),
        "{}",
        run.stdout
    );
    assert_eq!(
        git(&env.origin, &["rev-parse", "v1.33.1"]),
        tag,
        "the tag did not move"
    );
    assert!(
        !git(&env.origin, &["tag", "-l"]).contains("v1.33.2"),
        "no second tag"
    );
    let w = server.world();
    assert_eq!(w.releases.len(), 1);
    assert!(
        w.releases[0]
            .body
            .contains("- **cert-manager** v1.14.7 → v1.16.5"),
        "notes come from the tag"
    );
    drop(w);
    server.finish();
}
