//! The real `helm` binary. There is no faithful Go-template engine in Rust, and peers (Argo CD,
//! Renovate) shell out too. Arguments are an argv vector, never a shell string; helm runs with
//! private config/cache/data homes so the user's repositories and plugins cannot leak in.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(300);

/// A located helm binary.
#[derive(Debug, Clone)]
pub struct Helm {
    bin: PathBuf,
}

/// What to render.
#[derive(Debug, Clone)]
pub struct TemplateArgs<'a> {
    pub release: &'a str,
    pub chart: &'a Path,
    pub namespace: &'a str,
    pub kube_version: &'a str,
    pub api_versions: &'a [String],
    pub values_file: Option<&'a Path>,
    pub include_crds: bool,
}

impl Helm {
    /// `$HELM` if set, else the first `helm` on `PATH`.
    pub fn locate() -> Result<Helm, String> {
        let bin = locate_tool("HELM", "helm").ok_or_else(|| {
            "helm not found: install Helm (https://helm.sh/docs/intro/install/) or set $HELM to its path".to_string()
        })??;
        Ok(Helm { bin })
    }

    pub fn path(&self) -> &Path {
        &self.bin
    }

    /// `helm version --short`, for provenance headers and benchmarks.
    pub async fn version(&self) -> Result<String, String> {
        let home = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let out = self
            .command(home.path())
            .arg("version")
            .arg("--short")
            .output()
            .await;
        match out {
            Ok(o) if o.status.success() => {
                Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
            }
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
            Err(e) => Err(format!("cannot run {}: {e}", self.bin.display())),
        }
    }

    /// Run `helm template`, returning its stdout.
    pub async fn template(&self, args: &TemplateArgs<'_>) -> Result<String, String> {
        let home = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let mut cmd = self.command(home.path());
        cmd.arg("template")
            .arg(args.release)
            .arg(args.chart)
            .arg("--namespace")
            .arg(args.namespace)
            .arg("--kube-version")
            .arg(args.kube_version);
        for api in args.api_versions {
            cmd.arg("--api-versions").arg(api);
        }
        if let Some(values) = args.values_file {
            cmd.arg("--values").arg(values);
        }
        if args.include_crds {
            cmd.arg("--include-crds");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| format!("helm template did not finish within {}s", TIMEOUT.as_secs()))?
            .map_err(|e| format!("helm template failed to run: {e}"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            // helm's stderr ends with a usage hint that does not help here.
            let msg: Vec<&str> = stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("Use --debug"))
                .collect();
            return Err(format!("helm template failed: {}", msg.join(" ")));
        }
        String::from_utf8(out.stdout).map_err(|_| "helm template printed invalid UTF-8".to_string())
    }

    fn command(&self, home: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.kill_on_drop(true)
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env_remove("HELM_KUBECONTEXT")
            .env_remove("HELM_NAMESPACE")
            .env_remove("HELM_DRIVER");
        cmd
    }
}

/// A tool named by the environment variable `var` (which must then be a file), else the first
/// `name` on `PATH`; `None` when neither.
pub(crate) fn locate_tool(var: &str, name: &str) -> Option<Result<PathBuf, String>> {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(v);
        return Some(if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!(
                "${var} points at {}, which is not a file",
                bin.display()
            ))
        });
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .map(Ok)
}
