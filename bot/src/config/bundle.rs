//! `bundles/<addon>/bundle.yaml`: one addon, where it comes from and what the bot may do with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use super::error::{did_you_mean, ConfigError};
use crate::model::AddonName;
use crate::version::{Constraint, Version};

/// The file name of a bundle manifest inside `bundles/<addon>/`.
pub const BUNDLE_FILE: &str = "bundle.yaml";
/// The default values template name.
pub const DEFAULT_VALUES: &str = "values.yaml.j2";
/// Where the rendered manifests of a bundle are committed, relative to its directory.
pub const RENDERED_FILE: &str = "rendered/manifests.yaml";

/// Where the addon is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DeployTarget {
    /// The platform's management cluster.
    Management,
    /// Every tenant cluster.
    Tenant,
}

/// Where upstream publishes the addon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamSource {
    /// A classic Helm chart repository (`index.yaml` over HTTP(S), or a mirror of one).
    Helm(HelmSource),
    /// A chart in an OCI registry (`oci://host/path/chart`), versions from its tags.
    Oci(OciSource),
    /// A manifest attached to each GitHub release of a repository (no chart).
    GithubRelease(GithubReleaseSource),
}

/// A chart in an OCI registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciSource {
    /// `oci://registry/repository/path/chart`, as `helm pull` takes it (no tag).
    pub reference: String,
    /// The last path segment: the chart's name.
    pub chart: String,
}

/// A manifest published as an asset of each GitHub release.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubReleaseSource {
    /// `owner/name` of the GitHub repository. Required.
    pub repo: String,
    /// The asset's name, or a glob (`*`, `?`) matching exactly one asset of a release. Required.
    pub asset: String,
    /// An asset in `sha256sum` format holding the asset's checksum, for releases where GitHub
    /// reports no digest. Default: none (GitHub's digest is required then).
    #[serde(default)]
    pub checksum: Option<String>,
}

/// `source:` as written: exactly one key naming the kind of source. (A struct rather than an
/// enum: YAML libraries map enums to `!tags`, which nobody writes by hand.)
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Source",
    description = "Where upstream publishes the addon: exactly one key naming the kind of source.",
    extend("oneOf" = [
        {"required": ["helm"]},
        {"required": ["oci"]},
        {"required": ["github_release"]}
    ])
)]
struct RawSource {
    // `with`: the schema says what the key holds when present (no `null`); `oneOf` above says
    // exactly one is.
    /// `helm: {repo, chart}`: a Helm chart repository.
    #[serde(default)]
    #[schemars(with = "HelmSource")]
    helm: Option<HelmSource>,
    /// `oci: oci://registry/path/chart`: a chart in an OCI registry.
    #[serde(default)]
    #[schemars(with = "String")]
    oci: Option<String>,
    /// `github_release: {repo, asset, checksum}`: a manifest attached to each GitHub release.
    #[serde(default)]
    #[schemars(with = "GithubReleaseSource")]
    github_release: Option<GithubReleaseSource>,
}

/// The kinds of source, as `source:` names them.
const SOURCE_KINDS: &[&str] = &["helm", "oci", "github_release"];

/// A chart in a classic Helm chart repository.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HelmSource {
    /// Repository URL, as in `helm repo add NAME URL`. Required.
    pub repo: String,
    /// Chart name in that repository. Required.
    pub chart: String,
}

/// The file as written; unknown keys are errors. The doc comments of these types are the
/// descriptions in `schema/bundle.schema.json` (see `schema.rs`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBundle {
    /// Free text shown in reports. Default: empty.
    #[serde(default)]
    description: String,
    /// Upstream source. Required.
    source: RawSource,
    /// The pinned chart version, exactly as upstream writes it (`v1.16.5`, `7.9.1`). Required.
    version: String,
    /// The digest of what the pin names, `sha256:<hex>`: the OCI manifest's for an `oci`
    /// source, the asset's for a `github_release` one. Written by the bot with the version; a
    /// registry or release that serves other bytes under the same version is refused.
    digest: Option<String>,
    /// The range the bot may move the pin within (Helm constraint syntax). Required.
    allowed: String,
    /// Whether pre-release versions may be chosen. Default: false.
    #[serde(default)]
    prerelease: bool,
    /// Namespace the addon is installed into. Required.
    namespace: String,
    /// Helm release name. Default: the addon name.
    release: Option<String>,
    /// `management` or `tenant`. Required.
    deploy_to: DeployTarget,
    /// The minijinja values template, relative to the bundle directory.
    /// Default: `values.yaml.j2` (none if that file does not exist).
    values: Option<PathBuf>,
    /// Render CRDs (`helm template --include-crds`). Default: true.
    #[serde(default = "yes")]
    include_crds: bool,
    /// Policy constraints (by name, under `policies/`) this addon is exempt from, each with the
    /// reason the team accepts the finding: `{k8srequiredprobes: "Jobs have no probes"}`.
    /// Shown in `validate` and in PR bodies. Default: none.
    #[serde(default)]
    policy_exemptions: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// What a key's value must be.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Flag,
    Map,
}

