//! The jobs, as reconcilers: observe (upstream, the repository, GitHub), plan (a value), act
//! (one executor per job). `--dry-run` prints the plan and leaves the executor out, so both
//! paths are one path. Every job takes the [`Workspace`](crate::workspace::Workspace).
//!
//! | job | plan | executor |
//! |---|---|---|
//! | `sync` | [`sync::plan`] | [`sync::execute`] |
//! | `backport` | [`backport::plan`] | [`backport::execute`] |
//! | `release` | [`release::plan`] | [`release::execute`] |
//! | `branch cut` | [`branch_cut::plan`] | [`branch_cut::execute`] |
//! | `tenants` | [`tenants::plan`] | [`tenants::execute`] |
//! | `render` | [`render::run`]: each addon written as soon as it is rendered (an interrupted run keeps what it finished) | |
//! | `validate`, `e2e`, `diff`, `check`, `matrix` | the report is the result | — |
//! | `scan` | [`scan::classify`]: what [`crate::cluster::scan`] read from a live cluster, against [`crate::apis`] | — (read-only) |
//!
//! [`pr`] is the pull-request toolkit the acting jobs share.

pub mod backport;
pub mod branch_cut;
pub mod check;
pub mod dashboard;
pub mod diff;
pub mod e2e;
pub mod matrix;
pub mod pr;
pub mod progress;
pub mod release;
pub mod render;
pub mod scan;
pub mod sync;
pub mod tenants;
pub mod validate;

use serde::Serialize;

use crate::config;
use crate::git;

/// Errors that stop a whole job. Anything scoped to one addon, branch or change is reported
/// for it as a [`Problem`] instead, and the others go on.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Config(#[from] config::ConfigErrors),
    #[error("{0}")]
    Tree(#[from] git::TreeError),
    #[error("{0}")]
    HelmMissing(String),
    /// A tool or service the job needs is not there (kind, a container engine, GitHub).
    #[error("{0}")]
    Unavailable(String),
    #[error("unknown addon {name:?}: bundles/ has {known}")]
    UnknownAddon { name: String, known: String },
    #[error("unknown branch {name:?}: branches.toml has {known}")]
    UnknownBranch { name: String, known: String },
    #[error("{0}")]
    Upstream(#[from] crate::upstream::UpstreamError),
    #[error("{0}")]
    Git(String),
    #[error("{0}")]
    Forge(String),
    /// A bad argument the command line could not catch.
    #[error("{0}")]
    Usage(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// A failure scoped to part of a job, reported with what it concerns; the rest of the job
/// went on. The output contract's `problems`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addon: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The change on main (backport).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// A config file, and where in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<std::path::PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub cause: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(cause: impl Into<String>) -> Problem {
        Problem {
            cause: cause.into(),
            ..Problem::default()
        }
    }

    pub fn addon(mut self, addon: impl ToString) -> Problem {
        self.addon = Some(addon.to_string());
        self
    }

    pub fn branch(mut self, branch: impl ToString) -> Problem {
        self.branch = Some(branch.to_string());
        self
    }

    pub fn commit(mut self, commit: impl ToString) -> Problem {
        self.commit = Some(commit.to_string());
        self
    }

    /// A config file problem, with its position and hint.
    pub fn from_config(e: &config::ConfigError) -> Problem {
        Problem {
            file: Some(e.file.clone()),
            line: e.line,
            column: e.column,
            cause: e.message.clone(),
            hint: e.hint.clone(),
            ..Problem::default()
        }
    }

    /// What the whole job could not do (exit 2).
    pub fn from_job(e: &JobError) -> Vec<Problem> {
        match e {
            JobError::Config(errors) => errors.0.iter().map(Problem::from_config).collect(),
            other => vec![Problem::new(other.to_string())],
        }
    }
}

impl std::fmt::Display for Problem {
    /// `cert-manager on main: bundles/cert-manager/bundle.yaml:7:1: unknown field …`, then
    /// `hint: …` on its own line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let subject = match (&self.commit, &self.addon, &self.branch) {
            (Some(c), _, Some(b)) => Some(format!("{c:.12} → {b}")),
            (Some(c), _, None) => Some(format!("{c:.12}")),
            (None, Some(a), Some(b)) => Some(format!("{a} on {b}")),
            (None, Some(a), None) => Some(a.clone()),
            (None, None, Some(b)) => Some(b.clone()),
            (None, None, None) => None,
        };
        if let Some(s) = subject {
            write!(f, "{s}: ")?;
        }
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some(l) = self.line {
                write!(f, ":{l}")?;
                if let Some(c) = self.column {
                    write!(f, ":{c}")?;
                }
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.cause)?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

/// Every name in `requested` must be an addon under `bundles/` (`known`).
pub(crate) fn check_addons(requested: &[String], known: &[String]) -> Result<(), JobError> {
    match requested.iter().find(|r| !known.contains(r)) {
        Some(name) => Err(JobError::UnknownAddon {
            name: name.clone(),
            known: known.join(", "),
        }),
        None => Ok(()),
    }
}

/// Whether `addon` is among `requested` (all when empty).
pub(crate) fn wanted(requested: &[String], addon: &str) -> bool {
    requested.is_empty() || requested.iter().any(|a| a == addon)
}
