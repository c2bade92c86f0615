//! kind clusters through the `kind` CLI: there is no library API, and the CLI is what a
//! developer runs by hand to look at a kept cluster.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

/// Fail fast, with one line, when this machine cannot run kind clusters.
pub async fn preflight(kind: &Path) -> Result<(), String> {
    let hint = "e2e needs kind and a container engine (GitHub-hosted runners have both); `ake-bot validate` is the offline check";
    if !runs(Command::new(kind).arg("version")).await {
        return Err(format!(
            "{} not found or not runnable: {hint}",
            kind.display()
        ));
    }
    let provider = std::env::var("KIND_EXPERIMENTAL_PROVIDER").unwrap_or_else(|_| "docker".into());
    if !runs(Command::new(&provider).arg("info")).await {
        return Err(format!(
            "no container engine: `{provider} info` failed (is the daemon running?): {hint}"
        ));
    }
    Ok(())
}

async fn runs(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// A kind cluster this run created; [`Cluster::delete`] removes it.
pub struct Cluster {
    pub name: String,
    pub kubeconfig: PathBuf,
    kind: PathBuf,
}

/// `kind create cluster` with the branch's node image (and `config`, if the branch has one),
/// writing its kubeconfig to `kubeconfig` rather than the user's.
pub async fn create(
    kind: &Path,
    name: &str,
    image: &str,
    config: Option<&Path>,
    kubeconfig: &Path,
) -> Result<Cluster, String> {
    let mut cmd = Command::new(kind);
    cmd.args([
        "create", "cluster", "--name", name, "--image", image, "--wait", "180s",
    ])
    .arg("--kubeconfig")
    .arg(kubeconfig);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let out = cmd
        .output()
        .await
        .map_err(|e| format!("running kind: {e}"))?;
    let cluster = Cluster {
        name: name.to_string(),
        kubeconfig: kubeconfig.to_path_buf(),
        kind: kind.to_path_buf(),
    };
    if !out.status.success() {
        // A half-created cluster is still a cluster: remove it before reporting.
        let _ = cluster.delete().await;
        return Err(format!(
            "kind create cluster {name} ({image}) failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(cluster)
}

impl Cluster {
    pub async fn delete(&self) -> Result<(), String> {
        let out = Command::new(&self.kind)
            .args(["delete", "cluster", "--name", &self.name])
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .output()
            .await
            .map_err(|e| format!("running kind: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "kind delete cluster {} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

/// A cluster name kind accepts, from the branch: `ake-bot-release-1-32`.
pub fn cluster_name(branch: &str) -> String {
    let mut s: String = branch
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(40);
    format!("ake-bot-{}", s.trim_matches('-'))
}
