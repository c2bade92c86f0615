//! `ake-bot e2e`: one branch on a kind cluster.
//!
//! `--work-tree` (with `--branch`) says the work tree holds the branch, as `render --branch`
//! does: the workspace then reads that branch from the work tree, so a pull request's merge
//! checkout is installed as the branch it targets (see `dispatch`). `--dry-run` prints what
//! would be installed and from where, and needs neither kind nor a container engine.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::E2eArgs;
use crate::cluster::kind;
use crate::git::Tree;
use crate::jobs::e2e::{self, E2eReport, E2eRequest};
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::workspace::{Origin, Settings, View, Workspace};
use crate::ExitStatus;

pub async fn run(settings: Settings, args: &E2eArgs) -> Result<Reply, JobError> {
    let ws = super::open(settings, View::Local).await?;
    if args.dry_run {
        let plan = plan(&ws, args).await?;
        let text = plan_text(&plan);
        return Ok(Reply::new("plan", &plan, text));
    }
    let req = E2eRequest {
        branch: args.branch.clone(),
        keep: args.keep,
        bundle_timeout: Duration::from_secs(args.timeout),
        kubeconfig: args.kubeconfig.clone(),
        kind: args.kind.clone(),
    };
    // Missing kind or container engine, bad config, branch not cut: could not run (exit 2).
    let report = e2e::e2e(&ws, &req).await?;
    let status = if report.ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    };
    Ok(Reply::new("report", &report, text(&report, args)).status(status))
}

