//! Render a bundle for one branch: values template → `helm template` for the branch's
//! Kubernetes minor → normalised manifests, byte-identical for the same input.

mod helm;
mod kubectl;
mod values;

use std::path::Path;

pub use helm::{Helm, TemplateArgs};
pub use kubectl::Kubectl;
pub use values::{render_values, ChartContext, KubeContext, ValuesContext};

use crate::config::{Bundle, DeployTarget, LoadedBundle, TrainBranch, UpstreamSource};
use crate::manifest::Manifests;
use crate::upstream::{ChartEntry, Fetcher, Release};

/// Why a render failed; the caller adds addon and branch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("values template {template}: {message}")]
    Values { template: String, message: String },
    #[error("{0}")]
    Helm(String),
    #[error("helm output is not usable: {0}")]
    Output(String),
    #[error("{0}")]
    Io(String),
}

/// Why a release could not be rendered: its archive (fetching or checking it), or rendering.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReleaseError {
    #[error("{0}")]
    Fetch(#[from] crate::upstream::UpstreamError),
    #[error("{0}")]
    Render(String),
}

/// One bundle on one branch at one chart version.
#[derive(Debug, Clone, Copy)]
pub struct RenderInput<'a> {
    pub bundle: &'a Bundle,
    pub values_template: Option<&'a str>,
    pub branch: &'a TrainBranch,
    pub chart: &'a ChartEntry,
    /// The verified chart archive.
    pub chart_path: &'a Path,
}

/// Normalised output: parsed objects and the exact text to commit.
#[derive(Debug)]
pub struct Rendered {
    pub manifests: Manifests,
    pub text: String,
}

/// The context a values template sees for `input`.
pub fn values_context(input: &RenderInput<'_>) -> ValuesContext {
    context_for(
        input.bundle,
        input.branch,
        ChartContext {
            name: input.chart.name.clone(),
            version: input.chart.version.clone(),
            app_version: input.chart.app_version.clone(),
        },
    )
}

/// The context for `bundle` on `branch` at `chart`.
pub fn context_for(bundle: &Bundle, branch: &TrainBranch, chart: ChartContext) -> ValuesContext {
    let k = branch.kubernetes;
    ValuesContext {
        branch: branch.name.to_string(),
        kube: KubeContext {
            minor: k.to_string(),
            version: k.render_version(),
            major_number: k.major,
            minor_number: k.minor,
        },
        addon: bundle.name.to_string(),
        namespace: bundle.namespace.clone(),
        release: bundle.release.clone(),
        deploy_to: match bundle.deploy_to {
            DeployTarget::Management => "management",
            DeployTarget::Tenant => "tenant",
        }
        .to_string(),
        chart,
    }
}

/// Fetch (verified) and render `release` of `bundle` for `branch`, at most one helm at a time
/// per permit. Errors are one line naming the chart and version; callers add addon and branch.
pub async fn render_release(
    fetcher: &Fetcher,
    helm: &Helm,
    permits: &tokio::sync::Semaphore,
    bundle: &LoadedBundle,
    branch: &TrainBranch,
    release: &Release,
) -> Result<Rendered, ReleaseError> {
    let b = &bundle.bundle;
    let chart_path = match &b.source {
        UpstreamSource::Helm(h) => fetcher.chart(&h.repo, &release.entry).await?,
        UpstreamSource::Oci(o) => fetcher.oci_archive(&o.reference, &release.entry).await?,
        UpstreamSource::GithubRelease(g) => {
            let src = crate::upstream::github_source(g, b.prerelease);
            let bytes = fetcher.github_asset(&src, &release.entry.version).await?;
            return released_manifest(b, branch, &src, release, bytes)
                .await
                .map_err(|e| {
                    ReleaseError::Render(format!(
                        "reading {} {} of {}: {e}",
                        release.entry.name, release.version, src.repo
                    ))
                });
        }
    };
    let _permit = permits
        .acquire()
        .await
        .expect("the semaphore is never closed");
    render(
        helm,
        RenderInput {
            bundle: b,
            values_template: bundle.values_template.as_deref(),
            branch,
            chart: &release.entry,
            chart_path: &chart_path,
        },
    )
    .await
    .map_err(|e| {
        ReleaseError::Render(format!(
            "rendering {} {}: {e}",
            release.entry.name, release.version
        ))
    })
}