/// The keys of a bundle manifest (the fields of `RawBundle`), what each holds, and whether it
/// is required.
const FIELDS: &[(&str, Kind, bool)] = &[
    ("description", Kind::Text, false),
    ("source", Kind::Map, true),
    ("version", Kind::Text, true),
    ("digest", Kind::Text, false),
    ("allowed", Kind::Text, true),
    ("prerelease", Kind::Flag, false),
    ("namespace", Kind::Text, true),
    ("release", Kind::Text, false),
    ("deploy_to", Kind::Text, true),
    ("values", Kind::Text, false),
    ("include_crds", Kind::Flag, false),
    ("policy_exemptions", Kind::Map, false),
];
const HELM_FIELDS: &[(&str, Kind, bool)] =
    &[("repo", Kind::Text, true), ("chart", Kind::Text, true)];
const GITHUB_RELEASE_FIELDS: &[(&str, Kind, bool)] = &[
    ("repo", Kind::Text, true),
    ("asset", Kind::Text, true),
    ("checksum", Kind::Text, false),
];

/// Every problem of shape at once — unknown keys, values of the wrong type (a version YAML read
/// as a number), missing fields — each at its line, before the fields are read one by one.
/// Syntax errors are left to the parser, which knows where they are.
fn scan(file: &Path, text: &str) -> Vec<ConfigError> {
    let Ok(serde_json::Value::Object(top)) = crate::yaml::from_str::<serde_json::Value>(text)
    else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let source = fields(file, text, &top, FIELDS, "bundle.yaml", &mut errors);
    if let Some(serde_json::Value::Object(source)) = source.get("source") {
        for key in source
            .keys()
            .filter(|k| !SOURCE_KINDS.contains(&k.as_str()))
        {
            let message =
                format!("unknown field `{key}`, expected one of `helm`, `oci`, `github_release`");
            let mut e = ConfigError::new(file, message.clone()).at_key(text, key);
            if let Some(h) = did_you_mean(&message) {
                e = e.hint(h);
            }
            errors.push(e);
        }
        let kinds: Vec<&str> = SOURCE_KINDS
            .iter()
            .copied()
            .filter(|k| source.contains_key(*k))
            .collect();
        if kinds.len() > 1 {
            errors.push(
                ConfigError::new(
                    file,
                    format!(
                        "source names {} kinds of source ({}); a bundle has exactly one",
                        kinds.len(),
                        kinds.join(", ")
                    ),
                )
                .at_key(text, "source"),
            );
        }
        match source.get("helm") {
            Some(serde_json::Value::Object(helm)) => {
                fields(file, text, helm, HELM_FIELDS, "source.helm", &mut errors);
            }
            Some(_) => errors.push(
                ConfigError::new(file, "source.helm must be a mapping with repo and chart")
                    .at_key(text, "helm"),
            ),
            None => {}
        }
        match source.get("oci") {
            Some(serde_json::Value::String(_)) | None => {}
            Some(_) => errors.push(
                ConfigError::new(
                    file,
                    "source.oci must be a reference such as oci://quay.io/jetstack/charts/cert-manager",
                )
                .at_key(text, "oci"),
            ),
        }
        match source.get("github_release") {
            Some(serde_json::Value::Object(gh)) => {
                fields(
                    file,
                    text,
                    gh,
                    GITHUB_RELEASE_FIELDS,
                    "source.github_release",
                    &mut errors,
                );
            }
            Some(_) => errors.push(
                ConfigError::new(
                    file,
                    "source.github_release must be a mapping with repo and asset",
                )
                .at_key(text, "github_release"),
            ),
            None => {}
        }
        if kinds.is_empty() && source.keys().all(|k| SOURCE_KINDS.contains(&k.as_str())) {
            errors.push(
                ConfigError::new(
                    file,
                    "source: name the kind of source: `helm:`, `oci:` or `github_release:`",
                )
                .at_key(text, "source")
                .hint("see the bundle.yaml example in README.md"),
            );
        }
    }
    if let Some(serde_json::Value::String(d)) = top.get("deploy_to") {
        if !matches!(d.as_str(), "management" | "tenant") {
            let message = format!("unknown variant `{d}`, expected one of `management`, `tenant`");
            let mut e = ConfigError::new(file, message.clone()).at_key(text, "deploy_to");
            if let Some(h) = did_you_mean(&message) {
                e = e.hint(h);
            }
            errors.push(e);
        }
    }
    // In file order; problems of the file as a whole (a missing field) last.
    errors.sort_by_key(|e| (e.line.unwrap_or(usize::MAX), e.column.unwrap_or(0)));
    errors
}

