//! Charts in OCI registries (`oci://quay.io/jetstack/charts/cert-manager`), read through the
//! OCI distribution API, or from a mirror directory in the OCI image layout (what `oras copy
//! --to-oci-layout` writes).
//!
//! Written on the HTTP client the rest of `upstream` uses rather than on `oci-client`: the bot
//! needs five calls (tags list with paging, manifest, blob, token, and the layout's files), and
//! `oci-client` would add a second reqwest, a C crypto build (aws-lc) and oci-spec's macro
//! crates to every cold build, while hiding `Retry-After` and the statuses this module must
//! report. The protocol parts are small and tested against the CNCF distribution registry.
//!
//! Nothing a registry says is trusted further than it can be checked: a manifest must hash to
//! the digest it was asked by (or the registry claims), a chart layer to its descriptor's
//! digest, and the chart inside to the name and version of its config. Choosing a version
//! reads only manifests and config blobs (`kubeVersion`, `appVersion`), never a chart layer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::index::ChartEntry;
use super::UpstreamError;
use crate::model::OciReference;
use crate::retry::{Backoff, Next, OutOfTime};

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const HELM_CONFIG_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const HELM_CHART_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Charts pushed before Helm 3.7 (and by some tools still) carry this layer type.
const HELM_CHART_TYPE_OLD: &str = "application/tar+gzip";
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST_TYPE: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

const MAX_MANIFEST_BYTES: u64 = 4 << 20;
const MAX_CONFIG_BYTES: u64 = 1 << 20;
const MAX_TAGS_PAGE_BYTES: u64 = 16 << 20;
/// Tags asked for per page; a registry may answer with fewer and a `Link` to the rest.
const TAGS_PAGE: usize = 1000;
/// 1,000 pages of 1,000 tags: far beyond any real chart, and a bound on a hostile registry.
const MAX_TAG_PAGES: usize = 1000;
/// The longest `Retry-After` waited out; a longer one fails the addon (the next run retries).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Where one OCI repository is read: a registry, or an OCI image layout on disk.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OciLocation {
    Registry(OciReference),
    Layout(PathBuf),
}

impl std::fmt::Display for OciLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OciLocation::Registry(r) => r.fmt(f),
            OciLocation::Layout(p) => write!(f, "{} (OCI layout)", p.display()),
        }
    }
}

/// An OCI descriptor (the parts the bot reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    media_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// Helm's config blob: the chart's `Chart.yaml`, as JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HelmConfig {
    name: String,
    version: String,
    #[serde(default)]
    app_version: Option<String>,
    #[serde(default)]
    kube_version: Option<String>,
    #[serde(default)]
    deprecated: bool,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    home: Option<String>,
}

/// One chart version in a registry: its manifest digest, chart layer and metadata.
#[derive(Debug, Clone)]
pub struct OciChart {
    pub tag: String,
    /// The manifest's digest, lower-case hex.
    pub manifest_digest: String,
    /// The chart layer's descriptor.
    pub layer: Descriptor,
    /// The metadata as an index entry would give it (`digest` is the manifest's).
    pub entry: ChartEntry,
}

/// Credentials for one registry. Never printed: `Debug` shows the user name only.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

/// How a registry wants to be authenticated, from its `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
}

/// Reads OCI repositories; one per run, shared by every bundle. Bearer tokens are kept per
/// (registry, repository) for the run.
pub struct OciClient {
    client: reqwest::Client,
    tokens: Mutex<HashMap<(String, String), String>>,
    creds: Mutex<HashMap<String, Option<Credentials>>>,
    pub(super) timeout: Duration,
    pub(super) retry_base: Duration,
}

/// A failed request: the error, and what retrying calls for.
struct Failed(UpstreamError, Next);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl OciClient {
    pub fn new(client: reqwest::Client, timeout: Duration, retry_base: Duration) -> Self {
        OciClient {
            client,
            tokens: Mutex::new(HashMap::new()),
            creds: Mutex::new(HashMap::new()),
            timeout,
            retry_base,
        }
    }

