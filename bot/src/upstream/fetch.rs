//! Reading indexes and chart archives from upstream or a mirror: HTTP(S) with gzip, or local
//! directories the user declared as mirrors. Each index is fetched once per run, however many
//! bundles and branches ask for it, and concurrent askers wait for the one fetch; its text is
//! kept, and each chart asked about is parsed from it once, keeping only that chart's entries
//! (a whole parsed index takes many times its text's memory).
//!
//! Upstream data is trusted no further than it can be checked: a chart URL from an index may
//! only be http(s) on the index's own scheme (or an upgrade to https) or a path inside the
//! repository, never `file://`; an archive must match the index's sha256 digest *and* be, by
//! its own `Chart.yaml`, the chart and version the entry says — with or without a cache.
//! Every request has a deadline, and retries stop within a bounded total.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::github_release::{GithubReleaseSource, GithubReleases, Listing, ReleaseLocation};
use super::index::{ChartEntry, Index};
use super::oci::{OciChart, OciClient, OciLocation};
use super::UpstreamError;
use crate::config::{Mirrors, Source};
use crate::model::OciReference;
use crate::retry::{Backoff, Next, OutOfTime};

/// Large enough for the biggest public indexes (prometheus-community's is ~25 MB), small
/// enough that a hostile server cannot exhaust memory.
const MAX_INDEX_BYTES: u64 = 256 << 20;
const MAX_CHART_BYTES: u64 = 64 << 20;
const ATTEMPTS: u32 = 3;
/// The default deadline of one upstream request (connect, headers and body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// The GitHub API release-asset sources are read from unless `GITHUB_API_URL` says otherwise.
const GITHUB_API: &str = "https://api.github.com";

type Cell<T> = Arc<OnceCell<Result<Arc<T>, UpstreamError>>>;

/// A failed GET, and whether retrying could help.
struct Failed(UpstreamError, bool);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Fetches upstream data, once per run per index.
pub struct Fetcher {
    client: reqwest::Client,
    mirrors: Mirrors,
    cache_dir: PathBuf,
    /// Each index's text, read once per run.
    index_texts: Mutex<HashMap<Source, Cell<String>>>,
    /// Each (index, chart) asked about, parsed once per run keeping only that chart's entries.
    indexes: Mutex<HashMap<(Source, String), Cell<Index>>>,
    oci: OciClient,
    /// Tags per OCI repository, and charts per (repository, tag): read once per run.
    oci_tags: Mutex<HashMap<OciLocation, Cell<Vec<String>>>>,
    oci_charts: Mutex<HashMap<(OciLocation, String), Cell<OciChart>>>,
    /// The GitHub API for release-asset sources, and each source's listing, once per run.
    github: GithubReleases,
    gh_listings: Mutex<HashMap<GithubReleaseSource, Cell<(String, Listing)>>>,
    /// First retry waits this long, then twice as long.
    retry_base: Duration,
    /// The deadline of one request; all attempts together get two and a half of these, so a
    /// stalled upstream fails its addon within a minute by default.
    timeout: Duration,
}

