//! The "GitHub release assets" upstream source against the fake GitHub over real HTTP: every
//! request and response is held to GitHub's REST description, the asset download goes through
//! the redirect to storage as on GitHub, and storage refuses (and reports) a leaked token.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ake_bot::upstream::github_release::{
    download_from_mirror, read_mirror, Blob, GithubReleaseError, GithubReleaseSource,
    GithubReleases, ReleaseAsset, ReleaseLocation,
};
use ake_bot_testkit::fixtures_dir;
use ake_bot_testkit::github::world::{sha256_hex, STORAGE_OPERATION};
use ake_bot_testkit::github::{FakeGitHub, FakeGitHubServer, Fault};

const REPO: &str = "kubernetes-sigs/gateway-api";
const ASSET: &str = "standard-install.yaml";
const TOKEN: &str = "ghs_upstreamTOKEN0123456789abcdef";
/// The digest GitHub reports for Gateway API v1.2.1's `standard-install.yaml`.
const V121_SHA256: &str = "f6bc0b401ff8aade7c874bad691cf95fa8e5bf48008320afc80dcef368812000";

fn real_v121() -> Vec<u8> {
    std::fs::read(
        fixtures_dir()
            .join("github-releases/kubernetes-sigs/gateway-api/v1.2.1")
            .join(ASSET),
    )
    .unwrap()
}

fn yaml(tag: &str) -> Vec<u8> {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gateway-api\ndata:\n  version: {tag}\n")
        .into_bytes()
}

fn world() -> FakeGitHub {
    // The config repository is not used here; upstream repositories are.
    FakeGitHub::new("acme", "platform-config", PathBuf::from("/nonexistent"))
}

fn src(asset: &str) -> GithubReleaseSource {
    GithubReleaseSource {
        repo: REPO.into(),
        asset: asset.into(),
        checksum: None,
        prerelease: false,
    }
}

fn client(base: &str, token: Option<&str>) -> GithubReleases {
    GithubReleases::new(base, token.map(str::to_string), Duration::from_secs(5))
        .unwrap()
        .with_retry_base(Duration::from_millis(5))
}

fn tags(l: &[ReleaseAsset]) -> Vec<&str> {
    l.iter().map(|a| a.tag.as_str()).collect()
}

fn calls(server: &FakeGitHubServer, operation: &str) -> Vec<(String, u16)> {
    server
        .world()
        .requests
        .iter()
        .filter(|r| r.operation == operation)
        .map(|r| (r.path.clone(), r.status))
        .collect()
}

#[tokio::test]
async fn drafts_are_never_listed_and_prereleases_only_when_asked() {
    let mut w = world();
    w.add_upstream_release(REPO, "v1.0.0", &[(ASSET, &yaml("v1.0.0"))]);
    w.add_upstream_release(REPO, "v1.1.0-rc.1", &[(ASSET, &yaml("rc"))])
        .prerelease = true;
    let draft = w.add_upstream_release(REPO, "v1.1.0", &[(ASSET, &yaml("v1.1.0"))]);
    draft.draft = true;
    draft.published_at = None;
    w.add_upstream_release(REPO, "v1.2.0", &[(ASSET, &yaml("v1.2.0"))]);
    let server = FakeGitHubServer::start(w).await;
    let gh = client(&server.uri(), None);

    let l = gh.list(&src(ASSET)).await.unwrap();
    assert_eq!(
        tags(&l.assets),
        ["v1.2.0", "v1.0.0"],
        "newest first, as GitHub lists"
    );
    assert!(l.unusable.is_empty(), "{:?}", l.unusable);
    let a = &l.assets[0];
    assert_eq!(
        (a.repo.as_str(), a.name.as_str(), a.size, a.prerelease),
        (REPO, ASSET, yaml("v1.2.0").len() as u64, false)
    );
    assert_eq!(
        a.digest.as_deref(),
        Some(sha256_hex(&yaml("v1.2.0")).as_str())
    );
    assert_eq!(a.published_at.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert!(matches!(&a.from, Blob::Api(u) if u.starts_with(&server.uri())));

    let mut with_pre = src(ASSET);
    with_pre.prerelease = true;
    let l = gh.list(&with_pre).await.unwrap();
    assert_eq!(tags(&l.assets), ["v1.2.0", "v1.1.0-rc.1", "v1.0.0"]);
    assert!(l.assets[1].prerelease);
    server.finish();
}

#[tokio::test]
async fn every_page_is_read_when_there_are_more_than_a_hundred_releases() {
    let mut w = world();
    for i in 0..230 {
        let tag = format!("v0.{i}.0");
        w.add_upstream_release(REPO, &tag, &[(ASSET, tag.as_bytes())]);
    }
    let server = FakeGitHubServer::start(w).await;
    let l = client(&server.uri(), None).list(&src(ASSET)).await.unwrap();
    assert_eq!(l.assets.len(), 230);
    assert_eq!(
        (l.assets[0].tag.as_str(), l.assets[229].tag.as_str()),
        ("v0.229.0", "v0.0.0")
    );
    let pages = calls(&server, "repos/list-releases");
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages.iter().all(|(_, s)| *s == 200));
    server.finish();
}

