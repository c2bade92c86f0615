//! `ake-bot branch cut` for real: the release branch from main's tip on a real bare origin, and
//! the branches.toml pull request on the fake GitHub; re-runs converge.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use ake_bot_testkit::github::{FakeGitHub, FakeGitHubServer};
use ake_bot_testkit::{git, Bot, ConfigRepo, Run};

const TOKEN: &str = "ghs_cutTOKEN0123456789";

async fn cut(repo: &ConfigRepo, api: &str) -> Run {
    let (repo, api) = (repo.path().to_path_buf(), api.to_string());
    tokio::task::spawn_blocking(move || {
        Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
            .args([
                "branch",
                "cut",
                "1.33",
                "--kind-image",
                "kindest/node:v1.34.0",
            ])
            .repo(&repo)
            .github(&api, "acme/platform-config", TOKEN)
            .run()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutting_creates_the_branch_and_one_pr_and_converges() {
    let repo = ConfigRepo::from_project();
    repo.git_init();
    let (_dir, origin) = repo.with_bare_origin();
    let server = FakeGitHubServer::start(
        FakeGitHub::new("acme", "platform-config", origin.clone()).with_token(TOKEN),
    )
    .await;
    let main_before = git(&origin, &["rev-parse", "main"]);

    let run = cut(&repo, &server.uri()).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("release-1.33: created from main's tip\n"),
        "{}",
        run.stdout
    );
    assert_eq!(git(&origin, &["rev-parse", "release-1.33"]), main_before);
    let toml = git(&origin, &["show", "ake-bot/branch-cut-1.33:branches.toml"]);
    assert!(
        toml.contains("[main]\nkubernetes = \"1.34\"\nkind_image = \"kindest/node:v1.34.0\""),
        "{toml}"
    );
    {
        let w = server.world();
        let open = w.open_pulls();
        assert_eq!(open.len(), 1);
        assert_eq!(
            open[0].title,
            "chore(train): cut release-1.33; main targets Kubernetes 1.34"
        );
        assert_eq!(open[0].head, "ake-bot/branch-cut-1.33");
    }

    // Again: nothing new.
    let refs = |o: &std::path::Path| git(o, &["for-each-ref", "--format=%(refname) %(objectname)"]);
    let (refs_before, writes) = (refs(&origin), server.world().writes().len());
    let again = cut(&repo, &server.uri()).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.starts_with("release-1.33: already exists\n"),
        "{}",
        again.stdout
    );
    assert_eq!(refs(&origin), refs_before);
    assert_eq!(server.world().writes().len(), writes);

    // Merged: main now targets 1.34 and lists release-1.33; a re-run has nothing to do.
    git(
        &origin,
        &[
            "update-ref",
            "refs/heads/main",
            "refs/heads/ake-bot/branch-cut-1.33",
        ],
    );
    let done = cut(&repo, &server.uri()).await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        done.stdout
            .contains("branches.toml: main already has the change"),
        "{}",
        done.stdout
    );
    assert_eq!(server.world().writes().len(), writes);
    server.finish();
}