impl Fetcher {
    /// `cache_dir` holds verified chart archives keyed by digest.
    pub fn new(mirrors: Mirrors, cache_dir: PathBuf) -> Result<Self, UpstreamError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("ake-bot/", env!("CARGO_PKG_VERSION")))
            // Never follow a redirect to another scheme (an https index sending us to http or
            // file): reqwest only follows http(s), and at most 5 hops.
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| UpstreamError::Unreachable {
                url: String::new(),
                cause: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Fetcher {
            oci: OciClient::new(client.clone(), DEFAULT_TIMEOUT, Duration::from_millis(500)),
            oci_tags: Mutex::new(HashMap::new()),
            oci_charts: Mutex::new(HashMap::new()),
            github: GithubReleases::new(GITHUB_API, None, DEFAULT_TIMEOUT).map_err(|e| {
                UpstreamError::Unreachable {
                    url: GITHUB_API.into(),
                    cause: e.to_string(),
                }
            })?,
            gh_listings: Mutex::new(HashMap::new()),
            client,
            mirrors,
            cache_dir,
            index_texts: Mutex::new(HashMap::new()),
            indexes: Mutex::new(HashMap::new()),
            retry_base: Duration::from_millis(500),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The deadline of one request (`--upstream-timeout`).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.oci.timeout = timeout;
        self
    }

    /// Shorter retry waits (tests).
    pub fn with_retry_base(mut self, base: Duration) -> Self {
        self.retry_base = base;
        self.oci.retry_base = base;
        self.github = self.github.with_retry_base(base);
        self
    }

    /// Read release-asset sources from the GitHub API at `api_url` (`GITHUB_API_URL`), with
    /// `token` (sent to that API only; anonymous reads are rate-limited to 60 an hour).
    pub fn with_github(
        mut self,
        api_url: &str,
        token: Option<String>,
    ) -> Result<Self, UpstreamError> {
        self.github =
            GithubReleases::new(api_url, token, self.timeout)?.with_retry_base(self.retry_base);
        Ok(self)
    }

    /// Where the releases of `repo` are read: the API, or the mirror directory declared for
    /// `https://github.com/<repo>`.
    fn release_location(&self, repo: &str) -> Result<ReleaseLocation, UpstreamError> {
        let page = format!("https://github.com/{repo}");
        match self.mirrors.resolve(&page) {
            Source::Dir(d) => Ok(ReleaseLocation::Dir(d)),
            Source::Url(u) if u == page => Ok(ReleaseLocation::Api(self.github.clone())),
            Source::Url(u) => Err(UpstreamError::Unreachable {
                url: page,
                cause: format!("a GitHub release source is mirrored by a directory (releases.json and <tag>/<asset>), not {u}"),
            }),
        }
    }

    /// The releases of a release-asset source and where they were read (once per run).
    pub async fn github_releases(
        &self,
        src: &GithubReleaseSource,
    ) -> Result<(String, Listing), UpstreamError> {
        let cell = {
            let mut map = self
                .gh_listings
                .lock()
                .expect("never poisoned: nothing panics holding it");
            map.entry(src.clone()).or_default().clone()
        };
        cell.get_or_init(|| async {
            let loc = self.release_location(&src.repo)?;
            let where_ = match &loc {
                ReleaseLocation::Api(_) => format!("https://github.com/{}/releases", src.repo),
                ReleaseLocation::Dir(d) => d.display().to_string(),
            };
            Ok(Arc::new((where_, loc.list(src).await?)))
        })
        .await
        .clone()
        .map(|l| (l.0.clone(), l.1.clone()))
    }

    /// The bytes of the asset of release `tag`, verified against GitHub's digest or the
    /// source's checksum asset (from the API or the mirror, as listed).
    pub async fn github_asset(
        &self,
        src: &GithubReleaseSource,
        tag: &str,
    ) -> Result<Vec<u8>, UpstreamError> {
        let (_, listing) = self.github_releases(src).await?;
        let asset = listing
            .assets
            .iter()
            .find(|a| a.tag == tag)
            .ok_or_else(|| UpstreamError::VersionMissing {
                chart: src.asset.clone(),
                version: tag.to_string(),
                index: format!("https://github.com/{}/releases", src.repo),
            })?;
        let loc = self.release_location(&src.repo)?;
        Ok(loc.download(asset).await?)
    }

    /// Where the OCI repository `reference` (`oci://…`) is read, mirrors applied: a registry
    /// (upstream, or the mirror registry an `oci://` mirror names), or an OCI image layout.
    pub fn oci_location(&self, reference: &str) -> Result<OciLocation, UpstreamError> {
        match self.mirrors.resolve(reference) {
            Source::Dir(d) => Ok(OciLocation::Layout(d)),
            Source::Url(u) => OciReference::parse(&u)
                .map(OciLocation::Registry)
                .map_err(|e| UpstreamError::Registry {
                    reference: reference.to_string(),
                    cause: format!("its mirror {u:?} is not an OCI reference: {e}"),
                }),
        }
    }

    /// Every tag of the OCI repository at `loc` (once per run).
    pub async fn oci_tags(&self, loc: &OciLocation) -> Result<Arc<Vec<String>>, UpstreamError> {
        let cell = {
            let mut map = self
                .oci_tags
                .lock()
                .expect("never poisoned: nothing panics holding it");
            map.entry(loc.clone()).or_default().clone()
        };
        cell.get_or_init(|| async { self.oci.tags(loc).await.map(Arc::new) })
            .await
            .clone()
    }

    /// The chart `tag` names at `loc`: manifest digest, chart layer, metadata (once per run).
    pub async fn oci_chart(
        &self,
        loc: &OciLocation,
        tag: &str,
    ) -> Result<Arc<OciChart>, UpstreamError> {
        let cell = {
            let mut map = self
                .oci_charts
                .lock()
                .expect("never poisoned: nothing panics holding it");
            map.entry((loc.clone(), tag.to_string()))
                .or_default()
                .clone()
        };
        cell.get_or_init(|| async { self.oci.chart(loc, tag).await.map(Arc::new) })
            .await
            .clone()
    }

    /// The chart archive of `entry` (from [`Fetcher::oci_chart`]) in the OCI repository
    /// `reference`: the manifest its digest names, then the chart layer, each checked against
    /// its digest, then the archive's own `Chart.yaml` against the entry. Cached by layer
    /// digest.
    pub async fn oci_archive(
        &self,
        reference: &str,
        entry: &ChartEntry,
    ) -> Result<PathBuf, UpstreamError> {
        let loc = self.oci_location(reference)?;
        let chart = format!("{} {}", entry.name, entry.version);
        let digest = super::sha256_digest(entry).ok_or_else(|| UpstreamError::NoDigest {
            chart: chart.clone(),
        })?;
        let cached = self.cache_dir.join("charts").join(format!(
            "oci-{digest}-{}-{}.tgz",
            file_safe(&entry.name),
            file_safe(&entry.version)
        ));
        let source = Source::Url(format!("{loc}@sha256:{digest}"));
        if let Ok(bytes) = tokio::fs::read(&cached).await {
            // The cache is keyed by the manifest's digest; the layer inside is checked again.
            if verify_meta(&bytes, entry, &source).is_ok() {
                return Ok(cached);
            }
        }
        let bytes = self.oci.chart_layer(&loc, &digest, MAX_CHART_BYTES).await?;
        let bytes = checked_meta(bytes, entry, &source).await?;
        cache(&cached, bytes).await?;
        Ok(cached)
    }

    /// Where the index of the repository `repo_url` is read from, mirrors applied.
    pub fn index_source(&self, repo_url: &str) -> Source {
        match self.mirrors.resolve(repo_url) {
            Source::Url(u) => Source::Url(format!("{}/index.yaml", u.trim_end_matches('/'))),
            Source::Dir(d) => Source::Dir(d.join("index.yaml")),
        }
    }

    /// The index of the Helm repository at `repo_url`, parsed for `chart`: it knows every
    /// chart name but holds only `chart`'s entries.
    pub async fn index(&self, repo_url: &str, chart: &str) -> Result<Arc<Index>, UpstreamError> {
        let source = self.index_source(repo_url);
        let cell = {
            let mut map = self
                .indexes
                .lock()
                .expect("index cache lock poisoned only if a fetch panicked");
            map.entry((source.clone(), chart.to_string()))
                .or_default()
                .clone()
        };
        cell.get_or_init(|| async {
            let text = self.index_text(&source).await?;
            let location = source.to_string();
            let chart = chart.to_string();
            // A 4 MB index takes a while to parse: keep it off the async workers.
            tokio::task::spawn_blocking(move || Index::parse_charts(&location, &text, &[&chart]))
                .await
                .map_err(|e| UpstreamError::BadIndex {
                    url: source.to_string(),
                    cause: format!("parser task failed: {e}"),
                })?
                .map(Arc::new)
                .map_err(|e| UpstreamError::BadIndex {
                    url: source.to_string(),
                    cause: e.0,
                })
        })
        .await
        .clone()
    }

    /// The text of the index at `source`, read once per run.
    async fn index_text(&self, source: &Source) -> Result<Arc<String>, UpstreamError> {
        let cell = {
            let mut map = self
                .index_texts
                .lock()
                .expect("index cache lock poisoned only if a fetch panicked");
            map.entry(source.clone()).or_default().clone()
        };
        cell.get_or_init(|| async {
            let bytes = self.read(source, MAX_INDEX_BYTES).await?;
            decode_index(&source.to_string(), bytes).map(Arc::new)
        })
        .await
        .clone()
    }

    /// The chart archive for `entry` from the repository at `repo_url`, verified against the
    /// index digest and against the entry's name and version (the archive's own `Chart.yaml`).
    /// Returns a local path (in the cache, or in a mirror directory).
    pub async fn chart(
        &self,
        repo_url: &str,
        entry: &ChartEntry,
    ) -> Result<PathBuf, UpstreamError> {
        let chart = format!("{} {}", entry.name, entry.version);
        let expected = super::sha256_digest(entry).ok_or_else(|| UpstreamError::NoDigest {
            chart: chart.clone(),
        })?;
        let url = entry
            .urls
            .iter()
            .find(|u| !u.trim().is_empty())
            .ok_or_else(|| UpstreamError::BadIndex {
                url: self.index_source(repo_url).to_string(),
                cause: format!("{chart} has no download URL"),
            })?;
        let source = self.chart_source(repo_url, &chart, url)?;

        // Keyed by digest *and* name and version: an entry that reuses another version's
        // digest finds nothing here, and what it downloads fails the Chart.yaml check.
        let cached = self.cache_dir.join("charts").join(format!(
            "{expected}-{}-{}.tgz",
            file_safe(&entry.name),
            file_safe(&entry.version)
        ));
        if let Ok(bytes) = tokio::fs::read(&cached).await {
            if sha256_hex(&bytes) == expected && verify_meta(&bytes, entry, &source).is_ok() {
                return Ok(cached);
            }
        }
        let bytes = self.read(&source, MAX_CHART_BYTES).await?;
        let actual = sha256_hex(&bytes);
        if actual != expected {
            return Err(UpstreamError::DigestMismatch {
                chart,
                url: source.to_string(),
                expected,
                actual,
            });
        }
        let bytes = checked_meta(bytes, entry, &source).await?;
        if let Source::Dir(path) = &source {
            return Ok(path.clone());
        }
        cache(&cached, bytes).await?;
        Ok(cached)
    }

    /// Resolve a chart URL from an index entry. Absolute URLs must be http(s) on the index's
    /// own scheme (an upgrade to https is fine), then go through mirrors; relative ones are
    /// relative to the repository (that is how `helm repo index` writes them) and must stay
    /// inside it. `file://` and every other scheme are refused: an index is upstream data, and
    /// only mirrors the user declared are read from disk.
    fn chart_source(
        &self,
        repo_url: &str,
        chart: &str,
        url: &str,
    ) -> Result<Source, UpstreamError> {
        let refuse = |why: String| UpstreamError::BadUrl {
            chart: chart.to_string(),
            url: url.to_string(),
            index: self.index_source(repo_url).to_string(),
            why,
        };
        if let Ok(u) = url::Url::parse(url) {
            let index_scheme = url::Url::parse(repo_url)
                .map(|r| r.scheme().to_string())
                .ok();
            return match (u.scheme(), index_scheme.as_deref()) {
                // The parsed form: `..` segments (plain or %2e-encoded) are already resolved,
                // so a mirror directory cannot be escaped through them.
                ("https", _) | ("http", Some("http")) => match self.mirrors.resolve(u.as_str()) {
                    Source::Dir(p)
                        if p.components().any(|c| c == std::path::Component::ParentDir) =>
                    {
                        Err(refuse("the path leaves the mirror".into()))
                    }
                    resolved => Ok(resolved),
                },
                ("http", _) => Err(refuse(
                    "the index is served over https; its charts may not be fetched over plain http".into(),
                )),
                (other, _) => Err(refuse(format!(
                    "scheme {other:?} is not allowed in an index (http or https, or a path relative to the repository)"
                ))),
            };
        }
        let escapes = url.starts_with('/')
            || url.contains('\\')
            || url.contains(':')
            || url.split('/').any(|seg| seg == ".." || seg == ".");
        if escapes {
            return Err(refuse("the path leaves the repository".into()));
        }
        Ok(match self.mirrors.resolve(repo_url) {
            Source::Url(base) => Source::Url(format!("{}/{url}", base.trim_end_matches('/'))),
            Source::Dir(d) => Source::Dir(d.join(url)),
        })
    }

    /// Any file by URL, through the mirrors: `None` when it does not exist (HTTP 404, or no
    /// such file in a mirror directory).
    pub async fn fetch_optional(
        &self,
        url: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, UpstreamError> {
        let source = self.mirrors.resolve(url);
        if let Source::Dir(p) = &source {
            if !p.exists() {
                return Ok(None);
            }
        }
        match self.read(&source, limit).await {
            Ok(b) => Ok(Some(b)),
            Err(UpstreamError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read(&self, source: &Source, limit: u64) -> Result<Vec<u8>, UpstreamError> {
        let url = match source {
            Source::Dir(path) => return read_file(path, limit).await,
            Source::Url(url) => url,
        };
        // Only user-declared mirrors are read from disk (they resolve to `Source::Dir`); any
        // other URL is fetched over http(s) or not at all.
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(UpstreamError::Unreachable {
                url: url.clone(),
                cause: "only http and https URLs are fetched; map local copies with a mirror in branches.toml".into(),
            });
        }
        let total = self.timeout * 5 / 2;
        let backoff = Backoff {
            attempts: ATTEMPTS,
            base: self.retry_base,
            max_wait: Duration::from_secs(60),
        };
        backoff
            .run_timed(
                url,
                total,
                self.timeout,
                || async {
                    self.get_within(url, limit)
                        .await
                        .map_err(|(e, retry)| Failed(e, retry))
                },
                |f: &Failed| if f.1 { Next::Retry } else { Next::Stop },
                |out| match out {
                    OutOfTime::Total => Failed(
                        UpstreamError::Unreachable {
                            url: url.clone(),
                            cause: format!("no answer within {}s in all", total.as_secs()),
                        },
                        false,
                    ),
                    OutOfTime::Attempt => Failed(
                        UpstreamError::Unreachable {
                            url: url.clone(),
                            cause: format!("no complete answer within {}s", self.timeout.as_secs()),
                        },
                        true,
                    ),
                },
            )
            .await
            .map_err(|Failed(e, _)| e)
    }

    /// One GET. The error says whether retrying could help (5xx, timeouts, connection errors,
    /// 429 yes; other 4xx no).
    async fn get_within(&self, url: &str, limit: u64) -> Result<Vec<u8>, (UpstreamError, bool)> {
        let unreachable = |e: reqwest::Error| {
            let retry = e.is_timeout() || e.is_connect() || e.is_request() || e.is_body();
            (
                UpstreamError::Unreachable {
                    url: url.to_string(),
                    cause: crate::error_chain(&e),
                },
                retry,
            )
        };
        let mut resp = self.client.get(url).send().await.map_err(unreachable)?;
        let status = resp.status();
        if !status.is_success() {
            let retry = status.is_server_error() || status.as_u16() == 429;
            return Err((
                UpstreamError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                },
                retry,
            ));
        }
        let too_big = || {
            (
                UpstreamError::TooLarge {
                    url: url.to_string(),
                    limit,
                },
                false,
            )
        };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > limit {
                return Err(too_big());
            }
        }
        Ok(body)
    }
}

pub(super) async fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, UpstreamError> {
    let err = |cause: String| UpstreamError::Unreachable {
        url: path.display().to_string(),
        cause,
    };
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| err(e.to_string()))?;
    if meta.len() > limit {
        return Err(UpstreamError::TooLarge {
            url: path.display().to_string(),
            limit,
        });
    }
    tokio::fs::read(path).await.map_err(|e| err(e.to_string()))
}

