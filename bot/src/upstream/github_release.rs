//! Upstream source kind "GitHub release assets": addons that ship no Helm chart, only a
//! manifest attached to each GitHub release (Gateway API's `standard-install.yaml`,
//! metrics-server's `components.yaml`, …).
//!
//! Two places to read releases from, with one interface ([`ReleaseLocation`]):
//!
//! - **The REST API** ([`GithubReleases`]): `GET /repos/{owner}/{name}/releases`, every page
//!   (following `Link: rel="next"`, at most [`MAX_PAGES`]), and the asset's API URL with
//!   `Accept: application/octet-stream`, which GitHub answers with a redirect to its storage.
//! - **A mirror directory** ([`read_mirror`]): `releases.json` (what the list-releases API
//!   returns, or just the fields read here) and `<tag>/<asset name>` files.
//!
//! Upstream bytes are trusted no further than they can be checked: an asset is used only if its
//! sha256 matches GitHub's `digest` for it or, when GitHub reports none, the line for it in the
//! release's checksum asset. A release that cannot be used (no asset matching the pattern,
//! several, nothing to verify against) is listed apart with the reason, so the caller can take
//! the next one; an unreachable or failing API is an error, never "no releases".
//!
//! The token goes only with requests under the API base URL (same scheme, host, port, and path
//! prefix). Redirects are followed here, not by reqwest, so each hop is judged by that rule:
//! GitHub's storage URLs are pre-signed and get no token (reqwest's own rule, "strip on another
//! host", would hand it to a storage path on the API's host, as GitHub Enterprise serves it).

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::retry::Next;

/// The largest asset (or checksum file) read: static manifests are a few MB; a hostile or
/// mistaken release must not exhaust memory.
pub const MAX_ASSET_BYTES: u64 = 64 << 20;
/// The largest page of the release list read (100 releases with many assets are ~1 MB).
const MAX_PAGE_BYTES: u64 = 16 << 20;
/// Pages of 100 releases read at most: 5,000 releases, far beyond any real project, while a
/// server that keeps sending `rel="next"` cannot keep a run busy forever.
pub const MAX_PAGES: usize = 50;
/// Attempts per request, the first included.
const ATTEMPTS: u32 = 3;
/// A wait the server asks for (`Retry-After`, rate limits) longer than this is not waited
/// out: the run fails that source with a clear message and the next scheduled run retries.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// Redirect hops followed per request (GitHub uses one).
const MAX_REDIRECTS: usize = 5;
/// The wait assumed when GitHub rate-limits without saying how long (its docs: "at least one
/// minute").
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// A bundle's source: a manifest attached to each GitHub release of `repo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubReleaseSource {
    /// `owner/name` of the repository.
    pub repo: String,
    /// The asset's exact name, or a glob (`*`: any run of characters, `?`: one) that must match
    /// exactly one asset of a release.
    pub asset: String,
    /// Name or glob of a checksum asset in `sha256sum` format (`<hex>  <name>`, `<hex> *<name>`,
    /// or one bare `<hex>`), used when GitHub reports no digest for the asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// Whether pre-releases are listed. Drafts never are.
    #[serde(default)]
    pub prerelease: bool,
}

impl GithubReleaseSource {
    /// `(owner, name)`, checked to be a plausible GitHub repository: the parts go into API
    /// paths, so nothing that could change the path (`/`, `..`, `?`, `%`) gets through.
    pub fn owner_name(&self) -> Result<(&str, &str), GithubReleaseError> {
        let bad = |cause: &str| GithubReleaseError::BadSource {
            what: self.repo.clone(),
            cause: cause.to_string(),
        };
        let (owner, name) = self
            .repo
            .split_once('/')
            .ok_or_else(|| bad("the repository must be written owner/name"))?;
        let valid = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !valid(owner) || !valid(name) {
            return Err(bad(
                "the repository must be written owner/name (letters, digits, '-', '_', '.')",
            ));
        }
        if self.asset.trim().is_empty() {
            return Err(bad("the asset name or pattern is empty"));
        }
        if self
            .checksum
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(bad("the checksum asset name or pattern is empty"));
        }
        Ok((owner, name))
    }
}

/// Where a file of a release is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blob {
    /// The asset's API URL (`…/releases/assets/<id>`), fetched as `application/octet-stream`.
    Api(String),
    /// A file in a mirror directory.
    File(PathBuf),
}

/// A checksum asset of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumAsset {
    pub name: String,
    pub from: Blob,
}

/// The asset a source names, in one usable release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseAsset {
    /// `owner/name`.
    pub repo: String,
    /// The release's tag: the version the bundle pins.
    pub tag: String,
    pub prerelease: bool,
    /// As GitHub reports it (RFC 3339), if it does.
    pub published_at: Option<String>,
    /// The asset's name (what the source's pattern matched).
    pub name: String,
    /// Its size in bytes, as reported.
    pub size: u64,
    /// Lower-case hex sha256 from GitHub's `digest` (`sha256:<hex>`); `None` when GitHub
    /// reports none (assets uploaded before it computed them) or another algorithm.
    pub digest: Option<String>,
    /// Where its bytes are.
    pub from: Blob,
    /// The checksum asset, when the source names one and the release has exactly one match.
    pub checksum: Option<ChecksumAsset>,
}

impl ReleaseAsset {
    /// `owner/name tag asset`, how errors name it.
    pub fn what(&self) -> String {
        format!("{} {} {}", self.repo, self.tag, self.name)
    }
}

