//! Upstream: where addon versions come from, and which one each branch should run.

mod archive;
mod fetch;
pub mod github_release;
mod index;
mod oci;
mod select;

use std::path::PathBuf;

use crate::version::Version;

pub use archive::{chart_meta, ChartMeta};
pub use fetch::{Fetcher, DEFAULT_TIMEOUT};
pub use index::{sha256_digest, ChartEntry, ChartReleases, Index, Release, Unusable};
pub use oci::{digest_hex, lookup_credentials, OciLocation};
pub use select::{admissible, choose, unusable_newer, Choice, Skip, SkipReason};

/// Every version upstream offers for `bundle`, newest first, with those that cannot be used
/// set apart, and where they were read (for messages).
pub struct SourceReleases {
    pub location: String,
    pub releases: ChartReleases,
}

/// How many OCI manifests and configs are read at once.
const OCI_CONCURRENCY: usize = 8;

/// The versions upstream offers for `bundle`. An unreachable source is an error, never "no
/// versions". For an OCI source, only versions from the pin up are read in full (a manifest and
/// a config blob each): older ones are never chosen.
pub async fn releases(
    fetcher: &Fetcher,
    bundle: &crate::config::Bundle,
) -> Result<SourceReleases, UpstreamError> {
    use crate::config::UpstreamSource;
    match &bundle.source {
        UpstreamSource::Helm(helm) => {
            let index = fetcher.index(&helm.repo, &helm.chart).await?;
            if !index.has_chart(&helm.chart) {
                return Err(UpstreamError::ChartMissing {
                    chart: helm.chart.clone(),
                    index: index.location.clone(),
                });
            }
            Ok(SourceReleases {
                location: index.location.clone(),
                releases: index.releases(&helm.chart),
            })
        }
        UpstreamSource::Oci(oci) => {
            let loc = fetcher.oci_location(&oci.reference)?;
            let tags = fetcher.oci_tags(&loc).await?;
            // Helm pushes `+` as `_` (tags cannot hold `+`); tags that are not versions
            // (`latest`, signatures) are skipped, as Helm skips them.
            let wanted: Vec<(Version, String)> = tags
                .iter()
                .filter_map(|t| {
                    Version::parse(&t.replace('_', "+"))
                        .ok()
                        .map(|v| (v, t.clone()))
                })
                .filter(|(v, _)| v >= &bundle.version)
                .collect();
            let mut out = ChartReleases::default();
            // At most OCI_CONCURRENCY requests at a time, results in tag order. (The futures
            // are collected first: a stream adaptor over borrowing closures is not `Send`.)
            let permits = tokio::sync::Semaphore::new(OCI_CONCURRENCY);
            let mut reads = Vec::with_capacity(wanted.len());
            for (_, tag) in &wanted {
                let (permits, loc) = (&permits, &loc);
                reads.push(async move {
                    let _permit = permits
                        .acquire()
                        .await
                        .expect("the semaphore is never closed");
                    fetcher.oci_chart(loc, tag).await
                });
            }
            let charts = futures::future::join_all(reads).await;
            for ((listed, tag), chart) in wanted.into_iter().zip(charts) {
                let unusable = |reason: String| Unusable {
                    version: tag.clone(),
                    reason,
                };
                match chart {
                    Ok(c) => match Version::parse_strict(&c.entry.version) {
                        Ok(v) if v == listed => out.releases.push(Release {
                            version: v,
                            entry: c.entry.clone(),
                        }),
                        Ok(v) => out
                            .unusable
                            .push(unusable(format!("the tag {tag} holds chart version {v}"))),
                        Err(e) => out.unusable.push(unusable(e.to_string())),
                    },
                    Err(e) if e.is_unusable_entry() => out.unusable.push(unusable(e.to_string())),
                    Err(e) => return Err(e),
                }
            }
            out.releases.sort_by(|a, b| b.version.cmp(&a.version));
            Ok(SourceReleases {
                location: loc.to_string(),
                releases: out,
            })
        }
        UpstreamSource::GithubRelease(src) => {
            let src = github_source(src, bundle.prerelease);
            let (location, listing) = fetcher.github_releases(&src).await?;
            let mut out = ChartReleases::default();
            for u in &listing.unusable {
                out.unusable.push(Unusable {
                    version: u.tag.clone(),
                    reason: u.reason.clone(),
                });
            }
            for a in &listing.assets {
                match Version::parse_strict(&a.tag) {
                    Ok(version) => out.releases.push(Release {
                        version,
                        entry: github_entry(&src, a),
                    }),
                    Err(e) => out.unusable.push(Unusable {
                        version: a.tag.clone(),
                        reason: format!("the release tag is not a version: {e}"),
                    }),
                }
            }
            out.releases.sort_by(|a, b| b.version.cmp(&a.version));
            Ok(SourceReleases {
                location,
                releases: out,
            })
        }
    }
}

/// The release-asset source a bundle names, with the bundle's pre-release choice.
pub fn github_source(
    src: &crate::config::GithubReleaseSource,
    prerelease: bool,
) -> github_release::GithubReleaseSource {
    github_release::GithubReleaseSource {
        repo: src.repo.clone(),
        asset: src.asset.clone(),
        checksum: src.checksum.clone(),
        prerelease,
    }
}