/// A manifest released as-is (a GitHub release asset): no helm, no values; the same
/// normalisation and header as a chart's render, so diffs, validation and e2e treat it alike.
async fn released_manifest(
    bundle: &Bundle,
    branch: &TrainBranch,
    src: &crate::upstream::github_release::GithubReleaseSource,
    release: &Release,
    bytes: Vec<u8>,
) -> Result<Rendered, RenderError> {
    let text = String::from_utf8(bytes)
        .map_err(|_| RenderError::Output("the asset is not UTF-8 text".into()))?;
    let header = format!(
        "# Generated by ake-bot from {} — do not edit; run `ake-bot render`.\n# release asset {} {} of {}, Kubernetes {}, branch {}\n",
        bundle.dir.display(),
        release.entry.name,
        release.entry.version,
        src.repo,
        branch.kubernetes,
        branch.name,
    );
    normalise(header, text).await
}

/// Render `input` with `helm`.
pub async fn render(helm: &Helm, input: RenderInput<'_>) -> Result<Rendered, RenderError> {
    let values = match (input.values_template, &input.bundle.values) {
        (Some(template), Some(path)) => {
            let name = path.display().to_string();
            let out =
                render_values(&name, template, &values_context(&input)).map_err(|message| {
                    RenderError::Values {
                        template: name.clone(),
                        message,
                    }
                })?;
            Some(out)
        }
        _ => None,
    };
    let values_file = match &values {
        Some(text) => {
            let mut f = tempfile::Builder::new()
                .prefix("ake-bot-values-")
                .suffix(".yaml")
                .tempfile()
                .map_err(|e| RenderError::Io(format!("cannot write the values file: {e}")))?;
            std::io::Write::write_all(&mut f, text.as_bytes())
                .map_err(|e| RenderError::Io(format!("cannot write the values file: {e}")))?;
            Some(f)
        }
        None => None,
    };
    let kube_version = input.branch.kubernetes.render_version();
    let api_versions = crate::apis::api_versions(input.branch.kubernetes);
    let raw = helm
        .template(&TemplateArgs {
            release: &input.bundle.release,
            chart: input.chart_path,
            namespace: &input.bundle.namespace,
            kube_version: &kube_version,
            api_versions: &api_versions,
            values_file: values_file.as_ref().map(|f| f.path()),
            include_crds: input.bundle.include_crds,
        })
        .await
        .map_err(RenderError::Helm)?;
    drop(values_file);
    normalise(header(&input), raw).await
}

/// Parse `raw` into objects and write them canonically under `header`. Parsing multi-MB
/// output is CPU work: it runs off the async workers.
async fn normalise(header: String, raw: String) -> Result<Rendered, RenderError> {
    tokio::task::spawn_blocking(move || {
        let manifests = Manifests::parse(&raw).map_err(|e| RenderError::Output(e.to_string()))?;
        let text = format!("{header}{}", manifests.to_canonical_yaml());
        Ok(Rendered { manifests, text })
    })
    .await
    .map_err(|e| RenderError::Io(format!("normaliser task failed: {e}")))?
}

/// The provenance header of a committed render. It names what produced the file but not the
/// bot's own version, so upgrading the bot does not rewrite every bundle.
pub fn header(input: &RenderInput<'_>) -> String {
    format!(
        "# Generated by ake-bot from {} — do not edit; run `ake-bot render`.\n# chart {} {}, Kubernetes {}, branch {}\n",
        input.bundle.dir.display(),
        input.chart.name,
        input.chart.version,
        input.branch.kubernetes,
        input.branch.name,
    )
}
