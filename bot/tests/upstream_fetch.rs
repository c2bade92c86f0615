//! Fetching from a Helm repository over HTTP: the real mirror's index and charts served by a
//! local server. Each index is fetched once per run however many askers; gzip is asked for and
//! decoded; transient failures are retried, permanent ones are not; archives are verified.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::Write;
use std::sync::Arc;

use ake_bot::config::Mirrors;
use ake_bot::upstream::{Fetcher, UpstreamError};
use ake_bot_testkit::mirror_dir;
use wiremock::matchers::{header_regex, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn jetstack(file: &str) -> Vec<u8> {
    std::fs::read(mirror_dir().join("jetstack").join(file)).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn fetcher() -> (Fetcher, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let f = Fetcher::new(Mirrors::default(), cache.path().to_path_buf()).unwrap();
    (
        f.with_retry_base(std::time::Duration::from_millis(5)),
        cache,
    )
}

#[tokio::test]
async fn one_index_fetch_per_run_however_many_askers_and_gzip_is_used() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/charts/index.yaml"))
        .and(header_regex("accept-encoding", "gzip"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .set_body_bytes(gzip(&jetstack("index.yaml"))),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (f, _cache) = fetcher();
    let f = Arc::new(f);
    let repo = format!("{}/charts", server.uri());
    // Three addons × four branches asking at once, as `sync` does.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (f, repo) = (f.clone(), repo.clone());
        tasks.push(tokio::spawn(
            async move { f.index(&repo, "cert-manager").await },
        ));
    }
    for t in tasks {
        let idx = t.await.unwrap().unwrap();
        assert_eq!(idx.releases("cert-manager").releases.len(), 4);
    }
    // `expect(1)` is verified when the server drops.
}

#[tokio::test]
async fn charts_are_verified_and_cached_by_digest() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/charts/index.yaml"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(jetstack("index.yaml")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/charts/cert-manager-v1.16.5.tgz"))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(jetstack("cert-manager-v1.16.5.tgz")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut tampered = jetstack("cert-manager-v1.16.4.tgz");
    tampered[100] ^= 1;
    Mock::given(method("GET"))
        .and(path("/charts/cert-manager-v1.16.4.tgz"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(tampered))
        .mount(&server)
        .await;

    let (f, cache) = fetcher();
    let repo = format!("{}/charts", server.uri());
    let idx = f.index(&repo, "cert-manager").await.unwrap();
    let rel = idx.releases("cert-manager").releases;
    let good = rel.iter().find(|r| r.entry.version == "v1.16.5").unwrap();
    let p1 = f.chart(&repo, &good.entry).await.unwrap();
    let p2 = f.chart(&repo, &good.entry).await.unwrap();
    assert_eq!(p1, p2);
    assert!(
        p1.starts_with(cache.path()),
        "downloaded archives live in the cache"
    );
    assert_eq!(
        std::fs::read(&p1).unwrap(),
        jetstack("cert-manager-v1.16.5.tgz")
    );

    let bad = rel.iter().find(|r| r.entry.version == "v1.16.4").unwrap();
    let err = f.chart(&repo, &bad.entry).await.unwrap_err();
    assert!(matches!(err, UpstreamError::DigestMismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("digest mismatch for cert-manager v1.16.4 from http://"),
        "{err}"
    );
    let cached: Vec<_> = std::fs::read_dir(cache.path().join("charts"))
        .unwrap()
        .collect();
    assert_eq!(cached.len(), 1, "a tampered archive is never cached");
}

#[tokio::test]
async fn server_errors_are_retried_and_not_found_is_not() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/flaky/index.yaml"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/flaky/index.yaml"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(jetstack("index.yaml")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/gone/index.yaml"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let (f, _cache) = fetcher();
    assert!(f
        .index(&format!("{}/flaky", server.uri()), "x")
        .await
        .is_ok());
    let err = f
        .index(&format!("{}/gone", server.uri()), "x")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}/gone/index.yaml answered HTTP 404", server.uri())
    );
}

#[tokio::test]
async fn garbage_and_hostile_indexes_are_clear_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/html/index.yaml"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>login</html>"))
        .mount(&server)
        .await;
    let escaping = "apiVersion: v1\nentries:\n  x:\n  - name: x\n    version: 1.0.0\n    digest: 0000000000000000000000000000000000000000000000000000000000000000\n    urls: [../../etc/passwd]\n";
    Mock::given(method("GET"))
        .and(path("/evil/index.yaml"))
        .respond_with(ResponseTemplate::new(200).set_body_string(escaping))
        .mount(&server)
        .await;
    let (f, _cache) = fetcher();
    let err = f
        .index(&format!("{}/html", server.uri()), "x")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("is not a Helm repository index"),
        "{err}"
    );

    let repo = format!("{}/evil", server.uri());
    let idx = f.index(&repo, "x").await.unwrap();
    let entry = &idx.releases("x").releases[0].entry;
    let err = f.chart(&repo, entry).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("x 1.0.0: the index {repo}/index.yaml points at \"../../etc/passwd\": the path leaves the repository")
    );
}