/// Check `map`'s keys and value types against `spec`; returns `map` for nested checks.
fn fields<'m>(
    file: &Path,
    text: &str,
    map: &'m serde_json::Map<String, serde_json::Value>,
    spec: &[(&str, Kind, bool)],
    within: &str,
    errors: &mut Vec<ConfigError>,
) -> &'m serde_json::Map<String, serde_json::Value> {
    let expected = spec
        .iter()
        .map(|(k, _, _)| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    // A misspelt key is one mistake: its "did you mean" covers the missing field.
    let mut meant = Vec::new();
    for (key, value) in map {
        let Some((_, kind, _)) = spec.iter().find(|(k, _, _)| k == key) else {
            let message = format!("unknown field `{key}`, expected one of {expected}");
            let mut e = ConfigError::new(file, message.clone()).at_key(text, key);
            if let Some(h) = did_you_mean(&message) {
                meant.extend(h.split('`').nth(1).map(str::to_string));
                e = e.hint(h);
            }
            errors.push(e);
            continue;
        };
        let found = match value {
            serde_json::Value::String(_) if *kind == Kind::Text => continue,
            serde_json::Value::Bool(_) if *kind == Kind::Flag => continue,
            serde_json::Value::Object(_) if *kind == Kind::Map => continue,
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Null => "empty",
            serde_json::Value::Array(_) => "a list",
            serde_json::Value::Object(_) => "a mapping",
            serde_json::Value::String(_) => "text",
        };
        let wanted = match kind {
            Kind::Text => "a string",
            Kind::Flag => "true or false",
            Kind::Map => "a mapping",
        };
        let raw = raw_value(text, key).unwrap_or_default();
        let mut e = ConfigError::new(
            file,
            format!("`{key}` is {found} here ({raw}), but must be {wanted}"),
        )
        .at_key(text, key);
        if *kind == Kind::Text && matches!(value, serde_json::Value::Number(_)) {
            // YAML reads an unquoted 1.10 as the number 1.1: the pin would silently change.
            e = e.hint(format!("quote it: {key}: \"{raw}\""));
        }
        errors.push(e);
    }
    for (key, _, required) in spec {
        if *required && !map.contains_key(*key) && !meant.iter().any(|m| m == key) {
            errors.push(
                ConfigError::new(file, format!("missing field `{key}` in {within}"))
                    .hint("see the bundle.yaml example in README.md"),
            );
        }
    }
    map
}

/// The manifest without the keys `scan` does not know, if what is left reads.
fn without_unknown_keys(text: &str) -> Option<RawBundle> {
    let mut v: serde_json::Value = crate::yaml::from_str(text).ok()?;
    let top = v.as_object_mut()?;
    top.retain(|k, _| FIELDS.iter().any(|(f, _, _)| f == k));
    if let Some(source) = top.get_mut("source").and_then(|s| s.as_object_mut()) {
        source.retain(|k, _| SOURCE_KINDS.contains(&k.as_str()));
        if let Some(helm) = source.get_mut("helm").and_then(|h| h.as_object_mut()) {
            helm.retain(|k, _| HELM_FIELDS.iter().any(|(f, _, _)| f == k));
        }
        if let Some(gh) = source
            .get_mut("github_release")
            .and_then(|h| h.as_object_mut())
        {
            gh.retain(|k, _| GITHUB_RELEASE_FIELDS.iter().any(|(f, _, _)| f == k));
        }
    }
    serde_json::from_value(v).ok()
}

