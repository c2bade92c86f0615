//! Upstream: where addon versions come from, and which one each branch should run.

mod archive;
mod fetch;
mod index;
mod select;

use std::path::PathBuf;

pub use archive::{chart_meta, ChartMeta};
pub use fetch::{Fetcher, DEFAULT_TIMEOUT};
pub use index::{sha256_digest, ChartEntry, ChartReleases, Index, Release, Unusable};
pub use select::{admissible, choose, unusable_newer, Choice, Skip, SkipReason};

/// The index entry of the version `bundle` pins. Errors are one line naming chart, version and
/// index.
pub async fn pinned_release(
    fetcher: &Fetcher,
    bundle: &crate::config::Bundle,
) -> Result<Release, String> {
    let helm = bundle.helm();
    let index = fetcher.index(&helm.repo).await.map_err(|e| e.to_string())?;
    index
        .releases(&helm.chart)
        .releases
        .into_iter()
        .find(|r| r.version == bundle.version)
        .ok_or_else(|| {
            UpstreamError::VersionMissing {
                chart: helm.chart.clone(),
                version: bundle.version.to_string(),
                index: index.location.clone(),
            }
            .to_string()
        })
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
        matches!(
            self,
            UpstreamError::DigestMismatch { .. }
                | UpstreamError::ChartMismatch { .. }
                | UpstreamError::BadArchive { .. }
                | UpstreamError::BadUrl { .. }
                | UpstreamError::NoDigest { .. }
        )
    }
}
