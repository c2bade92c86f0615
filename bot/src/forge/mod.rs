//! The forge: GitHub through octocrab, with an injectable API base URL (GitHub Enterprise, and
//! the fake GitHub in tests). One concrete client, no trait: tests inject the endpoint, not a
//! mock (bors removed its client traits for the same reason).

mod github;

pub use github::{GitHub, IssueComment, IssueSummary, NewPull, PullState, PullSummary};

use std::time::Duration;

/// What a GitHub call can end in, classified the way callers branch on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    #[error("{what}: not found (404)")]
    NotFound { what: String },
    #[error("{what}: conflict (409): {message}")]
    Conflict { what: String, message: String },
    #[error("{what}: rejected (422): {message}")]
    Unprocessable { what: String, message: String },
    #[error("{what}: rate limited by GitHub (retry after {retry_after:?})")]
    RateLimited { what: String, retry_after: Duration },
    #[error("{what}: GitHub answered {status}: {message}")]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    #[error("{what}: {message}")]
    Transport { what: String, message: String },
    #[error("{what}: unexpected response: {message}")]
    Decode { what: String, message: String },
    #[error("bad GitHub configuration: {0}")]
    Config(String),
}

impl ForgeError {
    /// Whether trying again may help: transport failures, 5xx and rate limits yes; other
    /// client errors no (bors `ShouldRetry`).
    pub fn should_retry(&self) -> bool {
        match self {
            ForgeError::Transport { .. } | ForgeError::RateLimited { .. } => true,
            ForgeError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
