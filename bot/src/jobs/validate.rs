//! `validate`: which branches, where their renders are read, and the checks that need the
//! chart index (`kubeVersion`, caps). The checks themselves live in [`crate::validate`].

use serde::Serialize;

use super::JobError;
use crate::config::{self, LoadedBundle, TrainBranch};
use crate::upstream::SkipReason;
use crate::validate::{check_branch, BundleRender, Check, Finding, Severity};
use crate::workspace::{blocking, Origin, Workspace};

/// What `validate` is asked to check.
#[derive(Debug, Clone, Default)]
pub struct ValidateRequest {
    /// These branches; empty: the one the work tree holds.
    pub branches: Vec<String>,
    /// Every branch that is not eol.
    pub all: bool,
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
    /// Policy violations the team accepted (bundle.yaml `policy_exemptions`, or an object's
    /// exemption annotation), with the reason.
    pub exemptions: Vec<crate::validate::Exemption>,
}

pub async fn validate(
    ws: &Workspace,
    req: &ValidateRequest,
) -> Result<Vec<BranchReport>, JobError> {
    let branches = if req.all {
        ws.select_branches(&[])?
    } else if req.branches.is_empty() {
        vec![ws.branch(ws.checkout().as_str())?.clone()]
    } else {
        ws.select_branches(&req.branches)?
    };
    let mut reports = Vec::new();
    for branch in branches {
        reports.push(validate_branch(ws, &branch).await?);
    }
    Ok(reports)
}

async fn validate_branch(ws: &Workspace, branch: &TrainBranch) -> Result<BranchReport, JobError> {
    let files = ws.branch_files(branch).await?;
    let name = branch.name.to_string();
    if files.origin == Origin::NotCut {
        return Ok(BranchReport {
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
                format!("{name} is not cut yet (no local or origin branch): nothing to validate"),
            )],
            exemptions: Vec::new(),
        });
    }
    let bundles = files.bundles;
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
        findings.extend(chart_admits(ws, lb, branch).await);
    }
    let loaded = bundles.loaded.clone();
    let parsed = blocking(move || Ok(crate::validate::parse_renders(&loaded))).await?;
    if let Some(schemas) = ws.schemas() {
        let renders = parsed.iter().filter_map(|(_, m)| m.as_ref().ok());
        if let Err(e) = schemas
            .prepare(ws.fetcher(), branch.kubernetes, renders)
            .await
        {
            findings.push(Finding::branch_wide(Severity::Error, Check::Schemas, e));
        }
    }
    let (schemas, branch_c) = (ws.schemas().cloned(), branch.clone());
    let policy_files = bundles.policies.clone();
    let (objects, mut checked, exemptions) = blocking(move || {
        let renders: Vec<BundleRender<'_>> = parsed
            .iter()
            .map(|(b, m)| BundleRender {
                bundle: b,
                manifests: m.as_ref().map_err(Clone::clone),
                crds: &[],
            })
            .collect();
        let objects = renders
            .iter()
            .filter_map(|r| r.manifests.as_ref().ok())
            .map(|m| m.len())
            .sum::<usize>();
        let store = schemas.as_deref().map(|s| s.store());
        let mut checked = check_branch(&branch_c, &renders, store);
        let policies = crate::validate::Policies::load(&policy_files);
        let (mut policy, exemptions) = crate::validate::check_policies(&policies, &renders);
        checked.append(&mut policy);
        Ok((objects, checked, exemptions))
    })
    .await?;
    findings.append(&mut checked);
    findings.sort();
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    Ok(BranchReport {
        branch: name,
        kubernetes: branch.kubernetes.to_string(),
        from: Some(files.origin.label()),
        bundles: bundles.loaded.len(),
        objects,
        errors,
        warnings: findings.len() - errors,
        findings,
        exemptions,
    })
}

/// The pinned chart against the branch: its `kubeVersion`, and the branch's cap.
async fn chart_admits(ws: &Workspace, lb: &LoadedBundle, branch: &TrainBranch) -> Vec<Finding> {
    let at = |severity, message| Finding {
        bundle: Some(lb.bundle.name.to_string()),
        file: Some(lb.bundle.file()),
        ..Finding::branch_wide(severity, Check::KubeVersion, message)
    };
    let release = match ws.pinned_release(lb).await {
        Ok(r) => r,
        // Not the bytes the bundle pins: an integrity failure, not an unreachable upstream.
        Err(e @ crate::upstream::UpstreamError::PinnedDigest { .. }) => {
            return vec![at(Severity::Error, e.to_string())]
        }
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