/// A release that cannot be used, and why (one line naming the release).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableRelease {
    pub tag: String,
    pub reason: String,
}

/// The releases of a source: usable ones in the source's order (GitHub's: newest first; sort
/// by version to choose), and the unusable ones apart. Drafts, and pre-releases unless the
/// source takes them, are in neither.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    pub assets: Vec<ReleaseAsset>,
    pub unusable: Vec<UnusableRelease>,
}

/// Why release assets could not be listed or used. Every message is one line starting with
/// `what`: the repository, and the tag and asset when known (`owner/name v1.2.1 x.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GithubReleaseError {
    #[error("{what}: invalid source: {cause}")]
    BadSource { what: String, cause: String },
    #[error("cannot build an HTTP client: {cause}")]
    Client { cause: String },
    #[error("{what}: cannot reach {url}: {cause}")]
    Unreachable {
        what: String,
        url: String,
        cause: String,
    },
    #[error("{what}: repository {repo} not found (or not visible to this token)")]
    RepoNotFound { what: String, repo: String },
    #[error("{what}: {url} answered HTTP {status}: {cause}")]
    Status {
        what: String,
        url: String,
        status: u16,
        cause: String,
    },
    #[error("{what}: rate limited by GitHub (HTTP {status} from {url}){detail}")]
    RateLimited {
        what: String,
        url: String,
        status: u16,
        /// What was waited and why the run gave up.
        detail: String,
    },
    #[error("{what}: bad JSON from {url}: {cause}")]
    BadJson {
        what: String,
        url: String,
        cause: String,
    },
    #[error("{what}: {url} is larger than {limit} bytes; refusing to read it")]
    TooLarge {
        what: String,
        url: String,
        limit: u64,
    },
    #[error("{what}: more than {pages} pages of releases ({url} still says there is a next one); refusing to read further")]
    TooManyPages {
        what: String,
        url: String,
        pages: usize,
    },
    #[error("{what}: refusing {url}: {why}")]
    BadUrl {
        what: String,
        url: String,
        why: String,
    },
    #[error("{what}: sha256 mismatch: {expected_from} says {expected}, the downloaded bytes are {actual}")]
    DigestMismatch {
        what: String,
        /// "GitHub's digest" or "the checksum file <name>".
        expected_from: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: the checksum file {checksum} has no line for {asset}")]
    ChecksumMissing {
        what: String,
        checksum: String,
        asset: String,
    },
    #[error("{what}: the checksum file {checksum} cannot be used: {cause}")]
    BadChecksum {
        what: String,
        checksum: String,
        cause: String,
    },
    #[error("{what}: no digest and no checksum asset: cannot verify")]
    Unverifiable { what: String },
    #[error("{what}: mirror {path}: {cause}")]
    Mirror {
        what: String,
        path: PathBuf,
        cause: String,
    },
}

impl GithubReleaseError {
    /// This release's asset cannot be used (it is not what upstream says, or cannot be
    /// checked): another release may still be, unlike an unreachable source.
    pub fn is_unusable_release(&self) -> bool {
        matches!(
            self,
            GithubReleaseError::DigestMismatch { .. }
                | GithubReleaseError::ChecksumMissing { .. }
                | GithubReleaseError::BadChecksum { .. }
                | GithubReleaseError::Unverifiable { .. }
                | GithubReleaseError::TooLarge { .. }
        )
    }

    /// Append a note to the cause (what the retries did).
    fn noted(mut self, note: &str) -> Self {
        match &mut self {
            GithubReleaseError::Unreachable { cause, .. }
            | GithubReleaseError::Status { cause, .. } => {
                cause.push_str(note);
            }
            GithubReleaseError::RateLimited { detail, .. } => detail.push_str(note),
            _ => {}
        }
        self
    }
}

/// Where a source's releases are read from: the API or a mirror, listed and downloaded alike.
#[derive(Debug)]
pub enum ReleaseLocation {
    Api(GithubReleases),
    /// A mirror of one repository's releases (see [`read_mirror`]).
    Dir(PathBuf),
}

impl ReleaseLocation {
    /// The source's releases (see [`GithubReleases::list`] and [`read_mirror`]).
    pub async fn list(&self, src: &GithubReleaseSource) -> Result<Listing, GithubReleaseError> {
        match self {
            ReleaseLocation::Api(api) => api.list(src).await,
            ReleaseLocation::Dir(dir) => {
                let (d, s) = (dir.clone(), src.clone());
                tokio::task::spawn_blocking(move || read_mirror(&d, &s))
                    .await
                    .map_err(|e| GithubReleaseError::Mirror {
                        what: src.repo.clone(),
                        path: dir.clone(),
                        cause: format!("reading task failed: {e}"),
                    })?
            }
        }
    }

    /// The asset's bytes, verified (see [`GithubReleases::download`]).
    pub async fn download(&self, a: &ReleaseAsset) -> Result<Vec<u8>, GithubReleaseError> {
        match self {
            ReleaseLocation::Api(api) => api.download(a).await,
            ReleaseLocation::Dir(_) => download_from_mirror(a).await,
        }
    }
}

/// The GitHub REST API, for release listing and asset downloads.
#[derive(Clone)]
pub struct GithubReleases {
    client: reqwest::Client,
    /// Always ends with `/`, so relative paths join under it (GitHub Enterprise's `/api/v3/`).
    api_base: url::Url,
    /// Never printed: `Debug` redacts it, and no error carries it.
    token: Option<String>,
    timeout: Duration,
    retry_base: Duration,
    max_wait: Duration,
    /// The largest asset downloaded ([`MAX_ASSET_BYTES`] unless set lower).
    max_asset_bytes: u64,
}