    /// Every tag of the repository, paged through `Link` (`n`, `last`). Only tags are kept,
    /// one page at a time: a registry with 10,000 tags costs ten small pages.
    pub async fn tags(&self, loc: &OciLocation) -> Result<Vec<String>, UpstreamError> {
        match loc {
            OciLocation::Layout(dir) => {
                let index = read_layout_index(dir).await?;
                Ok(index
                    .manifests
                    .iter()
                    .filter_map(|d| d.annotations.get("org.opencontainers.image.ref.name"))
                    .map(|n| layout_tag(n).to_string())
                    .collect())
            }
            OciLocation::Registry(r) => {
                #[derive(Deserialize)]
                struct Page {
                    #[serde(default)]
                    tags: Option<Vec<String>>,
                }
                let mut tags = Vec::new();
                let mut url = format!("{}/tags/list?n={TAGS_PAGE}", api_base(r));
                for _ in 0..MAX_TAG_PAGES {
                    let (body, headers) = self
                        .get(
                            r,
                            &url,
                            "application/json",
                            MAX_TAGS_PAGE_BYTES,
                            "the tags list",
                        )
                        .await?;
                    let page: Page =
                        serde_json::from_slice(&body).map_err(|e| UpstreamError::Registry {
                            reference: r.to_string(),
                            cause: format!("the tags list is not the distribution API's JSON: {e}"),
                        })?;
                    let got = page.tags.unwrap_or_default();
                    let last = got.last().cloned();
                    tags.extend(got);
                    match next_link(&headers, &url) {
                        Some(next) => url = next,
                        None => return Ok(tags),
                    }
                    // A registry that pages without moving on would loop: stop it.
                    if last.is_none() {
                        return Ok(tags);
                    }
                }
                Err(UpstreamError::Registry {
                    reference: r.to_string(),
                    cause: format!(
                        "the tags list goes on past {MAX_TAG_PAGES} pages; refusing to read more"
                    ),
                })
            }
        }
    }

    /// The chart `tag` names: its manifest (checked against its digest) and config blob.
    /// A manifest that is not a Helm chart's is `NotAChart` (the version is unusable, the
    /// others are not).
    pub async fn chart(&self, loc: &OciLocation, tag: &str) -> Result<OciChart, UpstreamError> {
        let (digest, manifest) = self.manifest(loc, tag).await?;
        let not_chart = |cause: String| UpstreamError::NotAChart {
            reference: format!("{loc}:{tag}"),
            cause,
        };
        let media = manifest.media_type.clone().unwrap_or_default();
        if !manifest.manifests.is_empty() || media == INDEX_TYPE || media == DOCKER_LIST_TYPE {
            return Err(not_chart(
                "it is an image index (a multi-platform image), not a Helm chart".into(),
            ));
        }
        let config = manifest
            .config
            .clone()
            .ok_or_else(|| not_chart("the manifest has no config".into()))?;
        if config.media_type != HELM_CONFIG_TYPE {
            return Err(not_chart(format!(
                "its config is {:?}, not {HELM_CONFIG_TYPE} (a container image, not a chart?)",
                config.media_type
            )));
        }
        let layer = chart_layer(&manifest).map_err(not_chart)?;
        let bytes = self.blob(loc, &config, MAX_CONFIG_BYTES).await?;
        let meta: HelmConfig = serde_json::from_slice(&bytes)
            .map_err(|e| not_chart(format!("its Helm config is not chart metadata: {e}")))?;
        let entry = ChartEntry {
            name: meta.name,
            version: meta.version,
            app_version: meta.app_version,
            kube_version: meta.kube_version,
            digest: Some(digest.clone()),
            urls: vec![format!("{loc}:{tag}")],
            annotations: meta.annotations,
            deprecated: meta.deprecated,
            created: None,
            sources: meta.sources,
            home: meta.home,
        };
        Ok(OciChart {
            tag: tag.to_string(),
            manifest_digest: digest,
            layer,
            entry,
        })
    }