/// Indexes are sometimes published gzipped (`index.yaml.gz` mirrors); accept both.
fn decode_index(location: &str, bytes: Vec<u8>) -> Result<String, UpstreamError> {
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .take(MAX_INDEX_BYTES)
            .read_to_end(&mut out)
            .map_err(|e| UpstreamError::BadIndex {
                url: location.to_string(),
                cause: format!("bad gzip data: {e}"),
            })?;
        out
    } else {
        bytes
    };
    String::from_utf8(bytes).map_err(|_| UpstreamError::BadIndex {
        url: location.to_string(),
        cause: "not UTF-8 text".into(),
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `bytes`, once [`verify_meta`] passed (off the async workers: it unpacks the archive).
async fn checked_meta(
    bytes: Vec<u8>,
    entry: &ChartEntry,
    source: &Source,
) -> Result<Vec<u8>, UpstreamError> {
    let (e, s) = (entry.clone(), source.clone());
    tokio::task::spawn_blocking(move || verify_meta(&bytes, &e, &s).map(|()| bytes))
        .await
        .map_err(|err| UpstreamError::BadArchive {
            chart: format!("{} {}", entry.name, entry.version),
            url: String::new(),
            cause: format!("checking task failed: {err}"),
        })?
}

/// Keep a verified archive in the chart cache.
async fn cache(path: &Path, bytes: Vec<u8>) -> Result<(), UpstreamError> {
    crate::fs::write_atomically_async(path, bytes)
        .await
        .map_err(|e| UpstreamError::Cache {
            path: path.to_path_buf(),
            cause: e.to_string(),
        })
}

/// The archive is the chart and version the entry names, by its own `Chart.yaml`.
fn verify_meta(bytes: &[u8], entry: &ChartEntry, source: &Source) -> Result<(), UpstreamError> {
    let chart = format!("{} {}", entry.name, entry.version);
    let meta = super::chart_meta(bytes).map_err(|cause| UpstreamError::BadArchive {
        chart: chart.clone(),
        url: source.to_string(),
        cause,
    })?;
    if meta.name != entry.name || meta.version != entry.version {
        return Err(UpstreamError::ChartMismatch {
            chart,
            url: source.to_string(),
            archive: format!("{} {}", meta.name, meta.version),
        });
    }
    Ok(())
}

/// A name or version from upstream, safe as part of a file name.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}