impl std::fmt::Debug for GithubReleases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubReleases")
            .field("api_base", &self.api_base.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A response body, read within its limit.
struct Fetched {
    bytes: Vec<u8>,
    /// The `Link` header, for paging.
    link: Option<String>,
    /// Where the body came from, after redirects.
    url: url::Url,
}

/// A failed attempt, and whether another could help.
struct Failed {
    err: GithubReleaseError,
    next: Next,
}

impl Failed {
    fn stop(err: GithubReleaseError) -> Failed {
        Failed {
            err,
            next: Next::Stop,
        }
    }
}

/// What is being fetched, for errors: a 404 means "no such repository" for a listing and
/// "no such asset" for a download.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    List,
    Asset,
}

impl GithubReleases {
    /// A client for the API at `api_base` (`https://api.github.com`, or GitHub Enterprise's
    /// `https://host/api/v3`). `token`, if any, goes only with requests under `api_base`;
    /// `timeout` bounds each request (connect, headers and body).
    pub fn new(
        api_base: &str,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<Self, GithubReleaseError> {
        let mut base = url::Url::parse(api_base).map_err(|e| GithubReleaseError::Client {
            cause: format!("the API URL {api_base:?} is not a URL: {e}"),
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(GithubReleaseError::Client {
                cause: format!("the API URL {api_base:?} is not an http(s) URL"),
            });
        }
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("ake-bot/", env!("CARGO_PKG_VERSION")))
            // Followed by hand, so the token's rule is applied to every hop.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| GithubReleaseError::Client {
                cause: e.to_string(),
            })?;
        Ok(GithubReleases {
            client,
            api_base: base,
            token: token.filter(|t| !t.trim().is_empty()),
            timeout,
            retry_base: Duration::from_millis(500),
            max_wait: MAX_WAIT,
            max_asset_bytes: MAX_ASSET_BYTES,
        })
    }

    /// Shorter waits between retries (tests).
    pub fn with_retry_base(mut self, base: Duration) -> Self {
        self.retry_base = base;
        self
    }

    /// The longest wait a rate limit or `Retry-After` may ask for before the run gives up.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// A smaller size limit for downloaded assets than [`MAX_ASSET_BYTES`] (never a larger
    /// one: the limit protects the run's memory).
    pub fn with_max_asset_bytes(mut self, limit: u64) -> Self {
        self.max_asset_bytes = limit.min(MAX_ASSET_BYTES);
        self
    }

    /// Every release of `src.repo` (all pages), sorted out into usable assets and unusable
    /// releases. Drafts are never returned, pre-releases only when `src.prerelease`. An error
    /// means the releases could not be read (the repository is unreachable, missing, or
    /// answers nonsense), never that it has none.
    pub async fn list(&self, src: &GithubReleaseSource) -> Result<Listing, GithubReleaseError> {
        let (owner, name) = src.owner_name()?;
        let what = src.repo.as_str();
        let mut url = self
            .api_base
            .join(&format!("repos/{owner}/{name}/releases?per_page=100"))
            .map_err(|e| GithubReleaseError::BadSource {
                what: what.to_string(),
                cause: format!("cannot build the releases URL: {e}"),
            })?;
        let mut releases: Vec<ApiRelease> = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self
                .get(
                    what,
                    &src.repo,
                    url.clone(),
                    "application/vnd.github+json",
                    MAX_PAGE_BYTES,
                    Purpose::List,
                )
                .await?;
            let batch: Vec<ApiRelease> =
                serde_json::from_slice(&page.bytes).map_err(|e| GithubReleaseError::BadJson {
                    what: what.to_string(),
                    url: page.url.to_string(),
                    cause: e.to_string(),
                })?;
            releases.extend(batch);
            let Some(next) = page.link.as_deref().and_then(next_link) else {
                return Ok(self.select_api(src, releases));
            };
            url = page
                .url
                .join(&next)
                .map_err(|e| GithubReleaseError::BadUrl {
                    what: what.to_string(),
                    url: next.clone(),
                    why: format!("the next page's link is not a URL: {e}"),
                })?;
            // The token goes with the next page, so it must stay on the API.
            if !self.is_api_url(&url) {
                return Err(GithubReleaseError::BadUrl {
                    what: what.to_string(),
                    url: url.to_string(),
                    why: format!(
                        "the next page's link leaves the API {}",
                        self.api_base.as_str()
                    ),
                });
            }
        }
        Err(GithubReleaseError::TooManyPages {
            what: what.to_string(),
            url: url.to_string(),
            pages: MAX_PAGES,
        })
    }

    fn select_api(&self, src: &GithubReleaseSource, releases: Vec<ApiRelease>) -> Listing {
        select(src, releases, |_tag, asset| {
            let raw = asset
                .url
                .as_deref()
                .ok_or_else(|| format!("GitHub gave asset {} no API url", asset.name))?;
            let url = url::Url::parse(raw).map_err(|e| {
                format!(
                    "the API url {raw:?} of asset {} is invalid: {e}",
                    asset.name
                )
            })?;
            // The download sends the token there; an asset URL elsewhere is not GitHub's.
            if !self.is_api_url(&url) {
                return Err(format!(
                    "the API url {raw} of asset {} is not under the API {}",
                    asset.name,
                    self.api_base.as_str()
                ));
            }
            Ok(Blob::Api(url.to_string()))
        })
    }

    /// The asset's bytes, verified: against GitHub's digest when it reports one, else against
    /// the line for the asset in the release's checksum asset (fetched the same way); an asset
    /// with neither is refused. At most [`MAX_ASSET_BYTES`]. Assets listed from a mirror are
    /// read from it (and verified alike).
    pub async fn download(&self, a: &ReleaseAsset) -> Result<Vec<u8>, GithubReleaseError> {
        download_with(Some(self), a).await
    }

    /// Whether `u` is under the API base: the only URLs the token is sent to.
    fn is_api_url(&self, u: &url::Url) -> bool {
        let b = &self.api_base;
        u.scheme() == b.scheme()
            && u.host_str() == b.host_str()
            && u.port_or_known_default() == b.port_or_known_default()
            && u.path().starts_with(b.path())
    }

    /// GET `url` with retries: up to [`ATTEMPTS`] on connection errors, timeouts and 5xx;
    /// rate limits (429, or 403 with `x-ratelimit-remaining: 0`) wait as GitHub asks, unless
    /// that is longer than `max_wait`.
    async fn get(
        &self,
        what: &str,
        repo: &str,
        url: url::Url,
        accept: &str,
        limit: u64,
        purpose: Purpose,
    ) -> Result<Fetched, GithubReleaseError> {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let failed = match self
                .get_once(what, repo, url.clone(), accept, limit, purpose)
                .await
            {
                Ok(f) => return Ok(f),
                Err(f) => f,
            };
            let wait = match failed.next {
                Next::Stop => return Err(failed.err),
                Next::Retry => self.retry_base * 2u32.saturating_pow(attempt - 1),
                Next::RetryAfter(d) => d,
            };
            if wait > self.max_wait {
                return Err(failed.err.noted(&format!(
                    "; GitHub asks to wait {} s, longer than the {} s a run waits (the next run retries)",
                    wait.as_secs(),
                    self.max_wait.as_secs()
                )));
            }
            if attempt >= ATTEMPTS {
                return Err(failed.err.noted(&format!(" (after {attempt} attempts)")));
            }
            tracing::warn!(what, attempt, error = %failed.err, wait_ms = wait.as_millis() as u64, "failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt: the request and its redirects, then the body within `limit`.
    async fn get_once(
        &self,
        what: &str,
        repo: &str,
        mut url: url::Url,
        accept: &str,
        limit: u64,
        purpose: Purpose,
    ) -> Result<Fetched, Failed> {
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.client.get(url.clone());
            if self.is_api_url(&url) {
                req = req
                    .header(reqwest::header::ACCEPT, accept)
                    .header("X-GitHub-Api-Version", "2022-11-28");
                if let Some(token) = &self.token {
                    req = req.bearer_auth(token);
                }
            }
            let resp = req.send().await.map_err(|e| Failed {
                err: self.unreachable(what, &url, &e),
                next: Next::Retry,
            })?;
            let status = resp.status();
            if status.is_redirection() {
                url = redirect_target(what, &url, &resp).map_err(Failed::stop)?;
                continue;
            }
            if status.is_success() {
                let link = resp
                    .headers()
                    .get(reqwest::header::LINK)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let bytes = self.read_body(what, &url, resp, limit).await?;
                return Ok(Fetched { bytes, link, url });
            }
            return Err(status_error(what, repo, &url, resp, purpose).await);
        }
        Err(Failed::stop(GithubReleaseError::BadUrl {
            what: what.to_string(),
            url: url.to_string(),
            why: format!("more than {MAX_REDIRECTS} redirects"),
        }))
    }

    async fn read_body(
        &self,
        what: &str,
        url: &url::Url,
        mut resp: reqwest::Response,
        limit: u64,
    ) -> Result<Vec<u8>, Failed> {
        let too_large = || {
            Failed::stop(GithubReleaseError::TooLarge {
                what: what.to_string(),
                url: url.to_string(),
                limit,
            })
        };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > limit {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body),
                Err(e) => {
                    return Err(Failed {
                        err: self.unreachable(what, url, &e),
                        next: Next::Retry,
                    })
                }
            }
        }
    }

    fn unreachable(&self, what: &str, url: &url::Url, e: &reqwest::Error) -> GithubReleaseError {
        let cause = if e.is_timeout() {
            format!("no answer within {} s", self.timeout.as_secs_f32())
        } else {
            // The chain, not just the top ("error sending request"): DNS, refused, TLS, reset.
            crate::error_chain(e)
        };
        GithubReleaseError::Unreachable {
            what: what.to_string(),
            url: url.to_string(),
            cause,
        }
    }
}

