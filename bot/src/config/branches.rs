//! `branches.toml`: the release train.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;

use super::error::{did_you_mean, line_col, ConfigError};
use crate::model::{AddonName, BranchName, KubeMinor};
use crate::version::Constraint;

/// Where a branch is in its life. Only `maintained` branches get automatic backports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BranchStatus {
    /// Receives updates and backports automatically.
    Maintained,
    /// Receives only changes explicitly labelled for it (`backport/<branch>`).
    Frozen,
    /// End of life: receives nothing; kept for history.
    Eol,
}

/// The file as written. Every table rejects unknown keys so a typo is an error, not a silently
/// ignored setting. The doc comments of these types are the descriptions in
/// `schema/branches.schema.json` (see `schema.rs`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrain {
    /// `[main]`: what `main` targets. Required.
    main: RawMain,
    /// `[[release]]`: one entry per release branch. Default: none.
    #[serde(default)]
    // schemars shows serde defaults only for types it can serialise, and RawRelease is not one.
    #[schemars(extend("default" = []))]
    release: Vec<RawRelease>,
    /// `tag_format`: the tag each release gets. `{minor}` is the branch's Kubernetes minor
    /// (`1.30`), `{n}` counts releases on the branch from 0. Default: `v{minor}.{n}`.
    #[serde(default = "default_tag_format")]
    tag_format: String,
    /// `[mirrors]`: upstream URL prefix → mirror URL or path (relative to the repo root).
    /// Default: none.
    #[serde(default)]
    mirrors: BTreeMap<String, String>,
    /// `support_window`: how many release branches stay supported; `branch cut` marks older
    /// ones eol. Default: no limit.
    support_window: Option<u32>,
    /// `schemas`: a directory of Kubernetes JSON schema sets (`v1.32.0-local-strict/…`),
    /// relative to the repository root. `--schemas` overrides it. Default: none.
    schemas: Option<String>,
    /// `schema_url`: where to fetch schemas that are not cached, with `{version}` (`v1.32.0`),
    /// `{minor}` (`1.32`) and `{file}` (`deployment-apps-v1.json`); mirrors apply. Used when
    /// no schema directory is given. Default: none.
    schema_url: Option<String>,
}

fn default_tag_format() -> String {
    "v{minor}.{n}".to_string()
}

/// `[main]`: the branch that targets the newest Kubernetes minor.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Main")]
struct RawMain {
    /// The Kubernetes minor `main` targets. Required.
    kubernetes: KubeMinor,
    /// The kind node image e2e uses for `main`. Required.
    kind_image: String,
    /// Caps on addon versions for `main` (addon → constraint). Default: none.
    #[serde(default)]
    #[schemars(schema_with = "caps_schema")]
    caps: BTreeMap<String, String>,
}

/// `[[release]]`: one release branch, serving one older Kubernetes minor.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Release")]
struct RawRelease {
    /// Branch name. Default: `release-{kubernetes}`.
    name: Option<BranchName>,
    /// The Kubernetes minor this branch serves. Required.
    kubernetes: KubeMinor,
    /// The kind node image e2e uses. Required.
    kind_image: String,
    /// `maintained`, `frozen` or `eol`. Default: `maintained`.
    #[serde(default = "default_status")]
    status: BranchStatus,
    /// Caps on addon versions on this branch (addon → constraint, e.g. `"<1.16"`).
    /// Default: none.
    #[serde(default)]
    #[schemars(schema_with = "caps_schema")]
    caps: BTreeMap<String, String>,
}

fn default_status() -> BranchStatus {
    BranchStatus::Maintained
}

/// Caps as the schema shows them: keys are addon names (checked by `parse`, which keeps them
/// strings to report a bad one with its position), values Helm constraints.
fn caps_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<BTreeMap<String, String>>();
    schema.insert(
        "propertyNames".into(),
        generator.subschema_for::<AddonName>().into(),
    );
    schema
}