#[tokio::test]
async fn the_real_gateway_api_asset_is_downloaded_through_storage_and_verified() {
    let bytes = real_v121();
    let mut w = world();
    w.add_upstream_release(
        REPO,
        "v1.2.1",
        &[(ASSET, &bytes), ("experimental-install.yaml", b"x")],
    )
    .published_at = Some("2024-11-29T12:34:58Z".into());
    let server = FakeGitHubServer::start(w).await;
    let gh = client(&server.uri(), None);
    let l = gh.list(&src(ASSET)).await.unwrap();
    let a = &l.assets[0];
    assert_eq!(
        (a.tag.as_str(), a.size, a.digest.as_deref()),
        ("v1.2.1", 598398, Some(V121_SHA256)),
        "the digest GitHub reports for the real asset"
    );
    let got = gh.download(a).await.unwrap();
    assert_eq!(got.len(), 598398);
    assert!(got == bytes);
    assert!(String::from_utf8(got)
        .unwrap()
        .contains("name: gateways.gateway.networking.k8s.io"));
    // Through the API's redirect, then storage.
    assert_eq!(calls(&server, "repos/get-release-asset")[0].1, 302);
    assert_eq!(calls(&server, STORAGE_OPERATION)[0].1, 200);
    server.finish();
}

#[tokio::test]
async fn without_a_digest_the_checksum_asset_verifies_the_download() {
    let good = yaml("v1.3.0");
    let sums = format!(
        "{}  experimental-install.yaml\n{} *{ASSET}\n",
        sha256_hex(b"experimental"),
        sha256_hex(&good)
    );
    let mut w = world();
    w.add_upstream_release(
        REPO,
        "v1.3.0",
        &[
            (ASSET, &good),
            ("experimental-install.yaml", b"experimental"),
            ("checksums.txt", sums.as_bytes()),
        ],
    );
    // A release whose checksum file lacks our asset, and one whose checksum file is wrong.
    let other = format!(
        "{}  experimental-install.yaml\n",
        sha256_hex(b"experimental")
    );
    w.add_upstream_release(
        REPO,
        "v1.4.0",
        &[
            (ASSET, &yaml("v1.4.0")),
            ("checksums.txt", other.as_bytes()),
        ],
    );
    let wrong = format!("{}  {ASSET}\n", sha256_hex(b"something else"));
    w.add_upstream_release(
        REPO,
        "v1.5.0",
        &[
            (ASSET, &yaml("v1.5.0")),
            ("checksums.txt", wrong.as_bytes()),
        ],
    );
    for tag in ["v1.3.0", "v1.4.0", "v1.5.0"] {
        for name in [ASSET, "checksums.txt"] {
            w.upstream_asset_mut(REPO, tag, name).unwrap().digest = None;
        }
    }
    let server = FakeGitHubServer::start(w).await;
    let gh = client(&server.uri(), None);
    let mut s = src(ASSET);
    s.checksum = Some("checksum?.txt".into());
    let l = gh.list(&s).await.unwrap();
    assert_eq!(tags(&l.assets), ["v1.5.0", "v1.4.0", "v1.3.0"]);
    assert!(l.assets.iter().all(|a| a.digest.is_none()
        && a.checksum.as_ref().map(|c| c.name.as_str()) == Some("checksums.txt")));

    assert!(gh.download(&l.assets[2]).await.unwrap() == good);

    let e = gh.download(&l.assets[1]).await.unwrap_err();
    assert!(
        matches!(e, GithubReleaseError::ChecksumMissing { .. }),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!("{REPO} v1.4.0 {ASSET}: the checksum file checksums.txt has no line for {ASSET}")
    );

    let e = gh.download(&l.assets[0]).await.unwrap_err();
    let msg = e.to_string();
    assert!(e.is_unusable_release(), "{e:?}");
    assert!(
        msg.contains("the checksum file checksums.txt says"),
        "{msg}"
    );
    assert!(
        msg.contains(&sha256_hex(b"something else")) && msg.contains(&sha256_hex(&yaml("v1.5.0"))),
        "{msg}"
    );

    // Without the checksum file, nothing can verify these releases: unusable when listed.
    let l = gh.list(&src(ASSET)).await.unwrap();
    assert!(l.assets.is_empty());
    assert_eq!(
        l.unusable[0].reason,
        format!("release v1.5.0: {ASSET} has no digest and no checksum asset: cannot verify it")
    );
    server.finish();
}

