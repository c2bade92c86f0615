//! `e2e`: one branch's committed renders on a kind cluster with the branch's node image (or a
//! given cluster): install in order, wait until ready, smoke checks, diagnostics, cleanup. The
//! install logic lives in [`crate::cluster`].

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::JobError;
use crate::cluster::{
    client_for, install, kind, parse_fixtures, run_smoke, BundleObjects, BundleOutcome, Installer,
    SmokeOutcome,
};
use crate::config::{self, BranchStatus};
use crate::manifest::Manifests;
use crate::workspace::{BranchFiles, Origin, Workspace};

#[derive(Debug, Clone)]
pub struct E2eRequest {
    /// The train branch; `None`: the one the work tree holds.
    pub branch: Option<String>,
    /// Keep the kind cluster afterwards (to look at it).
    pub keep: bool,
    /// The install's one deadline: bundles install concurrently, so this is also how long
    /// each bundle may take.
    pub bundle_timeout: Duration,
    /// Use this cluster instead of creating a kind cluster.
    pub kubeconfig: Option<PathBuf>,
    /// The kind binary.
    pub kind: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct E2eReport {
    pub branch: String,
    pub kubernetes: String,
    pub image: String,
    /// The kind cluster, when this run made one.
    pub cluster: Option<String>,
    pub bundles: Vec<BundleOutcome>,
    pub smoke: Vec<SmokeOutcome>,
    /// Events, pod states and logs from the namespaces of bundles that did not come up.
    pub diagnostics: Vec<String>,
    /// Whether the cluster was deleted (false with `--keep`, or when deleting failed).
    pub deleted: bool,
    /// The kubeconfig of a cluster that was kept (its directory outlives the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    pub ok: bool,
}

/// One bundle's committed render, as e2e installs it.
pub struct Render {
    pub bundle: config::LoadedBundle,
    pub file: PathBuf,
    pub text: String,
    pub manifests: Manifests,
}

/// `e2e/<branch>/kind.yaml` of the branch's own tree (like its renders), when it has one.
pub async fn kind_config(files: &BranchFiles) -> Result<Option<(PathBuf, String)>, JobError> {
    let Some(tree) = files.tree.clone() else {
        return Ok(None);
    };
    let rel = PathBuf::from("e2e")
        .join(files.branch.name.as_str())
        .join("kind.yaml");
    let read = rel.clone();
    // A commit tree reads through git2, which blocks.
    let text = tokio::task::spawn_blocking(move || tree.read(&read))
        .await
        .map_err(|e| JobError::Git(format!("reading {}: {e}", rel.display())))?
        .map_err(|e| JobError::Git(e.to_string()))?;
    Ok(text.map(|t| (rel, t)))
}

/// The branch e2e installs (`branch`, else the checked-out one), read where the workspace
/// reads it, with every bundle's committed render: what `e2e` installs and `e2e --dry-run`
/// shows.
pub async fn load(
    ws: &Workspace,
    branch: Option<&str>,
) -> Result<(BranchFiles, Vec<Render>), JobError> {
    let name = branch.map_or_else(|| ws.checkout().to_string(), str::to_string);
    let branch = ws.branch(&name)?.clone();
    let files = ws.branch_files(&branch).await?;
    if files.origin == Origin::NotCut {
        return Err(JobError::Git(format!(
            "{name} is not cut yet: no local or origin branch"
        )));
    }
    if let Some(p) = files.bundles.problems.first() {
        return Err(JobError::Config(config::ConfigErrors(p.errors.clone())));
    }
    let mut renders = Vec::new();
    for lb in &files.bundles.loaded {
        let file = lb.bundle.rendered_file();
        let text = lb.rendered.clone().ok_or_else(|| {
            JobError::Git(format!(
                "{}: no committed render; run `ake-bot render`",
                file.display()
            ))
        })?;
        let manifests = Manifests::parse(&text)
            .map_err(|e| JobError::Git(format!("{}: {e}", file.display())))?;
        renders.push(Render {
            bundle: lb.clone(),
            file,
            text,
            manifests,
        });
    }
    Ok((files, renders))
}

pub async fn e2e(ws: &Workspace, req: &E2eRequest) -> Result<E2eReport, JobError> {
    let (files, renders) = load(ws, req.branch.as_deref()).await?;
    let branch = files.branch.clone();
    let name = branch.name.to_string();
    if branch.status == BranchStatus::Eol {
        tracing::warn!(branch = %name, "the branch is eol; testing it anyway");
    }
    let mut sets = Vec::new();
    for r in &renders {
        let lb = &r.bundle;
        let bundle = lb.bundle.name.to_string();
        // Fixtures and smoke checks from the branch's own tree, like its renders.
        let fixtures = parse_fixtures(&bundle, lb.fixtures.as_deref()).map_err(JobError::Git)?;
        sets.push(BundleObjects {
            bundle,
            namespace: lb.bundle.namespace.clone(),
            objects: r.manifests.objects().to_vec(),
            fixtures,
            smoke: lb.smoke.clone(),
        });
    }

    let work = tempfile::Builder::new()
        .prefix("ake-bot-e2e-")
        .tempdir()
        .map_err(|e| JobError::Git(format!("cannot make a temp dir: {e}")))?;
    let (cluster, kubeconfig) = match &req.kubeconfig {
        Some(k) => (None, k.clone()),
        None => {
            kind::preflight(&req.kind)
                .await
                .map_err(JobError::Unavailable)?;
            let kubeconfig = work.path().join("kubeconfig");
            // kind reads its config from a file: the branch's, written out of its tree.
            let config = match kind_config(&files).await? {
                Some((rel, text)) => {
                    let path = work.path().join("kind.yaml");
                    std::fs::write(&path, text).map_err(|e| {
                        JobError::Git(format!("cannot write {} for kind: {e}", rel.display()))
                    })?;
                    Some(path)
                }
                None => None,
            };
            let c = kind::create(
                &req.kind,
                &kind::cluster_name(&name),
                &branch.kind_image,
                config.as_deref(),
                &kubeconfig,
            )
            .await
            .map_err(JobError::Git)?;
            (Some(c), kubeconfig)
        }
    };

    let run = async {
        let client = client_for(&kubeconfig).await?;
        let installer = Installer::new(client);
        let mut outcomes = install(&installer, &sets, req.bundle_timeout).await;
        // Every bundle that came up is smoke-tested, whatever happened to the others.
        let smoke = run_smoke(&installer, &sets, &outcomes).await;
        let mut diagnostics = Vec::new();
        let failing: BTreeSet<String> = outcomes
            .iter()
            .filter(|o| !o.problems.is_empty())
            .map(|o| o.namespace.clone())
            .chain(
                smoke
                    .iter()
                    .filter(|s| !s.ok)
                    .filter_map(|s| sets.iter().find(|b| b.bundle == s.addon))
                    .map(|b| b.namespace.clone()),
            )
            .collect();
        for ns in failing {
            diagnostics.extend(installer.diagnostics(&ns).await);
        }
        outcomes.sort_by(|a, b| a.bundle.cmp(&b.bundle));
        Ok::<_, String>((outcomes, smoke, diagnostics))
    }
    .await;

    // Always clean up, whatever happened above (unless asked to keep it).
    let mut deleted = false;
    let mut kept_kubeconfig = None;
    if let Some(c) = &cluster {
        if req.keep {
            tracing::info!(cluster = %c.name, "keeping the cluster (--keep); delete it with `kind delete cluster --name {}`", c.name);
            // The run's kubeconfig stays with the cluster; the rest of the directory is
            // only kind.yaml.
            kept_kubeconfig = Some(work.keep().join("kubeconfig"));
        } else {
            match c.delete().await {
                Ok(()) => deleted = true,
                Err(e) => tracing::error!("{e}"),
            }
        }
    }
    let (bundles_out, smoke, diagnostics) = run.map_err(JobError::Git)?;
    let ok = bundles_out.iter().all(|b| b.problems.is_empty()) && smoke.iter().all(|s| s.ok);
    Ok(E2eReport {
        branch: name,
        kubernetes: branch.kubernetes.to_string(),
        image: branch.kind_image.clone(),
        cluster: cluster.map(|c| c.name.clone()),
        bundles: bundles_out,
        smoke,
        diagnostics,
        deleted,
        kubeconfig: kept_kubeconfig,
        ok,
    })
}