    /// The chart layer of the manifest `digest` names, checked against its digest.
    pub async fn chart_layer(
        &self,
        loc: &OciLocation,
        digest: &str,
        limit: u64,
    ) -> Result<Vec<u8>, UpstreamError> {
        let (_, manifest) = self.manifest(loc, &format!("sha256:{digest}")).await?;
        let layer = chart_layer(&manifest).map_err(|cause| UpstreamError::NotAChart {
            reference: format!("{loc}@sha256:{digest}"),
            cause,
        })?;
        self.blob(loc, &layer, limit).await
    }

    /// A manifest by tag or digest: its sha256 (lower-case hex) and content. Asked by digest,
    /// the content must hash to it; asked by tag, to what the registry says it is
    /// (`Docker-Content-Digest`), when it says.
    async fn manifest(
        &self,
        loc: &OciLocation,
        reference: &str,
    ) -> Result<(String, Manifest), UpstreamError> {
        let (bytes, claimed) = match loc {
            OciLocation::Layout(dir) => {
                let d = match reference.strip_prefix("sha256:") {
                    Some(_) => reference.to_string(),
                    None => {
                        let index = read_layout_index(dir).await?;
                        index
                            .manifests
                            .iter()
                            .find(|m| {
                                m.annotations
                                    .get("org.opencontainers.image.ref.name")
                                    .is_some_and(|n| layout_tag(n) == reference)
                            })
                            .map(|m| m.digest.clone())
                            .ok_or_else(|| UpstreamError::Registry {
                                reference: loc.to_string(),
                                cause: format!("no tag {reference} in the layout's index.json"),
                            })?
                    }
                };
                let hex = digest_hex(&d).ok_or_else(|| UpstreamError::Registry {
                    reference: loc.to_string(),
                    cause: format!("{d:?} is not a sha256 digest"),
                })?;
                let path = dir.join("blobs").join("sha256").join(hex);
                (
                    super::fetch::read_file(&path, MAX_MANIFEST_BYTES).await?,
                    Some(d),
                )
            }
            OciLocation::Registry(r) => {
                let url = format!("{}/manifests/{reference}", api_base(r));
                let accept = format!("{MANIFEST_TYPE}, {DOCKER_MANIFEST_TYPE}, {INDEX_TYPE}");
                let (bytes, headers) = self
                    .get(
                        r,
                        &url,
                        &accept,
                        MAX_MANIFEST_BYTES,
                        &format!("manifest {reference}"),
                    )
                    .await?;
                let claimed = headers
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                (bytes, claimed)
            }
        };
        let actual = hex::encode(Sha256::digest(&bytes));
        let expected = match reference.strip_prefix("sha256:") {
            Some(d) => Some(d.to_ascii_lowercase()),
            None => claimed.as_deref().and_then(digest_hex).map(str::to_string),
        };
        if let Some(expected) = expected {
            if expected != actual {
                return Err(UpstreamError::OciDigestMismatch {
                    what: format!("manifest {reference}"),
                    reference: loc.to_string(),
                    expected,
                    actual,
                });
            }
        }
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| UpstreamError::NotAChart {
                reference: format!("{loc}:{reference}"),
                cause: format!("the manifest is not OCI manifest JSON: {e}"),
            })?;
        Ok((actual, manifest))
    }

    /// A blob, checked against its descriptor's digest.
    async fn blob(
        &self,
        loc: &OciLocation,
        d: &Descriptor,
        limit: u64,
    ) -> Result<Vec<u8>, UpstreamError> {
        let Some(expected) = digest_hex(&d.digest) else {
            return Err(UpstreamError::NotAChart {
                reference: loc.to_string(),
                cause: format!("blob digest {:?} is not sha256", d.digest),
            });
        };
        let bytes = match loc {
            OciLocation::Layout(dir) => {
                let path = dir.join("blobs").join("sha256").join(expected);
                super::fetch::read_file(&path, limit).await?
            }
            OciLocation::Registry(r) => {
                let url = format!("{}/blobs/sha256:{expected}", api_base(r));
                self.get(r, &url, "*/*", limit, &format!("blob sha256:{expected}"))
                    .await?
                    .0
            }
        };
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != expected {
            return Err(UpstreamError::OciDigestMismatch {
                what: format!("blob ({})", d.media_type),
                reference: loc.to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// GET with the registry's auth, retried on 429 (after `Retry-After`), 5xx and connection
    /// failures within a bounded total.
    async fn get(
        &self,
        r: &OciReference,
        url: &str,
        accept: &str,
        limit: u64,
        what: &str,
    ) -> Result<(Vec<u8>, HeaderMap), UpstreamError> {
        let backoff = Backoff {
            attempts: 3,
            base: self.retry_base,
            max_wait: MAX_RETRY_AFTER,
        };
        let total = self.timeout * 5 / 2;
        backoff
            .run_timed(
                url,
                total,
                self.timeout,
                || self.get_once(r, url, accept, limit, what),
                |f: &Failed| f.1,
                |out| {
                    let (cause, next) = match out {
                        OutOfTime::Total => (
                            format!("no answer for {what} within {}s in all", total.as_secs()),
                            Next::Stop,
                        ),
                        OutOfTime::Attempt => (
                            format!(
                                "no complete answer for {what} within {}s",
                                self.timeout.as_secs()
                            ),
                            Next::Retry,
                        ),
                    };
                    Failed(
                        UpstreamError::Registry {
                            reference: r.to_string(),
                            cause,
                        },
                        next,
                    )
                },
            )
            .await
            .map_err(|Failed(e, _)| e)
    }

    async fn get_once(
        &self,
        r: &OciReference,
        url: &str,
        accept: &str,
        limit: u64,
        what: &str,
    ) -> Result<(Vec<u8>, HeaderMap), Failed> {
        let reference = r.to_string();
        let key = (r.registry.clone(), r.repository.clone());
        let mut challenged = false;
        loop {
            let mut req = self.client.get(url).header(ACCEPT, accept);
            let token = self
                .tokens
                .lock()
                .map(|t| t.get(&key).cloned())
                .ok()
                .flatten();
            if let Some(auth) = token {
                req = req.header(AUTHORIZATION, auth);
            }
            let resp = req.send().await.map_err(|e| {
                let retry = e.is_timeout() || e.is_connect() || e.is_request() || e.is_body();
                Failed(
                    UpstreamError::Registry {
                        reference: reference.clone(),
                        cause: format!("cannot reach the registry: {}", crate::error_chain(&e)),
                    },
                    if retry { Next::Retry } else { Next::Stop },
                )
            })?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !challenged {
                challenged = true;
                let challenge = resp
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                let auth = self.authorize(r, challenge).await?;
                if let Ok(mut t) = self.tokens.lock() {
                    t.insert(key.clone(), auth);
                }
                continue;
            }
            if !status.is_success() {
                return Err(status_error(
                    r,
                    what,
                    status,
                    resp.headers(),
                    self.has_creds(r),
                ));
            }
            let headers = resp.headers().clone();
            let body = read_limited(resp, limit).await.map_err(|cause| {
                Failed(
                    UpstreamError::Registry {
                        reference: reference.clone(),
                        cause: format!("{what}: {cause}"),
                    },
                    Next::Stop,
                )
            })?;
            return Ok((body, headers));
        }
    }

    /// The `Authorization` header value that answers `challenge`: a bearer token from the
    /// realm (anonymous, or with the registry's credentials), or Basic credentials.
    async fn authorize(
        &self,
        r: &OciReference,
        challenge: Option<Challenge>,
    ) -> Result<String, Failed> {
        let creds = self.credentials(r);
        let fail = |cause: String| {
            Failed(
                UpstreamError::Registry {
                    reference: r.to_string(),
                    cause,
                },
                Next::Stop,
            )
        };
        match challenge {
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let realm_url = url::Url::parse(&realm).map_err(|_| {
                    fail(format!("the registry's token realm {realm:?} is not a URL"))
                })?;
                if !matches!(realm_url.scheme(), "https" | "http") {
                    return Err(fail(format!(
                        "the registry's token realm {realm:?} is not http(s)"
                    )));
                }
                let scope = scope.unwrap_or_else(|| format!("repository:{}:pull", r.repository));
                let mut req = self
                    .client
                    .get(realm_url)
                    .query(&[("scope", scope.as_str())]);
                if let Some(s) = &service {
                    req = req.query(&[("service", s.as_str())]);
                }
                if let Some(c) = &creds {
                    req = req.basic_auth(&c.username, Some(&c.password));
                }
                let resp = req.send().await.map_err(|e| {
                    fail(format!(
                        "cannot reach the token service {realm}: {}",
                        crate::error_chain(&e)
                    ))
                })?;
                let status = resp.status();
                if !status.is_success() {
                    return Err(fail(format!(
                        "the token service {realm} answered HTTP {}{}",
                        status.as_u16(),
                        creds_hint(creds.is_some(), status.as_u16())
                    )));
                }
                #[derive(Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let body = read_limited(resp, 1 << 20).await.map_err(fail)?;
                let t: Token = serde_json::from_slice(&body).map_err(|e| {
                    fail(format!("the token service {realm} answered no token: {e}"))
                })?;
                let token = t
                    .token
                    .or(t.access_token)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| fail(format!("the token service {realm} answered no token")))?;
                Ok(format!("Bearer {token}"))
            }
            Some(Challenge::Basic) | None => match creds {
                Some(c) => {
                    use base64_lite::encode;
                    Ok(format!(
                        "Basic {}",
                        encode(&format!("{}:{}", c.username, c.password))
                    ))
                }
                None => Err(fail(format!(
                    "the registry answered HTTP 401 (it needs credentials){}",
                    creds_hint(false, 401)
                ))),
            },
        }
    }

    fn has_creds(&self, r: &OciReference) -> bool {
        self.credentials(r).is_some()
    }

    /// Credentials for the registry, looked up once per run (see [`lookup_credentials`]).
    fn credentials(&self, r: &OciReference) -> Option<Credentials> {
        let mut map = self.creds.lock().ok()?;
        map.entry(r.registry.clone())
            .or_insert_with(|| lookup_credentials(&r.registry))
            .clone()
    }
}

/// `https://host/v2/<repository>` (plain http for a registry on this machine).
fn api_base(r: &OciReference) -> String {
    let scheme = if r.is_loopback() { "http" } else { "https" };
    format!("{scheme}://{}/v2/{}", r.registry, r.repository)
}

fn chart_layer(m: &Manifest) -> Result<Descriptor, String> {
    let layers: Vec<&Descriptor> = m
        .layers
        .iter()
        .filter(|l| l.media_type == HELM_CHART_TYPE || l.media_type == HELM_CHART_TYPE_OLD)
        .collect();
    match layers.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!(
            "no chart layer ({HELM_CHART_TYPE}) among its {} layers",
            m.layers.len()
        )),
        _ => Err(format!("{} chart layers; a chart has one", layers.len())),
    }
}

