//! The real octocrab client against the fake GitHub over HTTP. The fake checks every request
//! and response against GitHub's REST description, so these tests also prove the calls are
//! shaped as GitHub documents them.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::time::Duration;

use ake_bot::forge::{ForgeError, GitHub, NewPull, PullState};
use ake_bot_testkit::bare_origin;
use ake_bot_testkit::github::{FakeGitHub, FakeGitHubServer, Fault};
use secrecy::SecretString;

const TOKEN: &str = "ghs_testTOKENvalue0123456789abcdef";

async fn setup() -> (FakeGitHubServer, GitHub, tempfile::TempDir) {
    let (dir, origin) = bare_origin(&["ake-bot/cert-manager"]);
    let server = FakeGitHubServer::start(
        FakeGitHub::new("acme", "platform-config", origin).with_token(TOKEN),
    )
    .await;
    let gh = GitHub::new(
        &server.uri(),
        "acme/platform-config",
        &SecretString::from(TOKEN),
    )
    .unwrap()
    .with_retry_base(Duration::from_millis(5));
    (server, gh, dir)
}

fn new_pull() -> NewPull {
    NewPull {
        title: "chore(cert-manager): bump v1.14.7 → v1.16.5".into(),
        body: "<!-- ake-bot: {} -->\nbody".into(),
        head: "ake-bot/cert-manager".into(),
        base: "main".into(),
        draft: false,
    }
}

#[tokio::test]
async fn the_pull_request_lifecycle_matches_githubs_contract() {
    let (server, gh, _dir) = setup().await;
    let pr = gh.create_pull(&new_pull()).await.unwrap();
    assert_eq!(
        (pr.number, pr.state, pr.head.as_str(), pr.base.as_str()),
        (1, PullState::Open, "ake-bot/cert-manager", "main")
    );
    assert_eq!(
        pr.head_sha.len(),
        40,
        "the head SHA comes from the real origin repository"
    );

    gh.update_pull(pr.number, "new title", "new body")
        .await
        .unwrap();
    gh.add_labels(pr.number, &["ake-bot".into(), "addon/cert-manager".into()])
        .await
        .unwrap();
    gh.comment(pr.number, "superseded").await.unwrap();
    let listed = gh.pulls_for_head("ake-bot/cert-manager").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].title.as_str(), listed[0].body.as_str()),
        ("new title", "new body")
    );
    assert_eq!(listed[0].labels, ["ake-bot", "addon/cert-manager"]);
    gh.close_pull(pr.number).await.unwrap();
    assert_eq!(
        gh.pulls_for_head("ake-bot/cert-manager").await.unwrap()[0].state,
        PullState::Closed
    );
    assert!(gh
        .pulls_for_head("ake-bot/argo-cd")
        .await
        .unwrap()
        .is_empty());

    let world = server.finish();
    assert_eq!(world.comments_on(1)[0].body, "superseded");
}

#[tokio::test]
async fn a_second_open_pull_for_the_same_branch_is_refused() {
    let (server, gh, _dir) = setup().await;
    gh.create_pull(&new_pull()).await.unwrap();
    let err = gh.create_pull(&new_pull()).await.unwrap_err();
    assert!(matches!(err, ForgeError::Unprocessable { .. }), "{err}");
    assert!(
        err.to_string().contains("A pull request already exists"),
        "{err}"
    );
    let world = server.finish();
    assert_eq!(world.open_pulls().len(), 1);
}

#[tokio::test]
async fn transient_failures_are_retried_and_permanent_ones_are_not() {
    let (server, gh, _dir) = setup().await;
    server.world().inject("pulls/create", Fault::Status(502));
    server.world().inject(
        "pulls/create",
        Fault::RateLimited {
            retry_after_secs: 0,
        },
    );
    let pr = gh.create_pull(&new_pull()).await.unwrap();
    let err = gh.update_pull(pr.number + 41, "t", "b").await.unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
    let world = server.finish();
    let creates = world
        .requests
        .iter()
        .filter(|r| r.operation == "pulls/create")
        .count();
    assert_eq!(creates, 3, "502 and a rate limit, then success");
    let updates = world
        .requests
        .iter()
        .filter(|r| r.operation == "pulls/update")
        .count();
    assert_eq!(updates, 1, "404 is not retried");
}

#[tokio::test]
async fn errors_never_carry_the_token() {
    let (server, gh, _dir) = setup().await;
    for _ in 0..4 {
        server.world().inject("pulls/create", Fault::Status(500));
    }
    let err = gh.create_pull(&new_pull()).await.unwrap_err();
    assert!(
        matches!(err, ForgeError::Status { status: 500, .. }),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains(TOKEN));
    server.finish();
}

#[tokio::test]
async fn a_wrong_token_is_a_clear_error_without_the_token() {
    let (dir, origin) = bare_origin(&[]);
    let server = FakeGitHubServer::start(
        FakeGitHub::new("acme", "platform-config", origin).with_token(TOKEN),
    )
    .await;
    let wrong = "ghs_wrongTOKEN";
    let gh = GitHub::new(
        &server.uri(),
        "acme/platform-config",
        &SecretString::from(wrong),
    )
    .unwrap();
    let err = gh.pulls_for_head("ake-bot/x").await.unwrap_err();
    assert!(
        matches!(err, ForgeError::Status { status: 401, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("Bad credentials"), "{err}");
    assert!(!format!("{err} {err:?}").contains(wrong));
    assert_eq!(server.finish().requests.len(), 1, "401 is not retried");
    drop(dir);
}

#[tokio::test]
async fn bad_configuration_is_named() {
    let token = SecretString::from(TOKEN);
    let err = GitHub::new("https://api.github.com", "not-a-repo", &token)
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "bad GitHub configuration: repository \"not-a-repo\" is not owner/repo"
    );
}

#[tokio::test]
async fn a_hung_connection_times_out_and_is_retried() {
    let (server, gh, _dir) = setup().await;
    let gh = gh.with_timeout(Duration::from_millis(300));
    server.world().inject("pulls/list", Fault::Hang);
    let pulls = gh.pulls_for_head("ake-bot/cert-manager").await.unwrap();
    assert!(pulls.is_empty());
    let world = server.finish();
    assert_eq!(
        world
            .requests
            .iter()
            .filter(|r| r.operation == "pulls/list")
            .count(),
        2
    );
}