/// What `e2e` would install: the same branch, tree and renders `jobs::e2e` reads (the
/// branch it defaults to, `Workspace::branch_files`, the committed renders).
#[derive(Debug, Clone, Serialize)]
pub struct E2ePlan {
    pub branch: String,
    pub kubernetes: String,
    pub image: String,
    /// Where the branch's renders are read from.
    pub origin: Origin,
    /// `work tree`, `origin/release-1.32`, `release-1.32`.
    pub from: String,
    /// The commit, when read from git.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The kind cluster that would be created (`None` with `--kubeconfig`).
    pub cluster: Option<String>,
    /// `e2e/<branch>/kind.yaml`, when the branch has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind_config: Option<PathBuf>,
    pub bundles: Vec<PlannedBundle>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedBundle {
    pub bundle: String,
    pub namespace: String,
    /// The render, relative to the repository root.
    pub file: PathBuf,
    pub objects: usize,
    /// sha256 of the render's text, to compare with a file.
    pub sha256: String,
}

async fn plan(ws: &Workspace, args: &E2eArgs) -> Result<E2ePlan, JobError> {
    let (files, renders) = e2e::load(ws, args.branch.as_deref()).await?;
    let branch = files.branch.clone();
    let name = branch.name.to_string();
    let bundles = renders
        .iter()
        .map(|r| PlannedBundle {
            bundle: r.bundle.bundle.name.to_string(),
            namespace: r.bundle.bundle.namespace.clone(),
            file: r.file.clone(),
            objects: r.manifests.objects().len(),
            sha256: hex::encode(Sha256::digest(r.text.as_bytes())),
        })
        .collect();
    let kind_config = e2e::kind_config(&files).await?.map(|(rel, _)| rel);
    Ok(E2ePlan {
        kubernetes: branch.kubernetes.to_string(),
        image: branch.kind_image.clone(),
        from: files.origin.label(),
        origin: files.origin,
        commit: match &files.tree {
            Some(Tree::Commit { commit, .. }) => Some(commit.clone()),
            _ => None,
        },
        cluster: args.kubeconfig.is_none().then(|| kind::cluster_name(&name)),
        kind_config,
        bundles,
        branch: name,
    })
}

fn plan_text(p: &E2ePlan) -> String {
    let mut out = Text::default();
    let commit = p
        .commit
        .as_deref()
        .map_or(String::new(), |c| format!(" at {c:.12}"));
    out.line(format!(
        "━━━━ {} (Kubernetes {}, {}) from {}{commit} ━━━━",
        p.branch, p.kubernetes, p.image, p.from
    ));
    match &p.cluster {
        Some(c) => out.line(format!(
            "  kind cluster {c} (context kind-{c}){}",
            p.kind_config
                .as_ref()
                .map_or(String::new(), |k| format!(" with {}", k.display()))
        )),
        None => out.line("  into the cluster of --kubeconfig"),
    }
    for b in &p.bundles {
        out.line(format!(
            "  {:<24} {:>4} objects  {}  sha256 {:.12}",
            b.bundle,
            b.objects,
            b.file.display(),
            b.sha256
        ));
    }
    out.line("(dry run: no cluster created, nothing applied)");
    out.into_string()
}

fn text(report: &E2eReport, args: &E2eArgs) -> String {
    let mut out = Text::default();
    out.line(format!(
        "━━━━ {} (Kubernetes {}, {}) on {} ━━━━",
        report.branch,
        report.kubernetes,
        report.image,
        report.cluster.as_deref().unwrap_or("the given cluster")
    ));
    for b in &report.bundles {
        let state = if b.problems.is_empty() {
            "ready"
        } else {
            "NOT READY"
        };
        out.line(format!(
            "  {:<24} {state} ({} objects applied)",
            b.bundle, b.applied
        ));
        for p in &b.problems {
            out.line(format!("      {p}"));
        }
    }
    for s in &report.smoke {
        let state = if s.ok { "ok  " } else { "FAIL" };
        out.line(format!("  smoke {state} {}: {}", s.addon, s.check));
        if !s.ok {
            out.line(format!("      {}", s.message));
        }
    }
    if !report.diagnostics.is_empty() {
        out.line("  diagnostics:");
        for d in &report.diagnostics {
            out.line(format!("    {d}"));
        }
    }
    if let (Some(c), false) = (&report.cluster, report.deleted) {
        for l in kept_cluster(c, report.kubeconfig.as_deref(), &args.kind) {
            out.line(l);
        }
    }
    out.into_string()
}

/// How to reach a kind cluster that was kept, and how to remove it: the run's own
/// kubeconfig (kept with the cluster) or, when it is not at hand, the one kind writes on request.
pub(crate) fn kept_cluster(
    name: &str,
    kubeconfig: Option<&std::path::Path>,
    kind: &std::path::Path,
) -> Vec<String> {
    let kind = kind.display();
    let mut out = vec![format!("  the cluster {name} was kept:")];
    match kubeconfig {
        Some(k) => {
            out.push(format!("    export KUBECONFIG={}", k.display()));
            out.push("    kubectl get pods -A".to_string());
        }
        None => {
            out.push(format!("    {kind} export kubeconfig --name {name}    # adds context kind-{name} to ~/.kube/config"));
            out.push(format!("    kubectl --context kind-{name} get pods -A"));
        }
    }
    out.push(format!("    {kind} export logs ./kind-logs --name {name}"));
    out.push(format!(
        "    {kind} delete cluster --name {name}    # when done"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_cluster_says_how_to_reach_and_delete_it() {
        let kind = std::path::Path::new("kind");
        let kept = std::path::Path::new("/tmp/ake-bot-e2e-x/kubeconfig");
        let lines = kept_cluster("ake-bot-release-1-32", Some(kept), kind).join("\n");
        for needle in [
            "export KUBECONFIG=/tmp/ake-bot-e2e-x/kubeconfig",
            "kind delete cluster --name ake-bot-release-1-32",
        ] {
            assert!(lines.contains(needle), "{needle} in:\n{lines}");
        }
        let lines = kept_cluster("ake-bot-release-1-32", None, kind).join("\n");
        for needle in [
            "kind export kubeconfig --name ake-bot-release-1-32",
            "kubectl --context kind-ake-bot-release-1-32",
            "kind delete cluster --name ake-bot-release-1-32",
        ] {
            assert!(lines.contains(needle), "{needle} in:\n{lines}");
        }
    }
}