/// A release asset as an index entry would describe it: the tag is the version (and the
/// application's), the digest GitHub's.
fn github_entry(
    src: &github_release::GithubReleaseSource,
    a: &github_release::ReleaseAsset,
) -> ChartEntry {
    ChartEntry {
        name: a.name.clone(),
        version: a.tag.clone(),
        app_version: Some(a.tag.clone()),
        kube_version: None,
        digest: a.digest.clone(),
        urls: Vec::new(),
        annotations: Default::default(),
        deprecated: false,
        created: a.published_at.clone(),
        sources: vec![format!("https://github.com/{}", src.repo)],
        home: None,
    }
}

/// The release of the version `bundle` pins. For an OCI source, a pinned `digest:` must be
/// the manifest's. Errors are one line naming chart, version and source.
pub async fn pinned_release(
    fetcher: &Fetcher,
    bundle: &crate::config::Bundle,
) -> Result<Release, UpstreamError> {
    use crate::config::UpstreamSource;
    let found = match &bundle.source {
        UpstreamSource::Oci(oci) => {
            let loc = fetcher.oci_location(&oci.reference)?;
            let tags = fetcher.oci_tags(&loc).await?;
            let tag = tags
                .iter()
                .find(|t| {
                    Version::parse(&t.replace('_', "+")).ok().as_ref() == Some(&bundle.version)
                })
                .ok_or_else(|| UpstreamError::VersionMissing {
                    chart: oci.chart.clone(),
                    version: bundle.version.to_string(),
                    index: loc.to_string(),
                })?;
            let c = fetcher.oci_chart(&loc, tag).await?;
            Release {
                version: bundle.version.clone(),
                entry: c.entry.clone(),
            }
        }
        _ => {
            let all = releases(fetcher, bundle).await?;
            all.releases
                .releases
                .into_iter()
                .find(|r| r.version == bundle.version)
                .ok_or_else(|| UpstreamError::VersionMissing {
                    chart: bundle.chart().to_string(),
                    version: bundle.version.to_string(),
                    index: all.location.clone(),
                })?
        }
    };
    check_pinned_digest(bundle, &found)?;
    Ok(found)
}

/// A bundle that pins a digest gets exactly those bytes under its version.
pub fn check_pinned_digest(
    bundle: &crate::config::Bundle,
    release: &Release,
) -> Result<(), UpstreamError> {
    match (&bundle.digest, sha256_digest(&release.entry)) {
        (Some(pinned), Some(actual)) if release.version == bundle.version && pinned != &actual => {
            Err(UpstreamError::PinnedDigest {
                chart: format!("{} {}", bundle.chart(), bundle.version),
                reference: bundle.source_location(),
                pinned: pinned.clone(),
                actual,
            })
        }
        _ => Ok(()),
    }
}

/// Why upstream data could not be used. Cloneable: one failed index fetch is reported to every
/// bundle that needed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is larger than {limit} bytes; refusing to read it")]
    TooLarge { url: String, limit: u64 },
    #[error("bad index {url}: {cause}")]
    BadIndex { url: String, cause: String },
    #[error("chart {chart} is not in the index {index}")]
    ChartMissing { chart: String, index: String },
    #[error("{chart} {version} is not in the index {index}")]
    VersionMissing {
        chart: String,
        version: String,
        index: String,
    },
    #[error(
        "the index entry for {chart} has no valid sha256 digest, so its archive cannot be verified"
    )]
    NoDigest { chart: String },
    #[error("digest mismatch for {chart} from {url}: the index says sha256 {expected}, the archive is {actual}")]
    DigestMismatch {
        chart: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error("cannot write the chart cache {path}: {cause}")]
    Cache { path: PathBuf, cause: String },
    #[error("the archive of {chart} from {url} holds {archive} (its Chart.yaml): the index entry points at another chart's archive; refusing it")]
    ChartMismatch {
        chart: String,
        url: String,
        archive: String,
    },
    #[error("the archive of {chart} from {url} is not a chart archive: {cause}")]
    BadArchive {
        chart: String,
        url: String,
        cause: String,
    },
    #[error("{reference}: {cause}")]
    Registry { reference: String, cause: String },
    #[error(transparent)]
    GithubRelease(#[from] github_release::GithubReleaseError),
    #[error("{reference} is not a Helm chart: {cause}")]
    NotAChart { reference: String, cause: String },
    #[error("digest mismatch for {what} of {reference}: expected sha256:{expected}, the content is sha256:{actual}")]
    OciDigestMismatch {
        what: String,
        reference: String,
        expected: String,
        actual: String,
    },
    #[error("{chart} from {reference}: the bundle pins digest sha256:{pinned}, but that version is sha256:{actual} upstream. If `version:` was changed by hand, remove `digest:` (the bot writes it with its next bump) or set it to sha256:{actual}; otherwise upstream re-published the version: check it before trusting it")]
    PinnedDigest {
        chart: String,
        reference: String,
        pinned: String,
        actual: String,
    },
    #[error("{chart}: the index {index} points at {url:?}: {why}")]
    BadUrl {
        chart: String,
        url: String,
        index: String,
        why: String,
    },
}

impl UpstreamError {
    /// The entry's archive cannot be used (it is not what the index says, or cannot be
    /// checked): another version may still be, unlike an unreachable upstream.
    pub fn is_unusable_entry(&self) -> bool {
        if let UpstreamError::GithubRelease(e) = self {
            return e.is_unusable_release();
        }
        matches!(
            self,
            UpstreamError::DigestMismatch { .. }
                | UpstreamError::ChartMismatch { .. }
                | UpstreamError::BadArchive { .. }
                | UpstreamError::BadUrl { .. }
                | UpstreamError::NoDigest { .. }
                | UpstreamError::NotAChart { .. }
                | UpstreamError::OciDigestMismatch { .. }
        )
    }
}