#[tokio::test]
async fn a_digest_mismatch_names_both_digests_the_repo_tag_and_asset() {
    let mut w = world();
    w.add_upstream_release(REPO, "v1.2.0", &[(ASSET, &yaml("v1.2.0"))]);
    let claimed = sha256_hex(b"what upstream published");
    w.upstream_asset_mut(REPO, "v1.2.0", ASSET).unwrap().digest = Some(format!("sha256:{claimed}"));
    let server = FakeGitHubServer::start(w).await;
    let gh = client(&server.uri(), None);
    let l = gh.list(&src(ASSET)).await.unwrap();
    let e = gh.download(&l.assets[0]).await.unwrap_err();
    assert!(e.is_unusable_release());
    assert_eq!(
        e.to_string(),
        format!(
            "{REPO} v1.2.0 {ASSET}: sha256 mismatch: GitHub's digest says {claimed}, the downloaded bytes are {}",
            sha256_hex(&yaml("v1.2.0"))
        )
    );
    server.finish();
}

#[tokio::test]
async fn a_release_without_the_asset_or_with_several_matches_is_set_apart() {
    let mut w = world();
    w.add_upstream_release(REPO, "v1.0.0", &[(ASSET, &yaml("v1.0.0"))]);
    w.add_upstream_release(
        REPO,
        "v1.1.0",
        &[("experimental-install.yaml", &yaml("v1.1.0"))],
    );
    w.add_upstream_release(
        REPO,
        "v1.2.0",
        &[
            (ASSET, &yaml("v1.2.0")),
            ("experimental-install.yaml", &yaml("x")),
        ],
    );
    let server = FakeGitHubServer::start(w).await;
    let gh = client(&server.uri(), None);

    let l = gh.list(&src(ASSET)).await.unwrap();
    assert_eq!(
        tags(&l.assets),
        ["v1.2.0", "v1.0.0"],
        "the others are still listed"
    );
    assert_eq!(l.unusable.len(), 1);
    assert_eq!(
        (l.unusable[0].tag.as_str(), l.unusable[0].reason.as_str()),
        (
            "v1.1.0",
            "release v1.1.0 has no asset matching standard-install.yaml"
        )
    );

    let l = gh.list(&src("*-install.yaml")).await.unwrap();
    assert_eq!(tags(&l.assets), ["v1.1.0", "v1.0.0"]);
    assert_eq!(
        l.unusable[0].reason,
        "release v1.2.0 has 2 assets matching *-install.yaml (standard-install.yaml, experimental-install.yaml): the pattern must name one"
    );
    server.finish();
}

