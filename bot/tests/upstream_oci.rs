//! Charts from OCI registries (issue #13): a real CNCF distribution registry with htpasswd
//! auth and charts pushed by the real `helm push`, the repository's own OCI layout mirror, and
//! a scripted registry (wiremock) for what a real one will not do on demand: bearer tokens,
//! 403, 404, 429 with `Retry-After`, 5xx, 10,000 tags.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::time::Duration;

use ake_bot::config::{self, Mirrors};
use ake_bot::upstream::{self, Fetcher};
use ake_bot_testkit::registry::Registry;
use ake_bot_testkit::{Bot, ConfigRepo, Run};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const LAYOUT: &str = "mirror/oci/jetstack/cert-manager";

fn helm() -> PathBuf {
    PathBuf::from(std::env::var("HELM").expect("run the tests through scripts/with-helm"))
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `sync --dry-run --output json` for cert-manager on main, with a cache of its own (so what
/// is fetched is really fetched) and `env`.
fn plan(repo: &ConfigRepo, env: &[(&str, &str)]) -> (Run, Value) {
    let cache = tempfile::tempdir().unwrap();
    let mut bot = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args([
            "sync",
            "--dry-run",
            "--output",
            "json",
            "--addon",
            "cert-manager",
            "--branch",
            "main",
        ])
        .repo(repo.path())
        .env("XDG_CACHE_HOME", cache.path());
    for (k, v) in env {
        bot = bot.env(k, v);
    }
    let run = bot.run();
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", run.stdout, run.stderr));
    (run, v)
}

fn entry(v: &Value) -> Value {
    v["data"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["addon"] == "cert-manager" && e["branch"] == "main")
        .cloned()
        .unwrap_or_else(|| panic!("no cert-manager entry: {v}"))
}

/// The repository's config with cert-manager's OCI source mirrored to `target`.
fn mirrored_to(target: &str) -> ConfigRepo {
    let repo = ConfigRepo::from_project();
    repo.edit(
        "branches.toml",
        "\"oci://quay.io/jetstack/charts\" = \"mirror/oci/jetstack\"",
        &format!("\"oci://quay.io/jetstack/charts\" = \"{target}\""),
    );
    repo
}

fn charts(repo: &ConfigRepo, versions: &[&str]) -> Vec<PathBuf> {
    versions
        .iter()
        .map(|v| {
            repo.path()
                .join(format!("mirror/jetstack/cert-manager-{v}.tgz"))
        })
        .collect()
}

#[test]
fn the_quick_start_plans_cert_manager_from_its_oci_layout_mirror() {
    let repo = ConfigRepo::from_project();
    let pinned = repo.read("bundles/cert-manager/bundle.yaml");
    assert!(pinned.contains("oci: oci://quay.io/jetstack/charts/cert-manager"));
    let (run, v) = plan(&repo, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let e = entry(&v);
    assert_eq!(e["target"], "v1.16.5", "{e}");
    // The digest is the manifest's, as the layout holds it.
    let want = repo.layout_digest(LAYOUT, "v1.16.5");
    assert_eq!(e["target_digest"], want.as_str(), "{e}");
    let body = e["body"].as_str().unwrap();
    assert!(
        body.contains("| digest | `sha256:") && body.contains(&want),
        "{body}"
    );
    assert!(
        body.contains("From `oci://quay.io/jetstack/charts/cert-manager`"),
        "{body}"
    );
}

#[test]
fn a_newer_chart_added_to_the_layout_moves_the_target_and_a_removed_one_does_not_linger() {
    let repo = ConfigRepo::from_project();
    let index_file = format!("{LAYOUT}/index.json");
    let full = repo.read(&index_file);
    // Take v1.16.4 and v1.16.5 out of the layout: the newest left is v1.15.5.
    let mut v: Value = serde_json::from_str(&full).unwrap();
    v["manifests"].as_array_mut().unwrap().retain(|m| {
        !m["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap()
            .starts_with("v1.16")
    });
    repo.write(&index_file, &v.to_string());
    let (run, out) = plan(&repo, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(entry(&out)["target"], "v1.15.5");
    // Put them back (a newer chart copied into the mirror): the target moves.
    repo.write(&index_file, &full);
    let (run, out) = plan(&repo, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(entry(&out)["target"], "v1.16.5");
}

#[test]
fn a_tampered_chart_layer_is_not_taken_and_the_next_version_is() {
    let repo = ConfigRepo::from_project();
    let manifest_digest = repo
        .layout_digest(LAYOUT, "v1.16.5")
        .trim_start_matches("sha256:")
        .to_string();
    let manifest: Value =
        serde_json::from_str(&repo.read(&format!("{LAYOUT}/blobs/sha256/{manifest_digest}")))
            .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let blob = repo.path().join(format!("{LAYOUT}/blobs/sha256/{layer}"));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes.push(0);
    let tampered = sha(&bytes);
    std::fs::write(&blob, bytes).unwrap();

    let before = repo.files();
    let (run, v) = plan(&repo, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let e = entry(&v);
    assert_eq!(e["target"], "v1.16.4", "{e}");
    let skipped = e["skipped"].to_string();
    // Both digests are named.
    assert!(
        skipped.contains("v1.16.5")
            && skipped.contains(&format!("expected sha256:{layer}"))
            && skipped.contains(&format!("sha256:{tampered}")),
        "{skipped}"
    );
    assert!(
        run.stderr.contains("cert-manager v1.16.5"),
        "{}",
        run.stderr
    );
    assert_eq!(before, repo.files(), "nothing is written");
}

#[test]
fn a_tag_that_is_not_a_helm_chart_is_set_apart_with_the_reason() {
    let repo = ConfigRepo::from_project();
    // v1.17.0: a container image's manifest (config of an image), tagged like a version.
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let cfg = sha(config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{cfg}"), "size": config.len()},
        "layers": []
    })
    .to_string();
    let m = sha(manifest.as_bytes());
    repo.write(
        &format!("{LAYOUT}/blobs/sha256/{cfg}"),
        std::str::from_utf8(config).unwrap(),
    );
    repo.write(&format!("{LAYOUT}/blobs/sha256/{m}"), &manifest);
    let index_file = format!("{LAYOUT}/index.json");
    let mut index: Value = serde_json::from_str(&repo.read(&index_file)).unwrap();
    index["manifests"].as_array_mut().unwrap().push(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{m}"),
        "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "v1.17.0"}
    }));
    repo.write(&index_file, &index.to_string());

    let (run, v) = plan(&repo, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let e = entry(&v);
    assert_eq!(e["target"], "v1.16.5", "{e}");
    let skipped = e["skipped"].to_string();
    assert!(
        skipped.contains("v1.17.0") && skipped.contains("is not a Helm chart"),
        "{skipped}"
    );
}

#[test]
fn a_pinned_digest_that_upstream_no_longer_serves_fails_the_addon_and_only_it() {
    let repo = ConfigRepo::from_project();
    repo.edit(
        "bundles/cert-manager/bundle.yaml",
        "digest: sha256:d9b1",
        "digest: sha256:0000",
    );
    let run = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(["validate"])
        .repo(repo.path())
        .with_schemas()
        .run();
    assert_eq!(run.code, 1, "{}", run.stdout);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("cert-manager v1.14.7 from oci://quay.io/jetstack/charts/cert-manager: the bundle pins digest sha256:0000")
            && all.contains("but that version is sha256:d9b1"),
        "{all}"
    );
    // The other addons were validated too.
    assert!(all.contains("4 bundles"), "{all}");
}

#[test]
fn charts_pushed_with_helm_to_a_registry_with_auth_are_planned_through_an_oci_mirror() {
    let registry = Registry::start();
    let repo = mirrored_to(&registry.oci("jetstack"));
    // Pushed here, the manifests are not the layout's (Helm stamps a creation time): the pin
    // keeps its version and drops the layout's digest.
    repo.pin("cert-manager", "v1.14.7");
    let tgz = charts(&repo, &["v1.14.7", "v1.15.5", "v1.16.5"]);
    let paths: Vec<&Path> = tgz.iter().map(PathBuf::as_path).collect();
    registry.push(&helm(), "jetstack", &paths);
    let auth = registry.auth_file();

    // Credentials from a Docker-style config (`auths`), as `docker login` writes them.
    let docker = tempfile::tempdir().unwrap();
    std::fs::copy(&auth, docker.path().join("config.json")).unwrap();
    let (run, v) = plan(&repo, &[("DOCKER_CONFIG", docker.path().to_str().unwrap())]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let e = entry(&v);
    assert_eq!(e["target"], "v1.16.5", "{e}");
    assert!(e["target_digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(!run.stderr.contains(ake_bot_testkit::registry::PASSWORD));

    // The same from REGISTRY_AUTH_FILE, and from the environment.
    let (run, _) = plan(&repo, &[("REGISTRY_AUTH_FILE", auth.to_str().unwrap())]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (run, _) = plan(
        &repo,
        &[
            ("AKE_BOT_REGISTRY_HOST", &registry.host),
            ("AKE_BOT_REGISTRY_USERNAME", ake_bot_testkit::registry::USER),
            (
                "AKE_BOT_REGISTRY_PASSWORD",
                ake_bot_testkit::registry::PASSWORD,
            ),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Credentials for another host are not sent here.
    let (run, v) = plan(
        &repo,
        &[
            ("AKE_BOT_REGISTRY_HOST", "registry.example"),
            ("AKE_BOT_REGISTRY_USERNAME", ake_bot_testkit::registry::USER),
            (
                "AKE_BOT_REGISTRY_PASSWORD",
                ake_bot_testkit::registry::PASSWORD,
            ),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let problems = v["problems"].to_string();
    assert!(
        problems.contains("cert-manager")
            && problems.contains(&registry.oci("jetstack/cert-manager"))
            && problems.contains("HTTP 401")
            && problems.contains("docker login"),
        "{problems}"
    );
}

#[test]
fn without_credentials_the_addon_fails_with_one_line_and_nothing_is_written() {
    let registry = Registry::start();
    let repo = mirrored_to(&registry.oci("jetstack"));
    let tgz = charts(&repo, &["v1.14.7"]);
    registry.push(&helm(), "jetstack", &[tgz[0].as_path()]);
    let before = repo.files();
    let run = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(["sync", "--dry-run"])
        .repo(repo.path())
        .run();
    assert_eq!(run.code, 1, "{}", run.stdout);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert!(
        !errors.is_empty()
            && errors.iter().all(|l| l.contains("cert-manager"))
            && errors[0].contains("HTTP 401"),
        "{}",
        run.stderr
    );
    // Never "no versions": the plan does not call it up to date.
    assert!(!run
        .stdout
        .contains("cert-manager             main           k8s 1.33  up to date"));
    // The other addons went on.
    assert!(
        run.stdout.contains("argo-cd                  main"),
        "{}",
        run.stdout
    );
    assert_eq!(before, repo.files());
}

// --- a scripted registry -------------------------------------------------------------------

fn bundle_for(reference: &str) -> config::Bundle {
    let text = format!(
        "source:\n  oci: {reference}\nversion: 1.0.0\nallowed: \">=1.0.0\"\nnamespace: demo\ndeploy_to: tenant\n"
    );
    config::parse_bundle(Path::new("bundles/demo"), &text, &|_| false).unwrap()
}

fn fetcher(cache: &Path) -> Fetcher {
    Fetcher::new(Mirrors::default(), cache.to_path_buf())
        .unwrap()
        .with_retry_base(Duration::from_millis(10))
        .with_timeout(Duration::from_secs(5))
}

/// A registry on wiremock serving `demo` 1.0.0 (and `tags`), behind an anonymous bearer token.
async fn scripted(tags: Vec<String>) -> MockServer {
    let server = MockServer::start().await;
    let chart = ake_bot_testkit::chart_archive("demo", "demo", "1.0.0");
    let config = br#"{"name":"demo","version":"1.0.0","appVersion":"2.0","kubeVersion":">=1.20.0-0","apiVersion":"v2"}"#;
    let manifest = json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": format!("sha256:{}", sha(config)), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": format!("sha256:{}", sha(&chart)), "size": chart.len()}]
    })
    .to_string();
    let realm = format!("{}/token", server.uri());
    // Every registry call needs the token; the token service hands it out anonymously.
    Mock::given(method("GET"))
        .and(path("/token"))
        .and(query_param("scope", "repository:charts/demo:pull"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "t0ken"})))
        .mount(&server)
        .await;
    let authorized = |r: &Request| {
        r.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer t0ken")
    };
    let challenge = format!(
        "Bearer realm=\"{realm}\",service=\"scripted\",scope=\"repository:charts/demo:pull\""
    );
    let (m_digest, m_body) = (sha(manifest.as_bytes()), manifest.clone());
    let (c_digest, c_body) = (sha(config), config.to_vec());
    let (l_digest, l_body) = (sha(&chart), chart.clone());
    let tags = std::sync::Arc::new(tags);
    Mock::given(method("GET"))
        .respond_with(move |r: &Request| {
            if !authorized(r) {
                return ResponseTemplate::new(401)
                    .insert_header("www-authenticate", challenge.as_str());
            }
            let p = r.url.path();
            if p == "/v2/charts/demo/tags/list" {
                // Pages of `n`, after `last`, with a Link to the next page.
                let n: usize = r
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "n")
                    .map_or(100, |(_, v)| v.parse().unwrap());
                let last = r
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "last")
                    .map(|(_, v)| v.to_string());
                let start = last.map_or(0, |l| tags.iter().position(|t| *t == l).unwrap() + 1);
                let page: Vec<&String> = tags.iter().skip(start).take(n).collect();
                let mut resp = ResponseTemplate::new(200)
                    .set_body_json(json!({"name": "charts/demo", "tags": page}));
                if start + n < tags.len() {
                    let link = format!(
                        "</v2/charts/demo/tags/list?last={}&n={n}>; rel=\"next\"",
                        page.last().unwrap()
                    );
                    resp = resp.insert_header("link", link.as_str());
                }
                return resp;
            }
            if p == "/v2/charts/demo/manifests/1.0.0"
                || p == format!("/v2/charts/demo/manifests/sha256:{m_digest}")
            {
                return ResponseTemplate::new(200)
                    .insert_header(
                        "docker-content-digest",
                        format!("sha256:{m_digest}").as_str(),
                    )
                    .set_body_raw(m_body.clone(), "application/vnd.oci.image.manifest.v1+json");
            }
            if p == format!("/v2/charts/demo/blobs/sha256:{c_digest}") {
                return ResponseTemplate::new(200).set_body_bytes(c_body.clone());
            }
            if p == format!("/v2/charts/demo/blobs/sha256:{l_digest}") {
                return ResponseTemplate::new(200).set_body_bytes(l_body.clone());
            }
            ResponseTemplate::new(404)
        })
        .mount(&server)
        .await;
    server
}

fn reference(server: &MockServer) -> String {
    // A loopback registry is spoken to over plain HTTP, as Docker and Helm do.
    format!("oci://{}/charts/demo", server.address())
}

#[tokio::test]
async fn an_anonymous_bearer_token_is_fetched_and_ten_thousand_tags_are_paged() {
    // 10,000 tags, nearly all of them not versions (signatures, builds): paged, kept as tags.
    let mut tags: Vec<String> = (0..9_999).map(|i| format!("sha256-{i:064}.sig")).collect();
    tags.insert(5_000, "1.0.0".into());
    let server = scripted(tags).await;
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let b = bundle_for(&reference(&server));
    let found = upstream::releases(&f, &b).await.unwrap();
    let versions: Vec<String> = found
        .releases
        .releases
        .iter()
        .map(|r| r.version.to_string())
        .collect();
    assert_eq!(versions, ["1.0.0"]);
    let r = &found.releases.releases[0];
    assert_eq!(r.entry.app_version.as_deref(), Some("2.0"));
    assert_eq!(r.entry.kube_version.as_deref(), Some(">=1.20.0-0"));
    let pages = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/tags/list") && r.headers.contains_key("authorization"))
        .count();
    assert_eq!(pages, 10, "1,000 tags a page");
    // Choosing read no chart layer; rendering does, checked against its digest.
    let layer_reads = |reqs: &[Request]| {
        reqs.iter()
            .filter(|r| r.url.path().contains("/blobs/"))
            .count()
    };
    assert_eq!(
        layer_reads(&server.received_requests().await.unwrap()),
        1,
        "the config blob only"
    );
    let archive = f.oci_archive(&reference(&server), &r.entry).await.unwrap();
    assert!(archive.starts_with(cache.path()));
}

async fn failing(status: u16, headers: &[(&str, &str)]) -> MockServer {
    let server = MockServer::start().await;
    let mut t = ResponseTemplate::new(status).set_body_string("{}");
    for (k, v) in headers {
        t = t.insert_header(*k, *v);
    }
    Mock::given(method("GET"))
        .respond_with(t)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn every_registry_failure_is_one_error_naming_the_reference_and_the_cause() {
    for (status, headers, says) in [
        (403, vec![], "HTTP 403; give credentials"),
        (404, vec![], "HTTP 404: no such repository or tag"),
        (500, vec![], "HTTP 500: the registry failed"),
        (
            429,
            vec![("retry-after", "1")],
            "HTTP 429: rate-limited, retry after 1s",
        ),
        (
            429,
            vec![("retry-after", "3600")],
            "HTTP 429: rate-limited, retry after 3600s",
        ),
        (
            401,
            vec![("www-authenticate", "Basic realm=\"x\"")],
            "HTTP 401 (it needs credentials)",
        ),
    ] {
        let server = failing(status, &headers).await;
        let cache = tempfile::tempdir().unwrap();
        let b = bundle_for(&reference(&server));
        let started = std::time::Instant::now();
        let err = upstream::releases(&fetcher(cache.path()), &b)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with(&reference(&server)), "{err}");
        assert!(err.contains(says), "{status}: {err}");
        let tries = server.received_requests().await.unwrap().len();
        match (status, headers.first().map(|h| h.1)) {
            // Retried, after the wait the registry asked for.
            (429, Some("1")) => {
                assert_eq!(tries, 3, "{err}");
                assert!(started.elapsed() >= Duration::from_secs(2));
            }
            // A wait longer than any run should sleep is not waited out.
            (429, _) => assert_eq!(tries, 1, "{err}"),
            (500, _) => assert_eq!(tries, 3, "{err}"),
            (401, _) => assert_eq!(tries, 1, "no credentials to answer the challenge with"),
            _ => assert_eq!(tries, 1, "{err}"),
        }
        assert!(
            std::fs::read_dir(cache.path()).unwrap().next().is_none(),
            "nothing cached"
        );
    }
}

#[tokio::test]
async fn a_registry_that_lies_about_a_manifest_digest_is_refused_naming_both() {
    let server = scripted(vec!["1.0.0".into()]).await;
    // Ask for the manifest by a digest it does not have: the scripted registry serves the real
    // one for any known path, so use the real path with a wrong Docker-Content-Digest instead.
    let lying = MockServer::start().await;
    let real = reqwest::Client::new();
    let token = "Bearer t0ken";
    let body = real
        .get(format!("{}/v2/charts/demo/manifests/1.0.0", server.uri()))
        .header("authorization", token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let claimed = "sha256:".to_string() + &"ab".repeat(32);
    Mock::given(method("GET"))
        .and(path("/v2/charts/demo/tags/list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tags": ["1.0.0"]})))
        .mount(&lying)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/charts/demo/manifests/1.0.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("docker-content-digest", claimed.as_str())
                .set_body_bytes(body.to_vec()),
        )
        .mount(&lying)
        .await;
    let cache = tempfile::tempdir().unwrap();
    let b = bundle_for(&reference(&lying));
    let found = upstream::releases(&fetcher(cache.path()), &b)
        .await
        .unwrap();
    assert!(found.releases.releases.is_empty());
    let why = &found.releases.unusable[0].reason;
    assert!(
        why.contains(&format!("expected {claimed}")) && why.contains(&sha(&body)),
        "{why}"
    );
}