/// The text after `key:` on the line that sets it (what the author wrote, before YAML read
/// it as a number).
fn raw_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l
            .trim_start()
            .strip_prefix(key)?
            .trim_start()
            .strip_prefix(':')?;
        let v = rest.split(" #").next().unwrap_or(rest).trim();
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// A validated bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub name: AddonName,
    /// `bundles/<addon>` relative to the repository root.
    pub dir: PathBuf,
    pub description: String,
    pub source: UpstreamSource,
    pub version: Version,
    /// The pinned digest (lower-case hex, without `sha256:`), for OCI and GitHub release
    /// sources.
    pub digest: Option<String>,
    pub allowed: Constraint,
    pub prerelease: bool,
    pub namespace: String,
    pub release: String,
    pub deploy_to: DeployTarget,
    /// Values template path relative to the repository root, if the bundle has one.
    pub values: Option<PathBuf>,
    pub include_crds: bool,
    /// Constraint name → why the addon is exempt from it.
    pub policy_exemptions: BTreeMap<String, String>,
}

impl Bundle {
    pub fn file(&self) -> PathBuf {
        self.dir.join(BUNDLE_FILE)
    }
    pub fn rendered_file(&self) -> PathBuf {
        self.dir.join(RENDERED_FILE)
    }
    /// The chart's name (for a GitHub release source, the asset pattern): what reports call
    /// the upstream artifact.
    pub fn chart(&self) -> &str {
        match &self.source {
            UpstreamSource::Helm(h) => &h.chart,
            UpstreamSource::Oci(o) => &o.chart,
            UpstreamSource::GithubRelease(g) => &g.asset,
        }
    }

    /// Where upstream publishes it, for messages: the repository URL, `oci://…`, or
    /// `github.com/owner/name releases`.
    pub fn source_location(&self) -> String {
        match &self.source {
            UpstreamSource::Helm(h) => h.repo.clone(),
            UpstreamSource::Oci(o) => o.reference.clone(),
            UpstreamSource::GithubRelease(g) => format!("https://github.com/{}/releases", g.repo),
        }
    }

    /// Whether the bundle is rendered by helm (a chart), not taken as a released manifest.
    pub fn is_chart(&self) -> bool {
        !matches!(self.source, UpstreamSource::GithubRelease(_))
    }
}