/// The hex of a `sha256:<hex>` digest, if it is one.
pub fn digest_hex(d: &str) -> Option<&str> {
    d.strip_prefix("sha256:").filter(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// An OCI layout's tag annotation may be the tag or a whole reference (`repo:tag`).
fn layout_tag(name: &str) -> &str {
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') && !repo.is_empty() => tag,
        _ => name,
    }
}

#[derive(Debug, Deserialize)]
struct LayoutIndex {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

async fn read_layout_index(dir: &Path) -> Result<LayoutIndex, UpstreamError> {
    let bad = |cause: String| UpstreamError::Registry {
        reference: format!("{} (OCI layout)", dir.display()),
        cause,
    };
    let marker = super::fetch::read_file(&dir.join("oci-layout"), 4096)
        .await
        .map_err(|_| bad("no oci-layout file: not an OCI image layout (oras copy --to-oci-layout writes one)".into()))?;
    let layout: serde_json::Value =
        serde_json::from_slice(&marker).map_err(|e| bad(format!("oci-layout is not JSON: {e}")))?;
    if layout["imageLayoutVersion"] != "1.0.0" {
        return Err(bad(format!(
            "imageLayoutVersion {} is not 1.0.0",
            layout["imageLayoutVersion"]
        )));
    }
    let bytes = super::fetch::read_file(&dir.join("index.json"), MAX_MANIFEST_BYTES).await?;
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("index.json is not an OCI index: {e}")))
}

