//! Per-addon smoke checks, `e2e/<addon>/smoke.yaml`: after the bundles are ready, prove each
//! addon does its job (cert-manager issues a certificate, Argo CD's server answers,
//! Prometheus scrapes targets).
//!
//! ```yaml
//! checks:
//!   - name: issues a certificate from a self-signed issuer
//!     apply: |            # objects to create first (server-side apply)
//!       apiVersion: cert-manager.io/v1
//!       kind: Issuer
//!       ...
//!     wait:               # then these must reach condition=True
//!       - { apiVersion: cert-manager.io/v1, kind: Certificate, namespace: cert-manager, name: smoke, condition: Ready }
//!   - name: the server answers
//!     get: /api/v1/namespaces/argocd/services/http:argo-cd-argocd-server:80/proxy/healthz
//!     expect: ok          # a substring of the response body
//! ```

use serde::Deserialize;

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeFile {
    /// The checks, run in order. Required.
    pub checks: Vec<SmokeCheck>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeCheck {
    /// What the check proves, as a sentence. Required.
    pub name: String,
    /// YAML documents to apply before waiting. Default: none.
    #[serde(default)]
    pub apply: Option<String>,
    /// Objects that must reach `condition` = True. Default: none.
    #[serde(default)]
    pub wait: Vec<WaitFor>,
    /// An API server path to GET (service proxies reach in-cluster HTTP). Default: none.
    #[serde(default)]
    pub get: Option<String>,
    /// A substring the GET's response must contain. Default: any successful response.
    #[serde(default)]
    pub expect: Option<String>,
    /// How long the check may take, in seconds. Default: 120.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    120
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WaitFor {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
    pub condition: String,
}

pub fn parse(file: &std::path::Path, text: &str) -> Result<SmokeFile, String> {
    crate::yaml::from_str::<serde_json::Value>(text)
        .map_err(|e| format!("{}: {}", file.display(), e.message))
        .and_then(|v| serde_json::from_value(v).map_err(|e| format!("{}: {e}", file.display())))
}