/// Parse and validate one bundle manifest. `dir` is `bundles/<addon>` relative to the repo
/// root; `values_exists` tells whether a path (relative to the repo root) exists in the tree the
/// bundle comes from.
pub fn parse(
    dir: &Path,
    text: &str,
    values_exists: &dyn Fn(&Path) -> bool,
) -> Result<Bundle, Vec<ConfigError>> {
    let file = dir.join(BUNDLE_FILE);
    let shape = scan(&file, text);
    let raw: RawBundle = if shape.is_empty() {
        crate::yaml::from_str(text).map_err(|e| {
            let mut err = ConfigError::new(&file, e.message.clone()).at(e.line, e.column);
            if let Some(h) = did_you_mean(&e.message) {
                err = err.hint(h);
            } else if e.message.contains("missing field") {
                err = err.hint("see the bundle.yaml example in README.md");
            }
            vec![err]
        })?
    } else {
        // With the keys it does not know set aside, the rest may still read: then its values
        // are checked too, so one run says everything.
        match without_unknown_keys(text) {
            Some(raw) => raw,
            None => return Err(shape),
        }
    };

    let mut errors = shape;
    let err = |msg: String, key: &str| ConfigError::new(&file, msg).at_key(text, key);

    let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let name = match dir_name.parse::<AddonName>() {
        Ok(n) => Some(n),
        Err(e) => {
            errors.push(
                ConfigError::new(
                    &file,
                    format!("the bundle directory name is not usable: {e}"),
                )
                .hint("rename the directory under bundles/"),
            );
            None
        }
    };
    let version = Version::parse(&raw.version)
        .map_err(|e| errors.push(err(format!("version: {e}"), "version")))
        .ok();
    let allowed = Constraint::parse(&raw.allowed)
        .map_err(|e| {
            errors.push(
                err(format!("allowed: {e}"), "allowed")
                    .hint("use Helm's constraint syntax, e.g. \">=1.14.0, <2.0.0\" or \"~7.8\""),
            )
        })
        .ok();
    if let (Some(v), Some(a)) = (&version, &allowed) {
        if !a.matches(v) {
            errors.push(
                err(
                    format!(
                        "the pinned version {v} is outside the allowed range {:?}",
                        a.as_str()
                    ),
                    "version",
                )
                .hint("widen `allowed` or pin a version inside it"),
            );
        }
    }
    let source = parse_source(&raw.source, &file, text, &mut errors);
    let digest = match &raw.digest {
        None => None,
        Some(d) => match d.strip_prefix("sha256:").map(str::to_ascii_lowercase) {
            Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Some(hex),
            _ => {
                errors.push(
                    err(
                        format!("digest {d:?} is not sha256:<64 hex digits>"),
                        "digest",
                    )
                    .hint("leave it to the bot: it writes the digest with the version"),
                );
                None
            }
        },
    };
    if digest.is_some() && matches!(source, Some(UpstreamSource::Helm(_))) {
        errors.push(
            err(
                "digest: a Helm repository's index carries the digest; pin one only for an oci or github_release source".into(),
                "digest",
            ),
        );
    }
    if !is_dns_label(&raw.namespace) {
        errors.push(err(
            format!(
                "namespace {:?} is not a valid Kubernetes namespace name",
                raw.namespace
            ),
            "namespace",
        ));
    }
    for (constraint, reason) in &raw.policy_exemptions {
        if reason.trim().is_empty() {
            errors.push(
                err(
                    format!("the exemption from policy constraint `{constraint}` gives no reason"),
                    constraint,
                )
                .hint("say why the team accepts the finding: it is shown in validate and in PR bodies"),
            );
        }
    }
    let release = raw.release.clone().unwrap_or_else(|| dir_name.to_string());
    if raw.release.is_some() && (!is_dns_label(&release) || release.len() > 53) {
        errors.push(err(
            format!("release {release:?} is not a valid Helm release name"),
            "release",
        ));
    }
    let values = match &raw.values {
        Some(p) => {
            let full = dir.join(p);
            if p.is_absolute() || p.components().any(|c| c == std::path::Component::ParentDir) {
                errors.push(err(
                    format!(
                        "values {:?} must be a path inside the bundle directory",
                        p.display()
                    ),
                    "values",
                ));
                None
            } else if !values_exists(&full) {
                errors.push(err(
                    format!("values template {} does not exist", full.display()),
                    "values",
                ));
                None
            } else {
                Some(full)
            }
        }
        None => {
            let default = dir.join(DEFAULT_VALUES);
            values_exists(&default).then_some(default)
        }
    };

    match (name, version, allowed, source, errors.is_empty()) {
        (Some(name), Some(version), Some(allowed), Some(source), true) => Ok(Bundle {
            name,
            dir: dir.to_path_buf(),
            description: raw.description,
            source,
            version,
            digest,
            allowed,
            prerelease: raw.prerelease,
            namespace: raw.namespace,
            release,
            deploy_to: raw.deploy_to,
            values,
            include_crds: raw.include_crds,
            policy_exemptions: raw.policy_exemptions,
        }),
        _ => {
            // In file order; problems of the file as a whole last.
            errors.sort_by_key(|e| (e.line.unwrap_or(usize::MAX), e.column.unwrap_or(0)));
            Err(errors)
        }
    }
}