/// Where a redirect points, resolved against the request URL: http(s) only, and never from
/// https down to http.
fn redirect_target(
    what: &str,
    from: &url::Url,
    resp: &reqwest::Response,
) -> Result<url::Url, GithubReleaseError> {
    let bad = |url: String, why: String| GithubReleaseError::BadUrl {
        what: what.to_string(),
        url,
        why,
    };
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            bad(
                from.to_string(),
                format!("HTTP {} without a Location", resp.status().as_u16()),
            )
        })?;
    let to = from.join(location).map_err(|e| {
        bad(
            location.to_string(),
            format!("the redirect is not a URL: {e}"),
        )
    })?;
    match (from.scheme(), to.scheme()) {
        ("https", "https") | ("http", "https") | ("http", "http") => Ok(to),
        ("https", "http") => Err(bad(
            to.to_string(),
            "a redirect from https down to plain http".into(),
        )),
        (_, other) => Err(bad(
            to.to_string(),
            format!("a redirect to scheme {other:?} (only http(s) is followed)"),
        )),
    }
}

/// The error for a non-success status, and whether retrying may help.
async fn status_error(
    what: &str,
    repo: &str,
    url: &url::Url,
    resp: reqwest::Response,
    purpose: Purpose,
) -> Failed {
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
    };
    let retry_after = header("retry-after").and_then(|s| s.parse::<u64>().ok());
    let remaining = header("x-ratelimit-remaining");
    let reset = header("x-ratelimit-reset").and_then(|s| s.parse::<u64>().ok());
    // GitHub's error bodies say what is wrong in `message`; keep one line of it, bounded.
    let body = resp.bytes().await.unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .map(|m| {
            m.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>()
        })
        .filter(|m| !m.is_empty());
    let what_s = what.to_string();
    let rate_limited = status == 429
        || (status == 403 && (remaining.as_deref() == Some("0") || retry_after.is_some()));
    if rate_limited {
        let wait = retry_after
            .map(Duration::from_secs)
            .or_else(|| reset.map(until_epoch))
            .unwrap_or(DEFAULT_RATE_LIMIT_WAIT);
        return Failed {
            err: GithubReleaseError::RateLimited {
                what: what_s,
                url: url.to_string(),
                status,
                detail: message.map(|m| format!(": {m}")).unwrap_or_default(),
            },
            next: Next::RetryAfter(wait),
        };
    }
    let said = |default: &str| message.clone().unwrap_or_else(|| default.to_string());
    let (cause, next) = match status {
        404 if purpose == Purpose::List => {
            return Failed::stop(GithubReleaseError::RepoNotFound {
                what: what_s,
                repo: repo.to_string(),
            })
        }
        404 => ("the asset is not there (not found)".to_string(), Next::Stop),
        401 => (
            format!("the token was refused ({})", said("Bad credentials")),
            Next::Stop,
        ),
        403 => (format!("access denied ({})", said("Forbidden")), Next::Stop),
        s if s >= 500 => (
            format!("server error ({})", said("no message")),
            Next::Retry,
        ),
        _ => (said("unexpected answer"), Next::Stop),
    };
    Failed {
        err: GithubReleaseError::Status {
            what: what_s,
            url: url.to_string(),
            status,
            cause,
        },
        next,
    }
}

