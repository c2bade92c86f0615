//! Upstream: where addon versions come from, and which one each branch should run.

mod fetch;
mod index;
mod select;

use std::path::PathBuf;

pub use fetch::Fetcher;
pub use index::{ChartEntry, ChartReleases, Index, Release};
pub use select::{admissible, choose, Choice, Skip, SkipReason};

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
}