/// The one kind of source `raw` names, checked; problems go to `errors`.
fn parse_source(
    raw: &RawSource,
    file: &Path,
    text: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<UpstreamSource> {
    let err = |msg: String, key: &str| ConfigError::new(file, msg).at_key(text, key);
    let before = errors.len();
    let kinds = [
        raw.helm.is_some(),
        raw.oci.is_some(),
        raw.github_release.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        // `scan` said what is wrong (none, or more than one), unless the file did not scan.
        if !errors.iter().any(|e| e.message.starts_with("source")) {
            errors.push(
                err(
                    "source: name one kind of source: `helm:`, `oci:` or `github_release:`".into(),
                    "source",
                )
                .hint("see the bundle.yaml example in README.md"),
            );
        }
        return None;
    }
    if let Some(helm) = &raw.helm {
        match url::Url::parse(&helm.repo) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            // Only mirrors the train declares are read from disk: a bundle names its upstream.
            Ok(u) if u.scheme() == "file" => errors.push(
                err(
                    "source.helm.repo: a file:// repository is not read directly".into(),
                    "repo",
                )
                .hint("name the upstream URL here and map it to the local copy under [mirrors] in branches.toml"),
            ),
            Ok(u) if u.scheme() == "oci" => errors.push(
                err(
                    "source.helm.repo: an oci:// reference is a source of its own".into(),
                    "repo",
                )
                .hint(format!("write `oci: {}/{}` under source instead of helm", helm.repo.trim_end_matches('/'), helm.chart)),
            ),
            Ok(u) => errors.push(err(
                format!(
                    "source.helm.repo: scheme {:?} is not supported (http, https)",
                    u.scheme()
                ),
                "repo",
            )),
            Err(e) => errors.push(err(
                format!("source.helm.repo {:?} is not a URL: {e}", helm.repo),
                "repo",
            )),
        }
        if helm.chart.is_empty() || helm.chart.contains(['/', '\\']) || helm.chart.starts_with('.')
        {
            errors.push(err(
                format!("source.helm.chart {:?} is not a chart name", helm.chart),
                "chart",
            ));
        }
        return (errors.len() == before).then(|| UpstreamSource::Helm(helm.clone()));
    }
    if let Some(reference) = &raw.oci {
        return match crate::model::OciReference::parse(reference) {
            Ok(r) => Some(UpstreamSource::Oci(OciSource {
                reference: r.to_string(),
                chart: r.name().to_string(),
            })),
            Err(e) => {
                errors.push(
                    err(format!("source.oci {reference:?}: {e}"), "oci")
                        .hint("e.g. oci: oci://quay.io/jetstack/charts/cert-manager (no tag: the bot chooses the version)"),
                );
                None
            }
        };
    }
    let gh = raw.github_release.as_ref()?;
    let mut parts = gh.repo.split('/');
    let ok_part = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
    };
    if !(ok_part(parts.next()) && ok_part(parts.next()) && parts.next().is_none()) {
        errors.push(err(
            format!("source.github_release.repo {:?} is not owner/name", gh.repo),
            "repo",
        ));
    }
    for (key, v) in [
        ("asset", Some(&gh.asset)),
        ("checksum", gh.checksum.as_ref()),
    ] {
        if let Some(v) = v {
            if v.is_empty() || v.contains(['/', '\\']) {
                errors.push(err(
                    format!("source.github_release.{key} {v:?} is not an asset name or pattern"),
                    key,
                ));
            }
        }
    }
    (errors.len() == before).then(|| UpstreamSource::GithubRelease(gh.clone()))
}

/// `text` (a bundle.yaml) with its top-level `digest:` set to `digest` (`sha256:<hex>`) on the
/// line after `version:`, or removed when `None`; everything else kept byte for byte.
pub fn set_digest(text: &str, digest: Option<&str>) -> Result<String, String> {
    let lines = text
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("digest:"));
    let Some(digest) = digest else {
        return Ok(lines.collect());
    };
    let mut out = String::with_capacity(text.len() + 80);
    let mut placed = false;
    for line in lines {
        out.push_str(line);
        if !placed && line.starts_with("version:") {
            let eol = &line[line.trim_end_matches(['\n', '\r']).len()..];
            if eol.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!(
                "digest: {digest}{}",
                if eol.is_empty() { "\n" } else { eol }
            ));
            placed = true;
        }
    }
    if !placed {
        return Err("bundle.yaml has no top-level `version:` line to put `digest:` after".into());
    }
    Ok(out)
}