/// How long until the epoch second `reset` (GitHub's `x-ratelimit-reset`).
fn until_epoch(reset: u64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Duration::from_secs(reset.saturating_sub(now).max(1))
}

/// Download and verify `a`, from the API (with `api`) or a mirror file.
async fn download_with(
    api: Option<&GithubReleases>,
    a: &ReleaseAsset,
) -> Result<Vec<u8>, GithubReleaseError> {
    let what = a.what();
    // Decided before fetching anything: an asset that cannot be verified is never read.
    if a.digest.is_none() && a.checksum.is_none() {
        return Err(GithubReleaseError::Unverifiable { what });
    }
    let bytes = fetch_blob(api, a, &what, &a.from).await?;
    let (expected, expected_from) = match (&a.digest, &a.checksum) {
        (Some(d), _) => (d.clone(), "GitHub's digest".to_string()),
        (None, Some(c)) => {
            let cwhat = format!("{} {} {}", a.repo, a.tag, c.name);
            let raw = fetch_blob(api, a, &cwhat, &c.from).await?;
            let text = String::from_utf8(raw).map_err(|_| GithubReleaseError::BadChecksum {
                what: what.clone(),
                checksum: c.name.clone(),
                cause: "it is not UTF-8 text".into(),
            })?;
            let hex = checksum_for(&text, &a.name)
                .map_err(|cause| GithubReleaseError::BadChecksum {
                    what: what.clone(),
                    checksum: c.name.clone(),
                    cause,
                })?
                .ok_or_else(|| GithubReleaseError::ChecksumMissing {
                    what: what.clone(),
                    checksum: c.name.clone(),
                    asset: a.name.clone(),
                })?;
            (hex, format!("the checksum file {}", c.name))
        }
        (None, None) => return Err(GithubReleaseError::Unverifiable { what }),
    };
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != expected {
        return Err(GithubReleaseError::DigestMismatch {
            what,
            expected_from,
            expected,
            actual,
        });
    }
    Ok(bytes)
}

async fn fetch_blob(
    api: Option<&GithubReleases>,
    a: &ReleaseAsset,
    what: &str,
    from: &Blob,
) -> Result<Vec<u8>, GithubReleaseError> {
    match from {
        Blob::File(path) => read_file_bounded(what, path, MAX_ASSET_BYTES).await,
        Blob::Api(raw) => {
            let Some(api) = api else {
                return Err(GithubReleaseError::BadUrl {
                    what: what.to_string(),
                    url: raw.clone(),
                    why: "the asset was listed from the API, but is read from a mirror".into(),
                });
            };
            let url = url::Url::parse(raw).map_err(|e| GithubReleaseError::BadUrl {
                what: what.to_string(),
                url: raw.clone(),
                why: e.to_string(),
            })?;
            if !api.is_api_url(&url) {
                return Err(GithubReleaseError::BadUrl {
                    what: what.to_string(),
                    url: raw.clone(),
                    why: format!("not under the API {}", api.api_base.as_str()),
                });
            }
            api.get(
                what,
                &a.repo,
                url,
                "application/octet-stream",
                api.max_asset_bytes,
                Purpose::Asset,
            )
            .await
            .map(|f| f.bytes)
        }
    }
}

