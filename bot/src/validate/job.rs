//! The `validate` job: which branches, where their renders live, and the checks that need the
//! chart index (`kubeVersion`, caps).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::{check_branch, BundleRender, Check, Finding, SchemaStore, Severity};
use crate::config::{self, BranchStatus, LoadedBundle, Train, TrainBranch};
use crate::git;
use crate::train::JobError;
use crate::upstream::{Fetcher, SkipReason};

#[derive(Debug, Clone)]
pub struct ValidateRequest {
    pub repo: PathBuf,
    /// These branches; empty: the checked-out one (main if it is not a train branch).
    pub branches: Vec<String>,
    /// Every branch that is not eol.
    pub all: bool,
    /// The directory holding `vX.Y.Z-local-strict/` schema sets.
    pub schemas: Option<PathBuf>,
    pub cache_dir: PathBuf,
}

/// What `validate` found on one branch.
#[derive(Debug, Clone, Serialize)]
pub struct BranchReport {
    pub branch: String,
    pub kubernetes: String,
    /// Where the renders were read: `work tree`, `origin/release-1.32`, …; `None`: not cut.
    pub from: Option<String>,
    pub bundles: usize,
    pub objects: usize,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
}

pub async fn validate(req: &ValidateRequest) -> Result<Vec<BranchReport>, JobError> {
    let repo = req.repo.clone();
    let train = tokio::task::spawn_blocking(move || config::load_train(&repo))
        .await
        .expect("config loading does not panic")?;
    let names = branch_names(req, &train)?;
    // Schemas: --schemas, else branches.toml's `schemas`, else a cache `schema_url` fills.
    let from_url = match (&req.schemas, &train.schemas, &train.schema_url) {
        (None, None, Some(t)) => Some(t.clone()),
        _ => None,
    };
    let schema_dir = match (&req.schemas, &train.schemas, &from_url) {
        (Some(d), _, _) | (None, Some(d), _) => Some(d.clone()),
        (None, None, Some(_)) => Some(req.cache_dir.join("schemas")),
        _ => None,
    };
    let store = schema_dir.clone().map(|d| Arc::new(SchemaStore::new(d)));
    let fetcher = Fetcher::new(train.mirrors.clone(), req.cache_dir.clone())?;
    let mut reports = Vec::new();
    for name in names {
        let branch = train
            .branch(&name)
            .expect("names come from the train")
            .clone();
        let (repo, n) = (req.repo.clone(), name.clone());
        let located = tokio::task::spawn_blocking(move || config::load_branch(&repo, &n))
            .await
            .expect("loading bundles does not panic")?;
        let Some((from, bundles)) = located else {
            reports.push(BranchReport {
                branch: name.clone(),
                kubernetes: branch.kubernetes.to_string(),
                from: None,
                bundles: 0,
                objects: 0,
                errors: 0,
                warnings: 1,
                findings: vec![Finding::branch_wide(
                    Severity::Warning,
                    Check::Render,
                    format!(
                        "{name} is not cut yet (no local or origin branch): nothing to validate"
                    ),
                )],
            });
            continue;
        };
        let mut findings: Vec<Finding> = bundles
            .problems
            .iter()
            .map(|p| Finding {
                bundle: Some(p.dir.clone()),
                ..Finding::branch_wide(
                    Severity::Error,
                    Check::Render,
                    config::ConfigErrors(p.errors.clone()).to_string(),
                )
            })
            .collect();
        for lb in &bundles.loaded {
            findings.extend(chart_admits(&fetcher, lb, &branch).await);
        }
        let loaded = bundles.loaded.clone();
        let parsed = tokio::task::spawn_blocking(move || super::parse_renders(&loaded))
            .await
            .expect("parsing does not panic");
        if let (Some(template), Some(dir)) = (&from_url, &schema_dir) {
            let kinds: BTreeSet<(String, String)> = parsed
                .iter()
                .filter_map(|(_, m)| m.as_ref().ok())
                .flat_map(|m| m.objects())
                .map(|o| (o.api_version.clone(), o.key.kind.clone()))
                .collect();
            if let Err(e) =
                super::cache::fill(&fetcher, template, dir, branch.kubernetes, &kinds).await
            {
                findings.push(Finding::branch_wide(Severity::Error, Check::Schemas, e));
            }
        }
        let (store_c, branch_c) = (store.clone(), branch.clone());
        let (objects, mut checked) = tokio::task::spawn_blocking(move || {
            let renders: Vec<BundleRender<'_>> = parsed
                .iter()
                .map(|(b, m)| BundleRender {
                    bundle: b,
                    manifests: m.as_ref().map_err(Clone::clone),
                })
                .collect();
            let objects = renders
                .iter()
                .filter_map(|r| r.manifests.as_ref().ok())
                .map(|m| m.len())
                .sum::<usize>();
            (
                objects,
                check_branch(&branch_c, &renders, store_c.as_deref()),
            )
        })
        .await
        .expect("validation does not panic");
        findings.append(&mut checked);
        findings.sort();
        let errors = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        reports.push(BranchReport {
            branch: name,
            kubernetes: branch.kubernetes.to_string(),
            from: Some(from),
            bundles: bundles.loaded.len(),
            objects,
            errors,
            warnings: findings.len() - errors,
            findings,
        });
    }
    Ok(reports)
}

fn branch_names(req: &ValidateRequest, train: &Train) -> Result<Vec<String>, JobError> {
    for b in &req.branches {
        if train.branch(b).is_none() {
            return Err(JobError::UnknownBranch {
                name: b.clone(),
                known: crate::train::branch_names(train),
            });
        }
    }
    if req.all {
        return Ok(train
            .branches
            .iter()
            .filter(|b| b.status != BranchStatus::Eol)
            .map(|b| b.name.to_string())
            .collect());
    }
    if !req.branches.is_empty() {
        return Ok(req.branches.clone());
    }
    let current = git::current_branch(&req.repo)
        .filter(|b| train.branch(b).is_some())
        .unwrap_or_else(|| "main".into());
    Ok(vec![current])
}

/// The pinned chart against the branch: its `kubeVersion`, and the branch's cap.
async fn chart_admits(fetcher: &Fetcher, lb: &LoadedBundle, branch: &TrainBranch) -> Vec<Finding> {
    let at = |severity, message| Finding {
        bundle: Some(lb.bundle.name.to_string()),
        file: Some(lb.bundle.file()),
        ..Finding::branch_wide(severity, Check::KubeVersion, message)
    };
    let release = match crate::train::rerender::pinned_release(fetcher, lb).await {
        Ok(r) => r,
        Err(e) => {
            return vec![at(
                Severity::Warning,
                format!("chart kubeVersion not checked: {e}"),
            )]
        }
    };
    match crate::upstream::admissible(&release, &lb.bundle, branch) {
        Err(r @ (SkipReason::KubeVersion { .. } | SkipReason::BadKubeVersion { .. })) => vec![at(
            Severity::Error,
            format!("{} {}: {r}", lb.bundle.name, lb.bundle.version),
        )],
        Err(r @ SkipReason::Cap { .. }) => vec![at(
            Severity::Error,
            format!(
                "{} {} is beyond the {r} of {}",
                lb.bundle.name, lb.bundle.version, branch.name
            ),
        )],
        _ => Vec::new(),
    }
}