/// `text` (a bundle.yaml) with its top-level `version:` set to `version`, everything else
/// (comments, order, quoting of other keys) kept byte for byte, so the bump commit's diff is
/// one line.
pub fn set_version(text: &str, version: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut found = false;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("version:") {
            if found {
                return Err("bundle.yaml has more than one top-level `version:`".into());
            }
            found = true;
            // Keep a trailing comment with the spacing before it.
            let body = rest.trim_end_matches(['\n', '\r']);
            let comment = match body.find(" #") {
                Some(i) => &body[body[..i].trim_end().len()..],
                None => "",
            };
            let eol = &line[line.trim_end_matches(['\n', '\r']).len()..];
            out.push_str(&format!("version: {version}{comment}{eol}"));
        } else {
            out.push_str(line);
        }
    }
    if !found {
        return Err("bundle.yaml has no top-level `version:` line to update".into());
    }
    Ok(out)
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "source:\n  helm:\n    repo: https://charts.jetstack.io\n    chart: cert-manager\n\
                       version: v1.14.7\nallowed: \">=1.14.0, <2.0.0\"\nnamespace: cert-manager\ndeploy_to: tenant\n";

    fn dir() -> PathBuf {
        PathBuf::from("bundles/cert-manager")
    }

    fn parse_with(text: &str, existing: &[&str]) -> Result<Bundle, String> {
        let existing: Vec<PathBuf> = existing.iter().map(PathBuf::from).collect();
        parse(&dir(), text, &|p| existing.iter().any(|e| e == p)).map_err(|errs| {
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn set_digest_follows_the_version_and_replaces_or_removes_the_old_one() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        let pinned =
            "source:\n  oci: oci://x/y\nversion: v1\ndigest: sha256:old\nallowed: \">=1\"\n";
        assert_eq!(
            set_digest(pinned, Some(&d)).unwrap(),
            pinned.replace("sha256:old", &d)
        );
        let unpinned = "version: v1\nallowed: \">=1\"\n";
        assert_eq!(
            set_digest(unpinned, Some(&d)).unwrap(),
            format!("version: v1\ndigest: {d}\nallowed: \">=1\"\n")
        );
        assert_eq!(
            set_digest(pinned, None).unwrap(),
            pinned.replace("digest: sha256:old\n", "")
        );
        assert!(set_digest("allowed: x\n", Some(&d)).is_err());
    }

    #[test]
    fn set_version_changes_one_line_only() {
        let text = "# pinned by the platform team\nsource:\n  helm:\n    chart: x\nversion: v1.14.7  # bumped by ake-bot\nallowed: \">=1\"\n";
        let out = set_version(text, "v1.16.5").unwrap();
        assert_eq!(out, text.replace("version: v1.14.7", "version: v1.16.5"));
        let b = parse_with(&set_version(MIN, "v1.16.5").unwrap(), &[]).unwrap();
        assert_eq!(b.version.to_string(), "v1.16.5");
        assert!(set_version("source: {}\n", "1").is_err());
        assert!(set_version("version: 1\nversion: 2\n", "3").is_err());
    }

    #[test]
    fn the_schema_modeline_is_read_past_and_kept_by_set_version() {
        // The first line of every bundle.yaml in the repository, for yaml-language-server.
        let text =
            format!("# yaml-language-server: $schema=../../schema/bundle.schema.json\n{MIN}");
        assert_eq!(
            parse_with(&text, &[]).unwrap().version.to_string(),
            "v1.14.7"
        );
        let out = set_version(&text, "v1.16.5").unwrap();
        assert_eq!(out, text.replace("version: v1.14.7", "version: v1.16.5"));
        assert_eq!(
            parse_with(&out, &[]).unwrap().version.to_string(),
            "v1.16.5"
        );
    }

    #[test]
    fn defaults() {
        let b = parse_with(MIN, &[]).unwrap();
        assert_eq!(b.name.as_str(), "cert-manager");
        assert_eq!(
            b.release, "cert-manager",
            "release defaults to the addon name"
        );
        assert!(!b.prerelease);
        assert!(b.include_crds);
        assert_eq!(b.description, "");
        assert_eq!(b.values, None, "no values.yaml.j2, no values");
        assert_eq!(
            b.rendered_file(),
            PathBuf::from("bundles/cert-manager/rendered/manifests.yaml")
        );
        assert_eq!(b.deploy_to, DeployTarget::Tenant);
    }

    #[test]
    fn default_values_template_is_used_when_present() {
        let b = parse_with(MIN, &["bundles/cert-manager/values.yaml.j2"]).unwrap();
        assert_eq!(
            b.values,
            Some(PathBuf::from("bundles/cert-manager/values.yaml.j2"))
        );
    }

    #[test]
    fn every_field_can_be_set() {
        let text = format!(
            "{MIN}description: TLS\nprerelease: true\nrelease: cm\nvalues: v.j2\ninclude_crds: false\n"
        );
        let b = parse_with(&text, &["bundles/cert-manager/v.j2"]).unwrap();
        assert_eq!(b.description, "TLS");
        assert!(b.prerelease);
        assert_eq!(b.release, "cm");
        assert_eq!(b.values, Some(PathBuf::from("bundles/cert-manager/v.j2")));
        assert!(!b.include_crds);
        assert_eq!(b.chart(), "cert-manager");
        assert_eq!(b.version.to_string(), "v1.14.7");
    }

    #[test]
    fn unknown_fields_name_line_column_and_suggest() {
        let e = parse_with(&MIN.replace("namespace:", "namespce:"), &[]).unwrap_err();
        assert!(
            e.starts_with("bundles/cert-manager/bundle.yaml:7:1: unknown field `namespce`"),
            "{e}"
        );
        assert!(e.contains("did you mean `namespace`?"), "{e}");
        let e = parse_with(&MIN.replace("helm:", "ocl:"), &[]).unwrap_err();
        assert!(
            e.contains("unknown field `ocl`, expected one of `helm`, `oci`, `github_release`"),
            "{e}"
        );
    }

    #[test]
    fn every_mistake_of_shape_is_reported_at_once_at_its_line() {
        let text = MIN
            .replace("version: v1.14.7", "version: 1.16")
            .replace("namespace:", "namespce:")
            .replace("deploy_to: tenant", "deploy_to: tenants")
            .replace("chart: cert-manager", "chart: 7");
        let e = parse_with(&text, &[]).unwrap_err();
        let lines: Vec<&str> = e.lines().filter(|l| l.starts_with("bundles/")).collect();
        assert_eq!(lines.len(), 4, "{e}");
        assert!(
            lines[0].contains(":4:")
                && lines[0].contains("`chart` is a number here (7), but must be a string"),
            "{e}"
        );
        assert!(
            lines[1].contains(":5:")
                && lines[1].contains("`version` is a number here (1.16), but must be a string"),
            "{e}"
        );
        assert!(lines[2].contains(":7:1: unknown field `namespce`"), "{e}");
        assert!(lines[3].contains("unknown variant `tenants`"), "{e}");
        assert!(e.contains("hint: quote it: version: \"1.16\""), "{e}");
        assert!(e.contains("hint: did you mean `namespace`?"), "{e}");
        assert!(
            !e.contains("missing field `namespace`"),
            "one mistake, one error: {e}"
        );
    }

    #[test]
    fn a_typo_and_a_bad_value_are_both_reported_in_one_run() {
        let text = MIN
            .replace(
                "namespace:",
                "namespace: cert-manager\nrelase: x\nold_namespace:",
            )
            .replace("version: v1.14.7", "version: v3.0.0");
        let e = parse_with(&text, &[]).unwrap_err();
        assert!(e.contains("unknown field `rela"), "{e}");
        assert!(e.contains("unknown field `old_namespace`"), "{e}");
        assert!(
            e.contains("the pinned version v3.0.0 is outside the allowed range"),
            "{e}"
        );
    }

    #[test]
    fn semantic_errors_point_at_their_key() {
        let e = parse_with(&MIN.replace("version: v1.14.7", "version: v3.0.0"), &[]).unwrap_err();
        assert!(
            e.starts_with(
                "bundles/cert-manager/bundle.yaml:5:1: the pinned version v3.0.0 is outside"
            ),
            "{e}"
        );
        let e = parse_with(
            &MIN.replace("namespace: cert-manager", "namespace: Cert_Manager"),
            &[],
        )
        .unwrap_err();
        assert!(e.contains(":7:1: namespace \"Cert_Manager\""), "{e}");
        let e = parse_with(&format!("{MIN}values: ../../etc/passwd\n"), &[]).unwrap_err();
        assert!(
            e.contains("must be a path inside the bundle directory"),
            "{e}"
        );
        let e = parse_with(&format!("{MIN}values: nope.j2\n"), &[]).unwrap_err();
        assert!(
            e.contains("values template bundles/cert-manager/nope.j2 does not exist"),
            "{e}"
        );
        let e = parse_with(&MIN.replace("https://charts.jetstack.io", "ssh://x"), &[]).unwrap_err();
        assert!(e.contains("scheme \"ssh\" is not supported"), "{e}");
        let e = parse_with(
            &MIN.replace("https://charts.jetstack.io", "file:///srv/charts"),
            &[],
        )
        .unwrap_err();
        assert!(
            e.contains("a file:// repository is not read directly")
                && e.contains("under [mirrors] in branches.toml"),
            "{e}"
        );
        let e = parse_with(
            &MIN.replace("deploy_to: tenant", "deploy_to: everywhere"),
            &[],
        )
        .unwrap_err();
        assert!(e.contains("unknown variant `everywhere`"), "{e}");
    }
}