async fn read_file_bounded(
    what: &str,
    path: &Path,
    limit: u64,
) -> Result<Vec<u8>, GithubReleaseError> {
    let mirror = |cause: String| GithubReleaseError::Mirror {
        what: what.to_string(),
        path: path.to_path_buf(),
        cause,
    };
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| mirror(e.to_string()))?;
    if meta.len() > limit {
        return Err(GithubReleaseError::TooLarge {
            what: what.to_string(),
            url: path.display().to_string(),
            limit,
        });
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| mirror(e.to_string()))
}

/// The asset's bytes from a mirror, verified exactly as a download from the API.
pub async fn download_from_mirror(a: &ReleaseAsset) -> Result<Vec<u8>, GithubReleaseError> {
    download_with(None, a).await
}

/// The releases in the mirror directory `dir` of `src.repo`: `dir/releases.json` (the JSON
/// array GitHub's list-releases API returns; `tag_name`, `draft`, `prerelease`,
/// `published_at` and `assets[].{name, size, digest}` are read) and each asset at
/// `dir/<tag>/<asset name>`. A release whose asset (or needed checksum file) is not in the
/// directory is unusable, not an error: a mirror may hold only some releases. A missing or
/// unreadable `releases.json` is an error.
pub fn read_mirror(dir: &Path, src: &GithubReleaseSource) -> Result<Listing, GithubReleaseError> {
    src.owner_name()?;
    let what = src.repo.as_str();
    let index = dir.join("releases.json");
    let mirror = |cause: String| GithubReleaseError::Mirror {
        what: what.to_string(),
        path: index.clone(),
        cause,
    };
    let meta = std::fs::metadata(&index).map_err(|e| mirror(e.to_string()))?;
    if meta.len() > MAX_PAGE_BYTES * MAX_PAGES as u64 {
        return Err(GithubReleaseError::TooLarge {
            what: what.to_string(),
            url: index.display().to_string(),
            limit: MAX_PAGE_BYTES * MAX_PAGES as u64,
        });
    }
    let text = std::fs::read(&index).map_err(|e| mirror(e.to_string()))?;
    let releases: Vec<ApiRelease> =
        serde_json::from_slice(&text).map_err(|e| GithubReleaseError::BadJson {
            what: what.to_string(),
            url: index.display().to_string(),
            cause: e.to_string(),
        })?;
    Ok(select(src, releases, |tag, asset| {
        let path = mirror_path(dir, tag, &asset.name)?;
        if !path.is_file() {
            return Err(format!(
                "{} is not in the mirror ({})",
                asset.name,
                path.display()
            ));
        }
        Ok(Blob::File(path))
    }))
}

/// `dir/<tag>/<name>`, refusing what would leave `dir`: the tag may hold `/` (tags like
/// `chart/v1.2.0` exist) but no `.`/`..`/empty segment, the name is one plain file name.
fn mirror_path(dir: &Path, tag: &str, name: &str) -> Result<PathBuf, String> {
    let plain = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('\\');
    if !tag.split('/').all(plain) || !plain(name) || name.contains('/') {
        return Err(format!(
            "tag {tag:?} and asset {name:?} do not make a path inside the mirror"
        ));
    }
    let path = dir.join(tag).join(name);
    if path
        .strip_prefix(dir)
        .map(|p| p.components().all(|c| matches!(c, Component::Normal(_))))
        != Ok(true)
    {
        return Err(format!(
            "tag {tag:?} and asset {name:?} do not make a path inside the mirror"
        ));
    }
    Ok(path)
}

/// A release as the list-releases API (or a mirror's `releases.json`) gives it: only the
/// fields used, so a mirror may hold just these.
#[derive(Debug, Deserialize)]
struct ApiRelease {
    tag_name: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    prerelease: bool,
    #[serde(default)]
    published_at: Option<String>,
    #[serde(default)]
    assets: Vec<ApiAsset>,
}

#[derive(Debug, Deserialize)]
struct ApiAsset {
    name: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    digest: Option<String>,
    /// The asset's API URL (absent in a mirror, which does not need it).
    #[serde(default)]
    url: Option<String>,
}

/// Sort releases into usable assets and unusable releases. `locate` says where an asset's bytes
/// are, or why they cannot be had.
fn select(
    src: &GithubReleaseSource,
    releases: Vec<ApiRelease>,
    locate: impl Fn(&str, &ApiAsset) -> Result<Blob, String>,
) -> Listing {
    let mut out = Listing::default();
    let mut seen = std::collections::HashSet::new();
    for r in releases {
        if r.draft || (r.prerelease && !src.prerelease) {
            continue;
        }
        // Paging while releases are published can show one twice; the first (newest) wins.
        if !seen.insert(r.tag_name.clone()) {
            continue;
        }
        match select_one(src, &r, &locate) {
            Ok(a) => out.assets.push(a),
            Err(reason) => out.unusable.push(UnusableRelease {
                tag: r.tag_name.clone(),
                reason,
            }),
        }
    }
    out
}