/// One branch of the train, `main` included.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainBranch {
    pub name: BranchName,
    pub kubernetes: KubeMinor,
    pub kind_image: String,
    pub status: BranchStatus,
    pub caps: BTreeMap<AddonName, Constraint>,
}

impl TrainBranch {
    pub fn is_main(&self) -> bool {
        self.name == BranchName::main()
    }

    pub fn cap(&self, addon: &AddonName) -> Option<&Constraint> {
        self.caps.get(addon)
    }
}

/// Upstream URL prefix → where to read it instead.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mirrors(Vec<(String, MirrorTarget)>);

/// A mirror location: a URL (`https://…`, `file:///…`) or a directory.
#[derive(Debug, Clone, PartialEq)]
pub enum MirrorTarget {
    Url(url::Url),
    Dir(PathBuf),
}

impl Mirrors {
    /// Rewrite `url` through the longest matching prefix, or return it unchanged.
    pub fn resolve(&self, url: &str) -> Source {
        let url_norm = url.trim_end_matches('/');
        let best = self
            .0
            .iter()
            .filter(|(prefix, _)| {
                url_norm == prefix
                    || url_norm
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|(prefix, _)| prefix.len());
        match best {
            None => Source::Url(url.to_string()),
            Some((prefix, target)) => {
                let rest = url_norm[prefix.len()..].trim_start_matches('/');
                match target {
                    MirrorTarget::Dir(dir) => Source::Dir(if rest.is_empty() {
                        dir.clone()
                    } else {
                        dir.join(rest)
                    }),
                    MirrorTarget::Url(base) => {
                        let mut s = base.as_str().trim_end_matches('/').to_string();
                        if !rest.is_empty() {
                            s.push('/');
                            s.push_str(rest);
                        }
                        Source::Url(s)
                    }
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where to read something from after mirrors are applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Url(String),
    Dir(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Url(u) => f.write_str(u),
            Source::Dir(d) => write!(f, "{}", d.display()),
        }
    }
}

/// The validated train.
#[derive(Debug, Clone, PartialEq)]
pub struct Train {
    /// `main` first, then release branches from newest to oldest minor.
    pub branches: Vec<TrainBranch>,
    pub tag_format: String,
    pub mirrors: Mirrors,
    pub support_window: Option<u32>,
    /// Kubernetes schema sets (absolute).
    pub schemas: Option<PathBuf>,
    /// URL template for schemas not in the cache.
    pub schema_url: Option<String>,
}

impl Train {
    pub fn main(&self) -> &TrainBranch {
        &self.branches[0]
    }

    pub fn branch(&self, name: &str) -> Option<&TrainBranch> {
        self.branches.iter().find(|b| b.name.as_str() == name)
    }

    /// The tag name for the `n`th release of `branch`.
    pub fn tag_name(&self, branch: &TrainBranch, n: u64) -> String {
        self.tag_format
            .replace("{minor}", &branch.kubernetes.to_string())
            .replace("{n}", &n.to_string())
    }
}

/// Parse and validate `branches.toml`. `known_addons` lets caps be checked against `bundles/`;
/// `repo_root` resolves relative mirror paths. Every problem found is returned, not just the
/// first.
pub fn parse(
    path: &Path,
    text: &str,
    repo_root: &Path,
    known_addons: &[AddonName],
) -> Result<Train, Vec<ConfigError>> {
    let raw: RawTrain = toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unzip();
        let message = e.message().to_string();
        let mut err = ConfigError::new(path, message.clone()).at(line, col);
        if let Some(h) = did_you_mean(&message) {
            err = err.hint(h);
        } else if message.contains("missing field") {
            err = err.hint("see the branches.toml example in README.md");
        }
        vec![err]
    })?;

    let mut errors = Vec::new();
    let err = |msg: String, key: &str| ConfigError::new(path, msg).at_key(text, key);

    // Tag format: must mention both placeholders, or every release on a branch would collide.
    for ph in ["{minor}", "{n}"] {
        if !raw.tag_format.contains(ph) {
            errors.push(
                err(
                    format!("tag_format {:?} lacks {ph}", raw.tag_format),
                    "tag_format",
                )
                .hint(
                    "tags must differ per branch and per release; the default is \"v{minor}.{n}\"",
                ),
            );
        }
    }

    let mut caps_of = |caps: &BTreeMap<String, String>, branch: &str| {
        let mut out = BTreeMap::new();
        for (addon, constraint) in caps {
            let name = match addon.parse::<AddonName>() {
                Ok(n) => n,
                Err(e) => {
                    errors.push(err(format!("branch {branch}: cap for {e}"), addon));
                    continue;
                }
            };
            if !known_addons.is_empty() && !known_addons.contains(&name) {
                let mut e = err(
                    format!("branch {branch}: cap names addon `{addon}`, but bundles/{addon}/ does not exist"),
                    addon,
                );
                if let Some(best) = known_addons
                    .iter()
                    .map(|k| (strsim::jaro_winkler(addon, k.as_str()), k))
                    .filter(|(s, _)| *s > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                {
                    e = e.hint(format!("did you mean `{}`?", best.1));
                }
                errors.push(e);
                continue;
            }
            match Constraint::parse(constraint) {
                Ok(c) => {
                    out.insert(name, c);
                }
                Err(e) => errors.push(
                    err(format!("branch {branch}: cap for {addon}: {e}"), addon).hint(
                        "caps use Helm's constraint syntax, e.g. \"<1.16\" or \">=1.14, <1.16\"",
                    ),
                ),
            }
        }
        out
    };

    let mut branches = vec![TrainBranch {
        name: BranchName::main(),
        kubernetes: raw.main.kubernetes,
        kind_image: raw.main.kind_image.clone(),
        status: BranchStatus::Maintained,
        caps: caps_of(&raw.main.caps, "main"),
    }];
    for r in &raw.release {
        let name = r
            .name
            .clone()
            .unwrap_or_else(|| r.kubernetes.release_branch());
        let caps = caps_of(&r.caps, name.as_str());
        branches.push(TrainBranch {
            name,
            kubernetes: r.kubernetes,
            kind_image: r.kind_image.clone(),
            status: r.status,
            caps,
        });
    }

    for b in &branches {
        if b.kind_image.trim().is_empty() {
            errors.push(err(
                format!("branch {}: kind_image is empty", b.name),
                "kind_image",
            ));
        }
        if let Some(m) = b.name.release_minor() {
            if m != b.kubernetes {
                errors.push(
                    err(
                        format!(
                            "branch {} serves Kubernetes {}, but its name says {m}",
                            b.name, b.kubernetes
                        ),
                        "kubernetes",
                    )
                    .hint("release branches are named release-<minor>; fix the name or the minor"),
                );
            }
        }
        if !b.is_main() && b.kubernetes >= raw.main.kubernetes {
            errors.push(
                err(
                    format!(
                        "release branch {} serves Kubernetes {}, not older than main's {}",
                        b.name, b.kubernetes, raw.main.kubernetes
                    ),
                    "kubernetes",
                )
                .hint("main targets the newest minor; cut a release branch and move main forward"),
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for b in &branches {
        if !seen.insert(b.name.clone()) {
            errors.push(err(
                format!("branch {} is listed twice", b.name),
                b.name.as_str(),
            ));
        }
    }
    let mut minors = std::collections::HashSet::new();
    for b in &branches {
        if !minors.insert(b.kubernetes) {
            errors.push(err(
                format!(
                    "Kubernetes {} is served by more than one branch",
                    b.kubernetes
                ),
                "kubernetes",
            ));
        }
    }

    let mut mirrors = Vec::new();
    for (prefix, target) in &raw.mirrors {
        let prefix_norm = prefix.trim_end_matches('/').to_string();
        if url::Url::parse(&prefix_norm).is_err() {
            errors.push(err(format!("mirror key {prefix:?} is not a URL"), prefix));
            continue;
        }
        let target = match url::Url::parse(target) {
            Ok(u) if u.scheme() == "file" => {
                match u.to_file_path() {
                    Ok(p) => MirrorTarget::Dir(p),
                    Err(()) => {
                        errors.push(
                        err(format!("mirror for {prefix}: {target:?} is not a local file URL"), prefix)
                            .hint("use file:///absolute/path or a path relative to the repository root"),
                    );
                        continue;
                    }
                }
            }
            Ok(u) if matches!(u.scheme(), "http" | "https") => MirrorTarget::Url(u),
            Ok(u) if u.scheme().len() > 1 => {
                errors.push(err(
                    format!(
                        "mirror for {prefix}: scheme {:?} is not supported (http, https, file)",
                        u.scheme()
                    ),
                    prefix,
                ));
                continue;
            }
            // Not a URL (or a Windows drive letter): a path, relative to the repository root.
            _ => MirrorTarget::Dir(repo_root.join(target)),
        };
        mirrors.push((prefix_norm, target));
    }

    if let Some(t) = &raw.schema_url {
        if !t.contains("{file}") {
            errors.push(
                ConfigError::new(path, format!("schema_url {t:?} has no {{file}} placeholder"))
                    .hint("e.g. https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/{version}-standalone-strict/{file}"),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // main first, then newest release first: the order every report uses.
    branches[1..].sort_by_key(|b| std::cmp::Reverse(b.kubernetes));
    Ok(Train {
        branches,
        tag_format: raw.tag_format,
        mirrors: Mirrors(mirrors),
        support_window: raw.support_window,
        schemas: raw.schemas.map(|d| repo_root.join(d)),
        schema_url: raw.schema_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "[main]\nkubernetes = \"1.33\"\nkind_image = \"kindest/node:v1.33.1\"\n";

    fn parse_ok(text: &str) -> Train {
        parse(Path::new("branches.toml"), text, Path::new("/repo"), &[]).unwrap()
    }

    fn parse_err(text: &str) -> String {
        let addons = ["cert-manager".parse().unwrap()];
        let errs = parse(
            Path::new("branches.toml"),
            text,
            Path::new("/repo"),
            &addons,
        )
        .unwrap_err();
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn defaults() {
        let t = parse_ok(MIN);
        assert_eq!(t.tag_format, "v{minor}.{n}");
        assert!(t.mirrors.is_empty());
        assert_eq!(t.support_window, None);
        assert_eq!(
            parse_ok(&format!("support_window = 3\n{MIN}")).support_window,
            Some(3)
        );
        assert_eq!(t.branches.len(), 1);
        assert!(t.main().is_main() && t.main().caps.is_empty());
        assert_eq!(t.tag_name(t.main(), 4), "v1.33.4");
    }

    #[test]
    fn the_schema_directive_is_a_comment() {
        // The first line of the repository's branches.toml, for taplo.
        let t = parse_ok(&format!("#:schema ./schema/branches.schema.json\n{MIN}"));
        assert_eq!(t.main().kubernetes, KubeMinor::new(1, 33));
    }

    #[test]
    fn release_defaults_name_and_status() {
        let t = parse_ok(&format!(
            "{MIN}[[release]]\nkubernetes = \"1.30\"\nkind_image = \"k\"\n"
        ));
        let r = &t.branches[1];
        assert_eq!(r.name.as_str(), "release-1.30");
        assert_eq!(r.status, BranchStatus::Maintained);
        assert_eq!(t.tag_name(r, 0), "v1.30.0");
    }

    #[test]
    fn releases_sort_newest_first_and_take_status_and_caps() {
        let t = parse_ok(&format!(
            "{MIN}[[release]]\nkubernetes = \"1.9\"\nkind_image = \"k\"\nstatus = \"eol\"\n\
             [[release]]\nkubernetes = \"1.31\"\nkind_image = \"k\"\nstatus = \"frozen\"\ncaps = {{ cert-manager = \"<1.16\" }}\n"
        ));
        let names: Vec<_> = t.branches.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["main", "release-1.31", "release-1.9"]);
        assert_eq!(t.branches[1].status, BranchStatus::Frozen);
        assert_eq!(t.branches[2].status, BranchStatus::Eol);
        let cap = t.branches[1].cap(&"cert-manager".parse().unwrap()).unwrap();
        assert_eq!(cap.as_str(), "<1.16");
    }

    #[test]
    fn mirrors_resolve_longest_prefix_to_dirs_and_urls() {
        let t = parse_ok(&format!(
            "{MIN}[mirrors]\n\"https://charts.example.com\" = \"mirror/example\"\n\
             \"https://charts.example.com/sub\" = \"https://internal.example/sub\"\n\
             \"https://other.example\" = \"file:///srv/other\"\n"
        ));
        assert_eq!(
            t.mirrors.resolve("https://charts.example.com/a.tgz"),
            Source::Dir(PathBuf::from("/repo/mirror/example/a.tgz"))
        );
        assert_eq!(
            t.mirrors.resolve("https://charts.example.com/sub/"),
            Source::Url("https://internal.example/sub".into())
        );
        assert_eq!(
            t.mirrors.resolve("https://other.example"),
            Source::Dir(PathBuf::from("/srv/other"))
        );
        // A prefix only matches at a path boundary.
        assert_eq!(
            t.mirrors.resolve("https://charts.example.comx/a"),
            Source::Url("https://charts.example.comx/a".into())
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_a_position_and_a_hint() {
        let e = parse_err("tag_formt = \"x\"\n[main]\nkubernetes = \"1.33\"\nkind_image = \"k\"\n");
        assert!(
            e.starts_with("branches.toml:1:1: unknown field `tag_formt`"),
            "{e}"
        );
        assert!(e.contains("hint: did you mean `tag_format`?"), "{e}");
    }

    #[test]
    fn bad_values_are_errors() {
        let e = parse_err("[main]\nkubernetes = \"1.x\"\nkind_image = \"k\"\n");
        assert!(
            e.contains("branches.toml:2:14") && e.contains("Kubernetes minor"),
            "{e}"
        );
        let e = parse_err(&format!(
            "{MIN}[[release]]\nkubernetes = \"1.30\"\nkind_image = \"k\"\nstatus = \"retired\"\n"
        ));
        assert!(e.contains("unknown variant `retired`"), "{e}");
        let e = parse_err(&format!("{MIN}[[release]]\nname = \"release-1.29\"\nkubernetes = \"1.30\"\nkind_image = \"k\"\n"));
        assert!(
            e.contains("serves Kubernetes 1.30, but its name says 1.29"),
            "{e}"
        );
        let e = parse_err(&format!(
            "{MIN}[[release]]\nkubernetes = \"1.34\"\nkind_image = \"k\"\n"
        ));
        assert!(e.contains("not older than main's 1.33"), "{e}");
        let e = parse_err(&format!("tag_format = \"v{{minor}}\"\n{MIN}"));
        assert!(e.contains("lacks {n}"), "{e}");
        let e = parse_err(&format!("{MIN}caps = {{ cert-manager = \">>1\" }}\n"));
        assert!(e.contains("cap for cert-manager"), "{e}");
        let e = parse_err(&format!("{MIN}[mirrors]\n\"https://x\" = \"ftp://y\"\n"));
        assert!(e.contains("scheme \"ftp\" is not supported"), "{e}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = parse_err(&format!(
            "tag_format = \"x\"\n{MIN}[[release]]\nkubernetes = \"1.34\"\nkind_image = \"\"\n"
        ));
        assert!(
            e.lines().filter(|l| l.starts_with("branches.toml")).count() >= 4,
            "{e}"
        );
    }
}