/// The `rel="next"` link of a tags page, resolved against the page's URL.
fn next_link(headers: &HeaderMap, current: &str) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| url::Url::parse(current).ok()?.join(target).ok())
            .flatten()
            .map(|u| u.to_string())
    })
}

fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
    // key="value" pairs; values may hold commas (scope lists), so split by hand.
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_string());
        s = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

fn creds_hint(had: bool, status: u16) -> &'static str {
    match (had, status) {
        (true, 401) => " (the credentials found for it were refused)",
        (false, 401 | 403) => "; give credentials with `docker login`, REGISTRY_AUTH_FILE, or AKE_BOT_REGISTRY_HOST/USERNAME/PASSWORD",
        (true, 403) => " (the credentials found for it may not pull this repository)",
        _ => "",
    }
}

fn status_error(
    r: &OciReference,
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    had_creds: bool,
) -> Failed {
    let code = status.as_u16();
    let (cause, next) = match code {
        404 => (
            format!("{what}: HTTP 404: no such repository or tag in the registry"),
            Next::Stop,
        ),
        401 | 403 => (
            format!("{what}: HTTP {code}{}", creds_hint(had_creds, code)),
            Next::Stop,
        ),
        429 => {
            let after = headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            (
                match after {
                    Some(d) => format!(
                        "{what}: HTTP 429: rate-limited, retry after {}s",
                        d.as_secs()
                    ),
                    None => format!("{what}: HTTP 429: rate-limited"),
                },
                after.map_or(Next::Retry, Next::RetryAfter),
            )
        }
        c if c >= 500 => (
            format!("{what}: HTTP {code}: the registry failed"),
            Next::Retry,
        ),
        _ => (format!("{what}: HTTP {code}"), Next::Stop),
    };
    Failed(
        UpstreamError::Registry {
            reference: r.to_string(),
            cause,
        },
        next,
    )
}

