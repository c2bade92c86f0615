//! `validate`: which branches, where their renders are read, and the checks that need the
//! chart index (`kubeVersion`, caps). The checks themselves live in [`crate::validate`].

use std::sync::Arc;

use serde::Serialize;

use super::JobError;
use crate::config::{self, LoadedBundle, TrainBranch};
use crate::upstream::SkipReason;
use crate::validate::{check_branch, Check, Finding, Severity};
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
    let mut bundles = files.bundles;
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
    // The branch is held as siblings (each render without its CRDs, which are kept compact),
    // then each bundle is read again whole and checked in that context, one at a time: a
    // branch's CRDs parsed are several times its text, and a train may have a hundred addons.
    let loaded = std::mem::take(&mut bundles.loaded);
    let siblings = Arc::new(blocking(move || Ok(crate::validate::parse_siblings(&loaded))).await?);
    let policy_files = bundles.policies.clone();
    let policies =
        Arc::new(blocking(move || Ok(crate::validate::Policies::load(&policy_files))).await?);
    let mut schemas_missing = None;
    if let Some(schemas) = ws.schemas() {
        let others = siblings
            .iter()
            .filter_map(|(_, s)| s.as_ref().ok())
            .map(|s| &s.objects);
        if let Err(e) = schemas
            .prepare(ws.fetcher(), branch.kubernetes, others)
            .await
        {
            schemas_missing = Some(e);
        }
    }
    let (mut objects, mut exemptions) = (0, Vec::new());
    if siblings.is_empty() {
        // No bundle: still the branch's own findings (schemas, policy files).
        let (p, schemas, b) = (policies.clone(), ws.schemas().cloned(), branch.clone());
        let mut checked = blocking(move || {
            let mut f = check_branch(&b, &[], schemas.as_deref().map(|s| s.store()));
            f.append(&mut crate::validate::check_policies(&p, &[]).0);
            Ok(f)
        })
        .await?;
        findings.append(&mut checked);
    }
    for i in 0..siblings.len() {
        let (s, tree) = (siblings.clone(), files.tree.clone());
        let own = blocking(move || Ok(read_render(tree.as_ref(), &s[i].0))).await?;
        if let (Some(schemas), Ok(m), None) = (ws.schemas(), &own, &schemas_missing) {
            if let Err(e) = schemas.prepare(ws.fetcher(), branch.kubernetes, [m]).await {
                schemas_missing = Some(e);
            }
        }
        objects += own.as_ref().map_or(0, |m| m.len());
        let (s, p, schemas, b) = (
            siblings.clone(),
            policies.clone(),
            ws.schemas().cloned(),
            branch.clone(),
        );
        let (mut checked, mut exempt) = blocking(move || {
            Ok(crate::validate::check_bundle(
                &b,
                &s,
                s[i].0.bundle.name.as_str(),
                own.as_ref().map_err(Clone::clone),
                schemas.as_deref().map(|s| s.store()),
                &p,
                i == 0,
            ))
        })
        .await?;
        findings.append(&mut checked);
        exemptions.append(&mut exempt);
    }
    if let Some(e) = schemas_missing {
        findings.push(Finding::branch_wide(Severity::Error, Check::Schemas, e));
    }
    findings.sort();
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    Ok(BranchReport {
        branch: name,
        kubernetes: branch.kubernetes.to_string(),
        from: Some(files.origin.label()),
        bundles: siblings.len(),
        objects,
        errors,
        warnings: findings.len() - errors,
        findings,
        exemptions,
    })
}

/// `lb`'s committed render read again from the branch's `tree`, parsed whole.
fn read_render(
    tree: Option<&crate::git::Tree>,
    lb: &LoadedBundle,
) -> Result<crate::manifest::Manifests, String> {
    let text = match tree {
        Some(t) => t
            .read(&lb.bundle.rendered_file())
            .map_err(|e| e.to_string())?,
        None => None,
    };
    crate::validate::parse_render(lb, text.as_deref())
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
