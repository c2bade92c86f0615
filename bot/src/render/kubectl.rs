//! The real `kubectl`, for `kubectl kustomize` (kustomize is built into kubectl, so one binary
//! renders tenants' Kustomize overlays exactly as their pipelines do). Arguments are an argv
//! vector; kubectl runs with a private `HOME` and no kubeconfig, and `kustomize` never
//! contacts a cluster.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(300);

/// A located kubectl binary.
#[derive(Debug, Clone)]
pub struct Kubectl {
    bin: PathBuf,
}

impl Kubectl {
    /// `$KUBECTL` if set, else the first `kubectl` on `PATH`.
    pub fn locate() -> Result<Kubectl, String> {
        let bin = super::helm::locate_tool("KUBECTL", "kubectl")
            .ok_or_else(|| "kubectl not found (set $KUBECTL)".to_string())??;
        Ok(Kubectl { bin })
    }

    /// A kubectl at `bin` (not checked until it runs).
    pub fn at(bin: &Path) -> Kubectl {
        Kubectl {
            bin: bin.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.bin
    }

    /// `kubectl kustomize DIR`, returning its stdout; errors are one line.
    pub async fn kustomize(&self, dir: &Path) -> Result<String, String> {
        let home = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let child = tokio::process::Command::new(&self.bin)
            .kill_on_drop(true)
            .arg("kustomize")
            .arg(dir)
            .env("HOME", home.path())
            .env("KUBECONFIG", home.path().join("no-kubeconfig"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| {
                format!(
                    "kubectl kustomize did not finish within {}s",
                    TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| format!("kubectl kustomize failed to run: {e}"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let msg: Vec<&str> = stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            return Err(format!("kubectl kustomize failed: {}", msg.join(" ")));
        }
        String::from_utf8(out.stdout)
            .map_err(|_| "kubectl kustomize printed invalid UTF-8".to_string())
    }
}