async fn read_limited(mut resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, String> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(format!("larger than {limit} bytes; refusing to read it"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("the answer broke off: {}", crate::error_chain(&e)))?
    {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > limit {
            return Err(format!("larger than {limit} bytes; refusing to read it"));
        }
    }
    Ok(body)
}

/// Credentials for `registry`, first found of:
/// 1. `AKE_BOT_REGISTRY_HOST` (that registry only) with `AKE_BOT_REGISTRY_USERNAME` and
///    `AKE_BOT_REGISTRY_PASSWORD`;
/// 2. the `auths` of `REGISTRY_AUTH_FILE` (podman, skopeo), of `$DOCKER_CONFIG/config.json` or
///    `~/.docker/config.json` (`docker login`), and of Helm's registry config
///    (`HELM_REGISTRY_CONFIG`, or `~/.config/helm/registry/config.json`: `helm registry login`).
///
/// Credential helpers (`credsStore`, `credHelpers`) are not run: give the credentials by
/// environment instead.
pub fn lookup_credentials(registry: &str) -> Option<Credentials> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if env("AKE_BOT_REGISTRY_HOST").is_some_and(|h| normalize_registry(&h) == registry) {
        if let (Some(username), Some(password)) = (
            env("AKE_BOT_REGISTRY_USERNAME"),
            env("AKE_BOT_REGISTRY_PASSWORD"),
        ) {
            return Some(Credentials { username, password });
        }
    }
    let home = env("HOME").map(PathBuf::from);
    let mut files = Vec::new();
    files.extend(env("REGISTRY_AUTH_FILE").map(PathBuf::from));
    match env("DOCKER_CONFIG") {
        Some(d) => files.push(PathBuf::from(d).join("config.json")),
        None => files.extend(home.as_ref().map(|h| h.join(".docker/config.json"))),
    }
    match env("HELM_REGISTRY_CONFIG") {
        Some(f) => files.push(PathBuf::from(f)),
        None => {
            let config = env("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".config")));
            files.extend(config.map(|c| c.join("helm/registry/config.json")));
        }
    }
    files.iter().find_map(|f| from_auth_file(f, registry))
}

fn from_auth_file(path: &Path, registry: &str) -> Option<Credentials> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let auths = v.get("auths")?.as_object()?;
    let (_, entry) = auths
        .iter()
        .find(|(k, _)| normalize_registry(k) == registry)?;
    if let (Some(u), Some(p)) = (
        entry.get("username").and_then(|v| v.as_str()),
        entry.get("password").and_then(|v| v.as_str()),
    ) {
        return Some(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        });
    }
    let auth = entry.get("auth")?.as_str()?;
    let decoded = base64_lite::decode(auth)?;
    let (u, p) = decoded.split_once(':')?;
    Some(Credentials {
        username: u.to_string(),
        password: p.to_string(),
    })
}