#[tokio::test]
async fn a_missing_repository_is_an_error_not_an_empty_list() {
    let mut w = world();
    w.add_upstream_repo(REPO);
    let server = FakeGitHubServer::start(w).await;
    let gh = client(&server.uri(), None);
    let l = gh.list(&src(ASSET)).await.unwrap();
    assert!(
        l.assets.is_empty() && l.unusable.is_empty(),
        "a repository with no releases"
    );

    let mut s = src(ASSET);
    s.repo = "kubernetes-sigs/no-such-repo".into();
    let e = gh.list(&s).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "kubernetes-sigs/no-such-repo: repository kubernetes-sigs/no-such-repo not found (or not visible to this token)"
    );
    server.finish();
}

#[tokio::test]
async fn server_errors_are_retried_and_reported_when_they_persist() {
    let mut w = world();
    w.add_upstream_release(REPO, "v1.2.0", &[(ASSET, &yaml("v1.2.0"))]);
    w.inject("repos/list-releases", Fault::Status(500));
    w.inject(STORAGE_OPERATION, Fault::Status(503));
    let server = FakeGitHubServer::start(w).await;
    let gh = client(&server.uri(), None);
    let l = gh.list(&src(ASSET)).await.unwrap();
    assert_eq!(
        calls(&server, "repos/list-releases")
            .iter()
            .map(|c| c.1)
            .collect::<Vec<_>>(),
        [500, 200]
    );
    assert!(gh.download(&l.assets[0]).await.unwrap() == yaml("v1.2.0"));
    assert_eq!(
        calls(&server, STORAGE_OPERATION)
            .iter()
            .map(|c| c.1)
            .collect::<Vec<_>>(),
        [503, 200]
    );

    for _ in 0..3 {
        server
            .world()
            .inject("repos/list-releases", Fault::Status(502));
    }
    let e = gh.list(&src(ASSET)).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, GithubReleaseError::Status { status: 502, .. }),
        "{e:?}"
    );
    assert!(msg.starts_with(&format!("{REPO}: http://")), "{msg}");
    assert!(
        msg.ends_with("answered HTTP 502: server error (injected 502) (after 3 attempts)"),
        "{msg}"
    );
    server.finish();
}