fn select_one(
    src: &GithubReleaseSource,
    r: &ApiRelease,
    locate: &impl Fn(&str, &ApiAsset) -> Result<Blob, String>,
) -> Result<ReleaseAsset, String> {
    let tag = &r.tag_name;
    let asset =
        match_one(&r.assets, &src.asset, None).map_err(|why| format!("release {tag} {why}"))?;
    let digest = parse_digest(asset.digest.as_deref())
        .map_err(|why| format!("release {tag}: asset {}: {why}", asset.name))?;
    let checksum = match &src.checksum {
        None => None,
        Some(pattern) => match match_one(&r.assets, pattern, Some(&asset.name)) {
            Ok(c) => Some(c),
            // Only needed without a digest; with one, a missing checksum file is harmless.
            Err(_) if digest.is_some() => None,
            Err(why) => {
                return Err(format!(
                    "release {tag}: {} has no digest, and the release {why}: cannot verify it",
                    asset.name
                ))
            }
        },
    };
    if digest.is_none() && checksum.is_none() {
        return Err(format!(
            "release {tag}: {} has no digest and no checksum asset: cannot verify it",
            asset.name
        ));
    }
    let from = locate(tag, asset).map_err(|why| format!("release {tag}: {why}"))?;
    let checksum = match checksum {
        None => None,
        Some(c) => match locate(tag, c) {
            Ok(from) => Some(ChecksumAsset {
                name: c.name.clone(),
                from,
            }),
            Err(_) if digest.is_some() => None,
            Err(why) => return Err(format!("release {tag}: {why}")),
        },
    };
    Ok(ReleaseAsset {
        repo: src.repo.clone(),
        tag: tag.clone(),
        prerelease: r.prerelease,
        published_at: r.published_at.clone(),
        name: asset.name.clone(),
        size: asset.size,
        digest,
        from,
        checksum,
    })
}