/// `https://index.docker.io/v1/`, `docker.io` and `registry-1.docker.io` are one registry;
/// otherwise the host and port of a key, lower-cased.
fn normalize_registry(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("oci://");
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        _ => host,
    }
}

/// Base64 for Basic auth and Docker's `auth` entries (standard alphabet, padded), without a
/// crate for twenty lines.
mod base64_lite {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    pub fn decode(s: &str) -> Option<String> {
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in s.trim().bytes().filter(|c| *c != b'=') {
            let v = ALPHABET.iter().position(|a| *a == c)? as u32;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
                bits &= (1 << n) - 1;
            }
        }
        String::from_utf8(out).ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_commas_inside_quotes() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn next_links_resolve_against_the_page() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            r#"</v2/charts/x/tags/list?last=v1.2.3&n=1000>; rel="next""#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h, "http://127.0.0.1:5000/v2/charts/x/tags/list?n=1000").as_deref(),
            Some("http://127.0.0.1:5000/v2/charts/x/tags/list?last=v1.2.3&n=1000")
        );
        assert_eq!(next_link(&HeaderMap::new(), "http://x/"), None);
    }

    #[test]
    fn base64_round_trips_and_registry_keys_normalise() {
        for s in ["", "a", "ab", "abc", "user:p@ss:word"] {
            assert_eq!(base64_lite::decode(&base64_lite::encode(s)).unwrap(), s);
        }
        assert_eq!(base64_lite::encode("user:pass"), "dXNlcjpwYXNz");
        assert_eq!(
            normalize_registry("https://index.docker.io/v1/"),
            "docker.io"
        );
        assert_eq!(normalize_registry("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(normalize_registry("https://Quay.io"), "quay.io");
    }

    #[test]
    fn credentials_are_never_printed() {
        let c = Credentials {
            username: "robot".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn layout_tags_may_be_whole_references() {
        assert_eq!(layout_tag("v1.14.7"), "v1.14.7");
        assert_eq!(
            layout_tag("quay.io/jetstack/charts/cert-manager:v1.14.7"),
            "v1.14.7"
        );
        assert_eq!(layout_tag("localhost:5000/x"), "localhost:5000/x");
    }
}