#[tokio::test]
async fn rate_limits_wait_as_github_asks_unless_that_is_too_long() {
    let mut w = world();
    w.add_upstream_release(REPO, "v1.2.0", &[(ASSET, &yaml("v1.2.0"))]);
    w.inject(
        "repos/list-releases",
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let server = FakeGitHubServer::start(w).await;
    let gh = client(&server.uri(), None);
    let started = Instant::now();
    let l = gh.list(&src(ASSET)).await.unwrap();
    assert_eq!(l.assets.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(
        calls(&server, "repos/list-releases")
            .iter()
            .map(|c| c.1)
            .collect::<Vec<_>>(),
        [429, 200]
    );

    // A secondary rate limit asking for an hour: failed at once, saying why.
    server.world().inject(
        "repos/list-releases",
        Fault::RateLimited {
            retry_after_secs: 3600,
        },
    );
    let started = Instant::now();
    let e = gh.list(&src(ASSET)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let msg = e.to_string();
    assert!(
        matches!(e, GithubReleaseError::RateLimited { status: 403, .. }),
        "{e:?}"
    );
    assert!(
        msg.contains("GitHub asks to wait 3600 s, longer than the 30 s a run waits"),
        "{msg}"
    );
    server.finish();
}

#[tokio::test]
async fn the_token_goes_to_the_api_and_never_to_storage() {
    let mut w = world().with_token(TOKEN);
    w.add_upstream_release(REPO, "v1.2.0", &[(ASSET, &yaml("v1.2.0"))]);
    let server = FakeGitHubServer::start(w).await;
    // GitHub Enterprise's layout: the API under /api/v3, storage elsewhere on the same host.
    let api = format!("{}/api/v3", server.uri());
    let gh = client(&api, Some(TOKEN));
    let l = gh.list(&src(ASSET)).await.unwrap();
    assert!(matches!(&l.assets[0].from, Blob::Api(u) if u.starts_with(&format!("{api}/repos/"))));
    assert!(gh.download(&l.assets[0]).await.unwrap() == yaml("v1.2.0"));
    // The fake required the token on the API (401 otherwise) and recorded a violation had
    // storage received it; `finish` fails on any.
    assert_eq!(calls(&server, "repos/get-release-asset")[0].1, 302);
    assert_eq!(calls(&server, STORAGE_OPERATION)[0].1, 200);

    // Without the token GitHub says 401: an error naming the cause, not "no releases".
    let e = client(&api, None).list(&src(ASSET)).await.unwrap_err();
    assert!(
        matches!(e, GithubReleaseError::Status { status: 401, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("the token was refused (Bad credentials)"),
        "{e}"
    );
    assert!(!format!("{gh:?}").contains(TOKEN));
    server.finish();
}

#[tokio::test]
async fn an_unreachable_api_or_a_hung_request_is_an_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = client(&format!("http://127.0.0.1:{port}"), None)
        .list(&src(ASSET))
        .await
        .unwrap_err();
    assert!(matches!(e, GithubReleaseError::Unreachable { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with(&format!(
            "{REPO}: cannot reach http://127.0.0.1:{port}/repos/"
        )),
        "{e}"
    );

    // One request that never answers: timed out, retried, and the retry succeeds.
    let mut w = world();
    w.add_upstream_release(REPO, "v1.2.0", &[(ASSET, &yaml("v1.2.0"))]);
    w.inject("repos/list-releases", Fault::Hang);
    let server = FakeGitHubServer::start(w).await;
    let gh = GithubReleases::new(&server.uri(), None, Duration::from_millis(500))
        .unwrap()
        .with_retry_base(Duration::from_millis(5));
    assert_eq!(gh.list(&src(ASSET)).await.unwrap().assets.len(), 1);
    server.finish();
}

#[tokio::test]
async fn an_asset_that_cannot_be_verified_is_never_used() {
    let a = ReleaseAsset {
        repo: REPO.into(),
        tag: "v1.2.0".into(),
        prerelease: false,
        published_at: None,
        name: ASSET.into(),
        size: 1,
        digest: None,
        from: Blob::File(PathBuf::from("/nonexistent")),
        checksum: None,
    };
    let e = download_from_mirror(&a).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{REPO} v1.2.0 {ASSET}: no digest and no checksum asset: cannot verify")
    );
}

#[tokio::test]
async fn a_mirror_directory_lists_and_verifies_like_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = real_v121();
    // What the list-releases API returns, trimmed to the fields that matter.
    let releases = serde_json::json!([
        { "tag_name": "v1.3.0", "draft": false, "prerelease": false, "published_at": "2025-04-24T02:02:30Z",
          "assets": [{ "id": 3, "name": ASSET, "size": 616760,
                       "digest": "sha256:926864b90a8b204769b575e604706738b02f58b0ef8ab897298b0b9af1406304",
                       "url": "https://api.github.com/repos/kubernetes-sigs/gateway-api/releases/assets/3" }] },
        { "tag_name": "v1.3.0-rc.1", "draft": false, "prerelease": true, "published_at": null,
          "assets": [{ "id": 2, "name": ASSET, "size": 1, "digest": null }] },
        { "tag_name": "v1.2.1", "draft": false, "prerelease": false, "published_at": "2024-11-29T12:34:58Z",
          "assets": [{ "id": 1, "name": ASSET, "size": 598398, "digest": format!("sha256:{V121_SHA256}") }] },
        { "tag_name": "../escape", "draft": false, "prerelease": false,
          "assets": [{ "id": 9, "name": ASSET, "size": 1, "digest": format!("sha256:{V121_SHA256}") }] },
    ]);
    std::fs::write(
        dir.path().join("releases.json"),
        serde_json::to_vec_pretty(&releases).unwrap(),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("v1.2.1")).unwrap();
    std::fs::write(dir.path().join("v1.2.1").join(ASSET), &bytes).unwrap();

    let l = read_mirror(dir.path(), &src(ASSET)).unwrap();
    assert_eq!(tags(&l.assets), ["v1.2.1"]);
    assert_eq!(l.assets[0].digest.as_deref(), Some(V121_SHA256));
    assert_eq!(
        l.assets[0].from,
        Blob::File(dir.path().join("v1.2.1").join(ASSET))
    );
    let reasons: Vec<(&str, &str)> = l
        .unusable
        .iter()
        .map(|u| (u.tag.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0].0, "v1.3.0");
    assert!(
        reasons[0]
            .1
            .starts_with("release v1.3.0: standard-install.yaml is not in the mirror"),
        "{reasons:?}"
    );
    assert!(
        reasons[1]
            .1
            .contains("do not make a path inside the mirror"),
        "{reasons:?}"
    );

    // The same interface as the API.
    let mirror = ReleaseLocation::Dir(dir.path().to_path_buf());
    let listed = mirror.list(&src(ASSET)).await.unwrap();
    assert_eq!(listed, l);
    assert!(mirror.download(&listed.assets[0]).await.unwrap() == bytes);

    // A mirror holding other bytes than GitHub's digest says is refused.
    let mut tampered = bytes.clone();
    tampered.extend_from_slice(b"\n# edited\n");
    std::fs::write(dir.path().join("v1.2.1").join(ASSET), &tampered).unwrap();
    let e = mirror.download(&listed.assets[0]).await.unwrap_err();
    assert!(
        matches!(e, GithubReleaseError::DigestMismatch { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains(V121_SHA256), "{e}");

    // No releases.json: an error, never "no releases".
    let empty = tempfile::tempdir().unwrap();
    let e = read_mirror(empty.path(), &src(ASSET)).unwrap_err();
    assert!(matches!(e, GithubReleaseError::Mirror { .. }), "{e:?}");
}

#[tokio::test]
async fn the_api_and_a_mirror_are_used_through_one_interface() {
    let mut w = world();
    w.add_upstream_release(REPO, "v1.2.0", &[(ASSET, &yaml("v1.2.0"))]);
    let server = FakeGitHubServer::start(w).await;
    let api = ReleaseLocation::Api(client(&server.uri(), None));
    let l = api.list(&src(ASSET)).await.unwrap();
    assert!(api.download(&l.assets[0]).await.unwrap() == yaml("v1.2.0"));
    server.finish();
}

#[tokio::test]
async fn the_fake_storage_catches_a_leaked_token() {
    // The check the token test relies on: storage reports an Authorization header.
    let mut w = world();
    let id = w
        .add_upstream_release(REPO, "v1.2.0", &[(ASSET, &yaml("v1.2.0"))])
        .assets[0]
        .id;
    let server = FakeGitHubServer::start(w).await;
    let resp = reqwest::Client::new()
        .get(format!("{}/_storage/{id}", server.uri()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let violations = std::mem::take(&mut server.world().violations);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("received an Authorization header"),
        "{violations:?}"
    );
    server.finish();
}

#[tokio::test]
async fn an_asset_larger_than_the_limit_is_refused() {
    let mut w = world();
    w.add_upstream_release(REPO, "v1.2.0", &[(ASSET, &[b'x'; 200])]);
    let server = FakeGitHubServer::start(w).await;
    let gh = client(&server.uri(), None).with_max_asset_bytes(100);
    let l = gh.list(&src(ASSET)).await.unwrap();
    let e = gh.download(&l.assets[0]).await.unwrap_err();
    assert!(e.is_unusable_release(), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "{REPO} v1.2.0 {ASSET}: {}/_storage/",
            server.uri()
        )) && msg.ends_with("is larger than 100 bytes; refusing to read it"),
        "{msg}"
    );
    server.finish();
}

// --- the whole bot: a bundle whose source is a GitHub release ------------------------------

/// The project's config without the Gateway API mirror: the bundle reads the fake GitHub.
fn config_reading_github() -> ake_bot_testkit::ConfigRepo {
    let repo = ake_bot_testkit::ConfigRepo::from_project();
    repo.edit(
        "branches.toml",
        "\"https://github.com/kubernetes-sigs/gateway-api\" = \"mirror/github/kubernetes-sigs/gateway-api\"",
        "",
    );
    repo
}

/// `sync --dry-run` for gateway-api on main. Blocking: call it through `spawn_blocking`, so the
/// fake (on this runtime) can answer.
fn plan_gateway(repo: &std::path::Path, api: &str) -> (ake_bot_testkit::Run, serde_json::Value) {
    let cache = tempfile::tempdir().unwrap();
    let run = ake_bot_testkit::Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args([
            "sync",
            "--dry-run",
            "--output",
            "json",
            "--addon",
            "gateway-api",
            "--branch",
            "main",
        ])
        .repo(repo)
        .env("XDG_CACHE_HOME", cache.path())
        .env("GITHUB_API_URL", api)
        .env("GITHUB_TOKEN", TOKEN)
        .run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", run.stdout, run.stderr));
    (run, v)
}

fn gateway_entry(v: &serde_json::Value) -> serde_json::Value {
    v["data"]["entries"][0].clone()
}

#[tokio::test]
async fn a_new_release_moves_the_target_and_the_pr_shows_version_and_digest() {
    let repo = config_reading_github();
    let mut w = world();
    w.add_upstream_release(REPO, "v1.2.1", &[(ASSET, &real_v121())]);
    let server = FakeGitHubServer::start(w).await;
    // GitHub Enterprise's layout, so the storage host is outside the API (as on github.com).
    let api = format!("{}/api/v3", server.uri());

    // Only the pinned release: up to date, and the pin's digest is the real asset's.
    let (run, v) = tokio::task::spawn_blocking({
        let (repo_path, api) = (repo.path().to_path_buf(), api.clone());
        move || plan_gateway(&repo_path, &api)
    })
    .await
    .unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(gateway_entry(&v)["action"]["kind"], "up-to-date", "{v}");

    // Upstream publishes v1.3.0 (and a draft v1.4.0, never used): the target moves to v1.3.0.
    let v130 = yaml("v1.3.0");
    server
        .world()
        .add_upstream_release(REPO, "v1.3.0", &[(ASSET, &v130)]);
    server
        .world()
        .add_upstream_release(REPO, "v1.4.0", &[(ASSET, &yaml("v1.4.0"))])
        .draft = true;
    let (run, v) = tokio::task::spawn_blocking({
        let (repo_path, api) = (repo.path().to_path_buf(), api.clone());
        move || plan_gateway(&repo_path, &api)
    })
    .await
    .unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let e = gateway_entry(&v);
    assert_eq!(e["target"], "v1.3.0", "{e}");
    let digest = format!("sha256:{}", sha256_hex(&v130));
    assert_eq!(e["target_digest"], digest.as_str());
    let body = e["body"].as_str().unwrap();
    assert!(
        body.contains("| asset `standard-install.yaml` | `v1.2.1` | `v1.3.0` |"),
        "{body}"
    );
    assert!(
        body.contains(&format!("`sha256:{V121_SHA256}` | `{digest}`")),
        "{body}"
    );
    assert!(!run.stderr.contains(TOKEN) && !run.stdout.contains(TOKEN));
    // Storage never saw the token (the fake records it as a violation otherwise).
    server.finish();
}

#[tokio::test]
async fn a_release_whose_asset_does_not_match_its_digest_is_not_taken() {
    let repo = config_reading_github();
    let mut w = world();
    w.add_upstream_release(REPO, "v1.2.1", &[(ASSET, &real_v121())]);
    w.add_upstream_release(REPO, "v1.3.0", &[(ASSET, &yaml("v1.3.0"))]);
    let bad = w.add_upstream_release(REPO, "v1.4.0", &[(ASSET, &yaml("v1.4.0"))]);
    bad.assets[0].digest = Some(format!("sha256:{}", "0".repeat(64)));
    let server = FakeGitHubServer::start(w).await;
    let api = format!("{}/api/v3", server.uri());
    let before = repo.files();
    let (run, v) = tokio::task::spawn_blocking({
        let repo_path = repo.path().to_path_buf();
        move || plan_gateway(&repo_path, &api)
    })
    .await
    .unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let e = gateway_entry(&v);
    assert_eq!(e["target"], "v1.3.0", "{e}");
    let skipped = e["skipped"].to_string();
    assert!(
        skipped.contains("v1.4.0")
            && skipped.contains("sha256 mismatch")
            && skipped.contains(&"0".repeat(64)),
        "{skipped}"
    );
    assert_eq!(before, repo.files(), "nothing is written");
    server.finish();
}