/// The one asset matching `pattern` (other than `except`), or why there is not one: the
/// message continues "release v1.2.0 …".
fn match_one<'a>(
    assets: &'a [ApiAsset],
    pattern: &str,
    except: Option<&str>,
) -> Result<&'a ApiAsset, String> {
    let found: Vec<&ApiAsset> = assets
        .iter()
        .filter(|a| Some(a.name.as_str()) != except && glob_match(pattern, &a.name))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("has no asset matching {pattern}")),
        many => Err(format!(
            "has {} assets matching {pattern} ({}): the pattern must name one",
            many.len(),
            many.iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// GitHub's `digest` as lower-case hex: `None` when absent or another algorithm than sha256
/// (then the checksum asset is the way to verify); an error when it claims sha256 but is not
/// 64 hex digits.
fn parse_digest(digest: Option<&str>) -> Result<Option<String>, String> {
    let Some(d) = digest.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    match d.split_once(':') {
        Some((alg, hex)) if alg.eq_ignore_ascii_case("sha256") => {
            if is_sha256_hex(hex) {
                Ok(Some(hex.to_ascii_lowercase()))
            } else {
                Err(format!(
                    "GitHub's digest {d:?} is not sha256:<64 hex digits>"
                ))
            }
        }
        _ => Ok(None),
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `name` matches `pattern`: `*` any run of characters (also none), `?` exactly one,
/// everything else itself. Without wildcards, only the exact name matches.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Greedy with one backtrack point (the last `*`): linear for the patterns people write.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The sha256 (lower-case hex) a checksum file gives for `name`. Understood: `sha256sum`
/// lines (`<hex>  <name>`, `<hex> *<name>`, also one space), BSD `SHA256 (<name>) = <hex>`,
/// and a file holding one bare `<hex>` (a per-asset `.sha256` file). Names match exactly, after
/// a leading `./`, or by their last path segment. `Ok(None)`: no line for `name`; an error: the
/// lines for it disagree or are not sha256.
pub fn checksum_for(text: &str, name: &str) -> Result<Option<String>, String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if let [only] = lines.as_slice() {
        let word = only.split_whitespace().next().unwrap_or("");
        if word == *only {
            return if is_sha256_hex(word) {
                Ok(Some(word.to_ascii_lowercase()))
            } else {
                Err(format!("its only line {word:?} is not a sha256 digest"))
            };
        }
    }
    let same = |listed: &str| {
        let listed = listed.trim_start_matches("./");
        listed == name || listed.rsplit('/').next() == Some(name)
    };
    let mut found: Option<String> = None;
    for line in lines {
        let (hex, listed) = if let Some(rest) = line.strip_prefix("SHA256 (") {
            match rest.rsplit_once(") = ") {
                Some((listed, hex)) => (hex.trim(), listed),
                None => continue,
            }
        } else {
            let Some((hex, rest)) = line.split_once(char::is_whitespace) else {
                continue;
            };
            let rest = rest.trim_start();
            (hex, rest.strip_prefix('*').unwrap_or(rest))
        };
        if !same(listed) {
            continue;
        }
        if !is_sha256_hex(hex) {
            return Err(format!(
                "the line for {name} has {hex:?}, not a sha256 digest"
            ));
        }
        let hex = hex.to_ascii_lowercase();
        match &found {
            Some(prev) if *prev != hex => {
                return Err(format!("two lines for {name} disagree ({prev} and {hex})"))
            }
            _ => found = Some(hex),
        }
    }
    Ok(found)
}

/// The `rel="next"` URL of a `Link` header (RFC 8288, as GitHub writes it:
/// `<url>; rel="next", <url>; rel="last"`).
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let target = &after[..end];
        let tail = &after[end + 1..];
        // This link's parameters run to the next link (or the end).
        let params = &tail[..tail.find('<').unwrap_or(tail.len())];
        let is_next = params.split(';').any(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_string());
        }
        rest = tail;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_match("standard-install.yaml", "standard-install.yaml"));
        assert!(!glob_match(
            "standard-install.yaml",
            "experimental-install.yaml"
        ));
        assert!(!glob_match("install.yaml", "standard-install.yaml"));
        assert!(glob_match("*-install.yaml", "standard-install.yaml"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*.yaml", ".yaml"));
        assert!(glob_match("a*b*c", "aXXbYYbc"));
        assert!(!glob_match("a*b*c", "aXXbYYb"));
        assert!(glob_match("v?.yaml", "v1.yaml"));
        assert!(!glob_match("v?.yaml", "v12.yaml"));
        assert!(glob_match("**x", "abx"));
        assert!(glob_match("components-v?.*.yaml", "components-v0.7.yaml"));
        // The dot is literal, not a regex wildcard.
        assert!(!glob_match("a.yaml", "abyaml"));
        assert!(glob_match("é?", "éé"), "characters, not bytes");
    }

    const A: &str = "f6bc0b401ff8aade7c874bad691cf95fa8e5bf48008320afc80dcef368812000";
    const B: &str = "926864b90a8b204769b575e604706738b02f58b0ef8ab897298b0b9af1406304";

    #[test]
    fn checksum_files_in_every_common_format() {
        let sums = format!("{A}  standard-install.yaml\n{B} *experimental-install.yaml\n");
        assert_eq!(
            checksum_for(&sums, "standard-install.yaml"),
            Ok(Some(A.into()))
        );
        assert_eq!(
            checksum_for(&sums, "experimental-install.yaml"),
            Ok(Some(B.into()))
        );
        assert_eq!(checksum_for(&sums, "other.yaml"), Ok(None));
        // One bare digest: a per-asset `.sha256` file.
        assert_eq!(
            checksum_for(&format!("{}\n", A.to_uppercase()), "x"),
            Ok(Some(A.into()))
        );
        // Paths and `./` prefixes, CRLF, comments, BSD style.
        let sums = format!("# sums\r\n{A}  ./dist/standard-install.yaml\r\n");
        assert_eq!(
            checksum_for(&sums, "standard-install.yaml"),
            Ok(Some(A.into()))
        );
        let bsd = format!("SHA256 (standard-install.yaml) = {B}\n");
        assert_eq!(
            checksum_for(&bsd, "standard-install.yaml"),
            Ok(Some(B.into()))
        );
        // Not sha256, or contradicting itself: an error, not a silent pass.
        let e = checksum_for("abc123  x.yaml\nabc124  y.yaml", "x.yaml").unwrap_err();
        assert!(e.contains("not a sha256"), "{e}");
        let e = checksum_for(&format!("{A}  x.yaml\n{B}  x.yaml\n"), "x.yaml").unwrap_err();
        assert!(e.contains("disagree"), "{e}");
        assert!(checksum_for("not-hex", "x").is_err());
    }

    #[test]
    fn link_headers_as_github_writes_them() {
        let h = r#"<https://api.github.com/repositories/1/releases?per_page=100&page=1>; rel="prev", <https://api.github.com/repositories/1/releases?per_page=100&page=3>; rel="next", <https://api.github.com/repositories/1/releases?per_page=100&page=5>; rel="last", <https://api.github.com/repositories/1/releases?per_page=100&page=1>; rel="first""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/repositories/1/releases?per_page=100&page=3")
        );
        let last_page = r#"<https://x/r?page=4>; rel="prev", <https://x/r?page=1>; rel="first""#;
        assert_eq!(next_link(last_page), None);
        assert_eq!(next_link(""), None);
        // Unquoted, several relation types, other parameters.
        assert_eq!(
            next_link("<https://x/a?page=2>; title=\"t\"; rel=next").as_deref(),
            Some("https://x/a?page=2")
        );
        assert_eq!(
            next_link(r#"<https://x/b>; rel="last next""#).as_deref(),
            Some("https://x/b")
        );
        assert_eq!(next_link(r#"<https://x/b>; rel="nextish""#), None);
    }

    #[test]
    fn digests_are_sha256_or_nothing() {
        assert_eq!(
            parse_digest(Some(&format!("sha256:{}", A.to_uppercase()))),
            Ok(Some(A.into()))
        );
        assert_eq!(parse_digest(None), Ok(None));
        assert_eq!(parse_digest(Some("sha512:abcd")), Ok(None));
        assert!(parse_digest(Some("sha256:abcd")).is_err());
    }

    #[test]
    fn mirror_paths_stay_inside_the_mirror() {
        let dir = Path::new("/m");
        assert_eq!(
            mirror_path(dir, "v1.2.1", "standard-install.yaml"),
            Ok(PathBuf::from("/m/v1.2.1/standard-install.yaml"))
        );
        assert!(mirror_path(dir, "chart/v1.0.0", "x.yaml").is_ok());
        for (tag, name) in [
            ("..", "x"),
            ("v1/../..", "x"),
            ("v1", "../x"),
            ("/etc", "x"),
            ("v1", "a/b"),
            ("", "x"),
        ] {
            assert!(mirror_path(dir, tag, name).is_err(), "{tag} {name}");
        }
    }

    #[test]
    fn sources_must_name_a_repository() {
        let src = |repo: &str| GithubReleaseSource {
            repo: repo.into(),
            asset: "x.yaml".into(),
            checksum: None,
            prerelease: false,
        };
        assert!(src("kubernetes-sigs/gateway-api").owner_name().is_ok());
        for bad in ["gateway-api", "a/b/c", "../x", "a/..", "a/b?x=1", "a/b%2f"] {
            assert!(src(bad).owner_name().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_token_is_never_printed() {
        let gh = GithubReleases::new(
            "https://api.github.com",
            Some("ghp_secret".into()),
            Duration::from_secs(5),
        )
        .unwrap();
        let shown = format!("{gh:?}");
        assert!(
            !shown.contains("ghp_secret") && shown.contains("redacted"),
            "{shown}"
        );
    }
}
