//! `branches.toml`: the release train.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;

use toml_edit::{Item, TableLike};

use super::error::{did_you_mean, line_col, ConfigError};
use super::toml_doc::{Pos, Reader};
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

impl std::fmt::Display for BranchStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BranchStatus::Maintained => "maintained",
            BranchStatus::Frozen => "frozen",
            BranchStatus::Eol => "eol",
        })
    }
}

/// Which updates `sync` proposes on a branch, measured from the pinned version.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Updates {
    /// None at all.
    None,
    /// Only the same chart major.minor (`v1.14.7` → `v1.14.9`).
    Patch,
    /// Only the same chart major (`v1.14.7` → `v1.15.5`).
    Minor,
    /// Any version the bundle's range and the branch's caps allow.
    All,
}

impl std::fmt::Display for Updates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Updates::None => "none",
            Updates::Patch => "patch",
            Updates::Minor => "minor",
            Updates::All => "all",
        })
    }
}

/// The file as written. Every table rejects unknown keys so a typo is an error, not a silently
/// ignored setting. The doc comments of these types are the descriptions in
/// `schema/branches.schema.json` (see `schema.rs`). `parse` reads the file field by field
/// (to report every problem at once), so these types only describe it; a test keeps the
/// reader's keys and these fields the same.
#[allow(dead_code)]
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
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Main")]
struct RawMain {
    /// The Kubernetes minor `main` targets. Required.
    kubernetes: KubeMinor,
    /// The kind node image e2e uses for `main`, pinned by the digest kind's release notes
    /// list for the kind release in use (`kindest/node:v1.33.1@sha256:…`); `check` warns
    /// about a tag without a digest. Required.
    kind_image: String,
    /// Caps on addon versions for `main` (addon → constraint). Default: none.
    #[serde(default)]
    #[schemars(schema_with = "caps_schema")]
    caps: BTreeMap<String, String>,
}

/// `[[release]]`: one release branch, serving one older Kubernetes minor.
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Release")]
struct RawRelease {
    /// Branch name. Default: `release-{kubernetes}`.
    name: Option<BranchName>,
    /// The Kubernetes minor this branch serves. Required.
    kubernetes: KubeMinor,
    /// The kind node image e2e uses, pinned by digest as for `main`. Required.
    kind_image: String,
    /// `maintained`, `frozen` or `eol`. Default: `maintained`.
    #[serde(default = "default_status")]
    status: BranchStatus,
    /// Caps on addon versions on this branch (addon → constraint, e.g. `"<1.16"`).
    /// Default: none.
    #[serde(default)]
    #[schemars(schema_with = "caps_schema")]
    caps: BTreeMap<String, String>,
    /// Which updates `sync` proposes here: `none`, `patch` (same chart major.minor), `minor`
    /// (same major) or `all`. Default: `all` on a maintained branch, `none` on a frozen one
    /// (an eol branch gets nothing).
    updates: Option<Updates>,
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
    /// Which updates `sync` proposes here.
    pub updates: Updates,
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
    /// What is allowed but unwise, each at its line (`check` prints them; they fail nothing):
    /// a `kind_image` given by tag without a digest.
    pub warnings: Vec<ConfigError>,
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

impl Train {
    /// The Kubernetes minor and release number a tag names by `tag_format`
    /// (`v1.31.2` → 1.31, 2); `None` for any other revision (`main`, `HEAD`, a SHA).
    pub fn parse_tag(&self, tag: &str) -> Option<(KubeMinor, u64)> {
        let (before, after) = self.tag_format.split_once("{minor}")?;
        let rest = tag.strip_prefix(before)?;
        let (n_before, n_after) = after.split_once("{n}")?;
        let rest = rest.strip_suffix(n_after)?;
        // The minor is `1.NN`; what follows it up to `{n}` is the literal separator.
        let (minor, n) = (2..=rest.len()).rev().find_map(|i| {
            let (m, tail) = rest.split_at_checked(i)?;
            let n = tail.strip_prefix(n_before)?;
            let n: u64 = (!n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
                .then(|| n.parse().ok())??;
            Some((m.parse::<KubeMinor>().ok()?, n))
        })?;
        Some((minor, n))
    }
}

/// The keys of the file, of `[main]` and of `[[release]]` (the fields of `RawTrain`,
/// `RawMain` and `RawRelease`).
const TOP_KEYS: &[&str] = &[
    "main",
    "release",
    "tag_format",
    "mirrors",
    "support_window",
    "schemas",
    "schema_url",
];
const MAIN_KEYS: &[&str] = &["kubernetes", "kind_image", "caps"];
const RELEASE_KEYS: &[&str] = &[
    "name",
    "kubernetes",
    "kind_image",
    "status",
    "caps",
    "updates",
];

/// One branch as read from the file, each field with where it is written.
struct ReadBranch {
    name: Option<(BranchName, Pos)>,
    kubernetes: Option<(KubeMinor, Pos)>,
    kind_image: Option<(String, Pos)>,
    status: BranchStatus,
    caps: BTreeMap<AddonName, Constraint>,
    updates: Option<Updates>,
}

/// Parse and validate `branches.toml`. `known_addons` lets caps be checked against `bundles/`;
/// `repo_root` resolves relative mirror paths. Every problem found is returned at once, each
/// at its own line: unknown keys, wrong types, bad values and the rules across branches.
pub fn parse(
    path: &Path,
    text: &str,
    repo_root: &Path,
    known_addons: &[AddonName],
) -> Result<Train, Vec<ConfigError>> {
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unzip();
        vec![ConfigError::new(path, e.message().trim().to_string()).at(line, col)]
    })?;
    let mut r = Reader::new(path, text);
    let root = doc.as_table();
    r.known_keys(root, TOP_KEYS);
    let tag_format = r.string(root, "tag_format");
    let support_window = r.unsigned(root, "support_window");
    let schemas = r.string(root, "schemas").map(|(s, _)| s);
    let schema_url = r.string(root, "schema_url");
    let raw_mirrors = r.string_map(root, "mirrors");

    // Tag format: must mention both placeholders, or every release on a branch would collide.
    let tag_format = match tag_format {
        Some((t, pos)) => {
            for ph in ["{minor}", "{n}"] {
                if !t.contains(ph) {
                    let e = r.at(pos, format!("tag_format {t:?} lacks {ph}")).hint(
                        "tags must differ per branch and per release; the default is \"v{minor}.{n}\"",
                    );
                    r.errors.push(e);
                }
            }
            t
        }
        None => default_tag_format(),
    };

    let main = match root.get("main").map(|i| (i, i.as_table_like())) {
        Some((_, Some(t))) => {
            let header = r.pos(
                root.get("main")
                    .and_then(Item::span)
                    .or_else(|| root.get_key_value("main").and_then(|(k, _)| k.span())),
            );
            Some(read_branch(&mut r, t, true, header, known_addons))
        }
        Some((item, None)) => {
            let pos = r.pos(item.span());
            r.error(pos, "`main` must be a table: [main]");
            None
        }
        None => {
            let e = r
                .at((None, None), "missing table [main]")
                .hint("see the branches.toml example in README.md");
            r.errors.push(e);
            None
        }
    };
    let mut releases = Vec::new();
    match root.get("release") {
        None => {}
        Some(Item::ArrayOfTables(a)) => {
            for t in a.iter() {
                let header = r.pos(t.span());
                releases.push(read_branch(&mut r, t, false, header, known_addons));
            }
        }
        Some(item) => {
            let pos = r.pos(item.span());
            r.error(pos, "`release` must be a list of tables: [[release]]");
        }
    }

    // (branch, where its name is written — `None` when derived from its minor —, its minor).
    let mut warnings = Vec::new();
    let mut branches: Vec<(TrainBranch, Option<Pos>, Pos)> = Vec::new();
    let main_minor = main
        .as_ref()
        .and_then(|m| m.kubernetes.as_ref().map(|k| k.0));
    for (b, is_main) in main
        .into_iter()
        .map(|b| (b, true))
        .chain(releases.into_iter().map(|b| (b, false)))
    {
        let Some((kubernetes, kpos)) = b.kubernetes else {
            continue;
        };
        let name = match (&b.name, is_main) {
            (_, true) => BranchName::main(),
            (Some((n, _)), false) => n.clone(),
            (None, false) => kubernetes.release_branch(),
        };
        if let Some((image, pos)) = &b.kind_image {
            match check_kind_image(image) {
                KindImage::Empty => r.error(*pos, format!("branch {name}: kind_image is empty")),
                KindImage::BadDigest(why) => {
                    let e = r
                        .at(*pos, format!("branch {name}: kind_image {image:?}: {why}"))
                        .hint(KIND_IMAGE_HINT);
                    r.errors.push(e);
                }
                KindImage::TagOnly => warnings.push(
                    r.at(
                        *pos,
                        format!(
                            "branch {name}: kind_image {image:?} is a tag without a digest: \
                             kind node images are built per kind release, and the tag moves"
                        ),
                    )
                    .hint(KIND_IMAGE_HINT),
                ),
                KindImage::Pinned => {}
            }
        }
        if let Some(m) = name.release_minor() {
            if m != kubernetes {
                let e = r
                    .at(
                        kpos,
                        format!(
                            "branch {name} serves Kubernetes {kubernetes}, but its name says {m}"
                        ),
                    )
                    .hint("release branches are named release-<minor>; fix the name or the minor");
                r.errors.push(e);
            }
        }
        if let (false, Some(main_minor)) = (is_main, main_minor) {
            if kubernetes >= main_minor {
                let e = r
                    .at(
                        kpos,
                        format!("release branch {name} serves Kubernetes {kubernetes}, not older than main's {main_minor}"),
                    )
                    .hint("main targets the newest minor; cut a release branch and move main forward");
                r.errors.push(e);
            }
        }
        let name_pos = b.name.as_ref().map(|(_, p)| *p);
        branches.push((
            TrainBranch {
                name,
                kubernetes,
                kind_image: b.kind_image.map(|(i, _)| i).unwrap_or_default(),
                status: b.status,
                caps: b.caps,
                updates: match (b.updates, b.status) {
                    (_, BranchStatus::Eol) => Updates::None,
                    (Some(u), _) => u,
                    (None, BranchStatus::Frozen) => Updates::None,
                    (None, BranchStatus::Maintained) => Updates::All,
                },
            },
            name_pos,
            kpos,
        ));
    }
    // Duplicates are reported where the second one is written.
    let mut names = std::collections::HashSet::new();
    let mut minors = std::collections::HashMap::new();
    for (b, name_pos, kpos) in &branches {
        // A name derived from a duplicate minor is that minor's problem, said once below.
        if let (false, Some(pos)) = (names.insert(b.name.clone()), name_pos) {
            r.error(*pos, format!("branch {} is listed twice", b.name));
        }
        if let Some(first) = minors.insert(b.kubernetes, b.name.clone()) {
            r.error(
                *kpos,
                format!(
                    "Kubernetes {} is served by more than one branch ({first} and {})",
                    b.kubernetes, b.name
                ),
            );
        }
    }

    let mut mirrors = Vec::new();
    for (prefix, key_pos, target, pos) in raw_mirrors {
        let prefix_norm = prefix.trim_end_matches('/').to_string();
        if url::Url::parse(&prefix_norm).is_err() {
            r.error(key_pos, format!("mirror key {prefix:?} is not a URL"));
            continue;
        }
        let target = match url::Url::parse(&target) {
            Ok(u) if u.scheme() == "file" => {
                match u.to_file_path() {
                    Ok(p) => MirrorTarget::Dir(p),
                    Err(()) => {
                        let e = r
                        .at(pos, format!("mirror for {prefix}: {target:?} is not a local file URL"))
                        .hint("use file:///absolute/path or a path relative to the repository root");
                        r.errors.push(e);
                        continue;
                    }
                }
            }
            // An OCI registry is mirrored by another registry (or a layout directory), a Helm
            // repository by a web server (or a directory): never one by the other.
            Ok(u) if u.scheme() == "oci" && prefix_norm.starts_with("oci://") => {
                MirrorTarget::Url(u)
            }
            Ok(u)
                if matches!(u.scheme(), "http" | "https") && prefix_norm.starts_with("oci://") =>
            {
                r.error(
                    pos,
                    format!("mirror for {prefix}: an OCI registry is mirrored by another registry (oci://host/path) or an OCI layout directory, not {:?}", u.scheme()),
                );
                continue;
            }
            Ok(u) if u.scheme() == "oci" => {
                r.error(
                    pos,
                    format!("mirror for {prefix}: an oci:// mirror serves only an oci:// prefix"),
                );
                continue;
            }
            Ok(u) if matches!(u.scheme(), "http" | "https") => MirrorTarget::Url(u),
            Ok(u) if u.scheme().len() > 1 => {
                r.error(
                    pos,
                    format!(
                        "mirror for {prefix}: scheme {:?} is not supported (http, https, oci, file)",
                        u.scheme()
                    ),
                );
                continue;
            }
            // Not a URL (or a Windows drive letter): a path, relative to the repository root.
            _ => MirrorTarget::Dir(repo_root.join(&target)),
        };
        mirrors.push((prefix_norm, target));
    }

    if let Some((t, pos)) = &schema_url {
        if !t.contains("{file}") {
            let e = r
                .at(*pos, format!("schema_url {t:?} has no {{file}} placeholder"))
                .hint("e.g. https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/{version}-standalone-strict/{file}");
            r.errors.push(e);
        }
    }
    if !r.errors.is_empty() {
        let mut errors = r.errors;
        errors.sort_by_key(|e| (e.line.unwrap_or(usize::MAX), e.column.unwrap_or(0)));
        return Err(errors);
    }
    let mut branches: Vec<TrainBranch> = branches.into_iter().map(|(b, _, _)| b).collect();
    // main first, then newest release first: the order every report uses.
    branches[1..].sort_by_key(|b| std::cmp::Reverse(b.kubernetes));
    Ok(Train {
        branches,
        tag_format,
        mirrors: Mirrors(mirrors),
        support_window,
        schemas: schemas.map(|d| repo_root.join(d)),
        schema_url: schema_url.map(|(s, _)| s),
        warnings,
    })
}

const KIND_IMAGE_HINT: &str =
    "use the image with the @sha256 digest that kind's release notes list \
     for the kind version e2e runs with, e.g. \"kindest/node:v1.33.1@sha256:<64 hex digits>\"";

/// What a `kind_image` value is.
#[derive(Debug, PartialEq, Eq)]
enum KindImage {
    Empty,
    /// `kindest/node:v1.33.1`: works, but the tag may point at an image built for another
    /// kind release than the one e2e runs (kind's release notes say to use the digest).
    TagOnly,
    /// `…@sha256:<64 lowercase hex>`.
    Pinned,
    /// An `@` that is not followed by a sha256 digest kind can pull.
    BadDigest(&'static str),
}

fn check_kind_image(image: &str) -> KindImage {
    let image = image.trim();
    if image.is_empty() {
        return KindImage::Empty;
    }
    let Some((name, digest)) = image.split_once('@') else {
        return KindImage::TagOnly;
    };
    if name.is_empty() {
        return KindImage::BadDigest("no image name before the digest");
    }
    match digest.strip_prefix("sha256:") {
        None => KindImage::BadDigest("the digest must be sha256:<64 hex digits>"),
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            KindImage::Pinned
        }
        Some(_) => KindImage::BadDigest("a sha256 digest is 64 lowercase hex digits"),
    }
}

/// One `[main]` or `[[release]]` table: every field, every problem.
fn read_branch(
    r: &mut Reader<'_>,
    t: &dyn TableLike,
    is_main: bool,
    header: Pos,
    known_addons: &[AddonName],
) -> ReadBranch {
    let within = if is_main { "[main]" } else { "[[release]]" };
    r.known_keys(t, if is_main { MAIN_KEYS } else { RELEASE_KEYS });
    let kubernetes = r
        .required_string(t, "kubernetes", within, header)
        .and_then(|(k, pos)| match k.parse::<KubeMinor>() {
            Ok(m) => Some((m, pos)),
            Err(e) => {
                r.error(pos, format!("kubernetes: {e}"));
                None
            }
        });
    let kind_image = r.required_string(t, "kind_image", within, header);
    let name = if is_main {
        None
    } else {
        r.string(t, "name")
            .and_then(|(n, pos)| match n.parse::<BranchName>() {
                Ok(b) => Some((b, pos)),
                Err(e) => {
                    r.error(pos, format!("name: {e}"));
                    None
                }
            })
    };
    let status = match r.string(t, "status") {
        None => BranchStatus::Maintained,
        Some((s, pos)) => {
            match s.as_str() {
                "maintained" => BranchStatus::Maintained,
                "frozen" => BranchStatus::Frozen,
                "eol" => BranchStatus::Eol,
                other => {
                    let mut e = r.at(
                    pos,
                    format!("unknown variant `{other}`, expected one of `maintained`, `frozen`, `eol`"),
                );
                    if let Some(h) = did_you_mean(&format!(
                        "unknown variant `{other}`, expected one of `maintained`, `frozen`, `eol`"
                    )) {
                        e = e.hint(h);
                    }
                    r.errors.push(e);
                    BranchStatus::Maintained
                }
            }
        }
    };
    let updates = r.string(t, "updates").and_then(|(u, pos)| {
        let parsed = match u.as_str() {
            "none" => Some(Updates::None),
            "patch" => Some(Updates::Patch),
            "minor" => Some(Updates::Minor),
            "all" => Some(Updates::All),
            _ => None,
        };
        if parsed.is_none() {
            let message =
                format!("unknown variant `{u}`, expected one of `none`, `patch`, `minor`, `all`");
            let mut e = r.at(pos, message.clone());
            if let Some(h) = did_you_mean(&message) {
                e = e.hint(h);
            }
            r.errors.push(e);
        }
        parsed
    });
    let branch = match (&name, is_main, &kubernetes) {
        (_, true, _) => "main".to_string(),
        (Some((n, _)), _, _) => n.to_string(),
        (None, _, Some((k, _))) => k.release_branch().to_string(),
        (None, _, None) => "(a release)".to_string(),
    };
    let mut caps = BTreeMap::new();
    for (addon, key_pos, constraint, pos) in r.string_map(t, "caps") {
        let name = match addon.parse::<AddonName>() {
            Ok(n) => n,
            Err(e) => {
                r.error(key_pos, format!("branch {branch}: cap for {e}"));
                continue;
            }
        };
        if !known_addons.is_empty() && !known_addons.contains(&name) {
            let mut e = r.at(
                key_pos,
                format!("branch {branch}: cap names addon `{addon}`, but bundles/{addon}/ does not exist"),
            );
            if let Some(best) = known_addons
                .iter()
                .map(|k| (strsim::jaro_winkler(&addon, k.as_str()), k))
                .filter(|(s, _)| *s > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
            {
                e = e.hint(format!("did you mean `{}`?", best.1));
            }
            r.errors.push(e);
            continue;
        }
        match Constraint::parse(&constraint) {
            Ok(c) => {
                caps.insert(name, c);
            }
            Err(e) => {
                let e = r
                    .at(pos, format!("branch {branch}: cap for {addon}: {e}"))
                    .hint("caps use Helm's constraint syntax, e.g. \"<1.16\" or \">=1.14, <1.16\"");
                r.errors.push(e);
            }
        }
    }
    ReadBranch {
        name,
        kubernetes,
        kind_image,
        status,
        caps,
        updates,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_name_their_minor_and_release_number_by_the_format() {
        let train = crate::config::branches_for_tests(
            "tag_format = \"v{minor}.{n}\"\n[main]\nkubernetes = \"1.33\"\nkind_image = \"kindest/node:v1.33.1\"\n",
        );
        assert_eq!(
            train.parse_tag("v1.31.2"),
            Some(("1.31".parse().unwrap(), 2))
        );
        assert_eq!(train.parse_tag("v1.9.0"), Some(("1.9".parse().unwrap(), 0)));
        for not_a_tag in ["main", "HEAD", "v1.31", "v1.31.x", "1.31.2", "v1.31.2-rc.1"] {
            assert_eq!(train.parse_tag(not_a_tag), None, "{not_a_tag}");
        }
        let custom = crate::config::branches_for_tests(
            "tag_format = \"platform-{minor}-r{n}\"\n[main]\nkubernetes = \"1.33\"\nkind_image = \"kindest/node:v1.33.1\"\n",
        );
        assert_eq!(
            custom.parse_tag("platform-1.30-r7"),
            Some(("1.30".parse().unwrap(), 7))
        );
    }

    use super::*;

    #[test]
    fn the_reader_knows_exactly_the_fields_the_schema_describes() {
        let schema = serde_json::to_value(schemars::schema_for!(RawTrain)).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            let mut k: Vec<String> = v["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            k.sort();
            k
        };
        let sorted = |k: &[&str]| -> Vec<String> {
            let mut k: Vec<String> = k.iter().map(|s| s.to_string()).collect();
            k.sort();
            k
        };
        assert_eq!(keys(&schema), sorted(TOP_KEYS));
        let defs = &schema["$defs"];
        assert_eq!(keys(&defs["Main"]), sorted(MAIN_KEYS));
        assert_eq!(keys(&defs["Release"]), sorted(RELEASE_KEYS));
    }

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
    fn updates_default_by_status_and_can_be_set() {
        let t = parse_ok(&format!(
            "{MIN}[[release]]\nkubernetes = \"1.32\"\nkind_image = \"k\"\n\
             [[release]]\nkubernetes = \"1.31\"\nkind_image = \"k\"\nstatus = \"frozen\"\n\
             [[release]]\nkubernetes = \"1.30\"\nkind_image = \"k\"\nstatus = \"frozen\"\nupdates = \"patch\"\n\
             [[release]]\nkubernetes = \"1.29\"\nkind_image = \"k\"\nstatus = \"eol\"\nupdates = \"all\"\n"
        ));
        let u: Vec<_> = t.branches.iter().map(|b| b.updates).collect();
        assert_eq!(
            u,
            [
                Updates::All,
                Updates::All,
                Updates::None,
                Updates::Patch,
                Updates::None
            ]
        );
        let e = parse_err(&format!(
            "{MIN}[[release]]\nkubernetes = \"1.30\"\nkind_image = \"k\"\nupdates = \"patches\"\n"
        ));
        assert!(
            e.contains("unknown variant `patches`") && e.contains("did you mean `patch`?"),
            "{e}"
        );
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
    fn six_mistakes_are_six_errors_in_one_run_each_at_its_line() {
        let text = "tag_formt = \"v{minor}.{n}\"\n\
                    [main]\n\
                    kubernetes = 1.33\n\
                    kind_image = \"k\"\n\
                    kind_imag = \"k\"\n\
                    [[release]]\n\
                    kubernetes = \"1.32\"\n\
                    kind_image = \"k\"\n\
                    status = \"frozn\"\n\
                    caps = { cert-manager = \">>1\" }\n\
                    [[release]]\n\
                    kubernetes = \"1.32\"\n\
                    kind_image = \"\"\n";
        let e = parse_err(text);
        let lines: Vec<&str> = e
            .lines()
            .filter(|l| l.starts_with("branches.toml"))
            .collect();
        assert_eq!(
            lines,
            [
                "branches.toml:1:1: unknown field `tag_formt`, expected one of `main`, `release`, `tag_format`, `mirrors`, `support_window`, `schemas`, `schema_url`",
                "branches.toml:3:14: `kubernetes` is the number 1.33 here, but must be a string",
                "branches.toml:5:1: unknown field `kind_imag`, expected one of `kubernetes`, `kind_image`, `caps`",
                "branches.toml:9:10: unknown variant `frozn`, expected one of `maintained`, `frozen`, `eol`",
                "branches.toml:10:25: branch release-1.32: cap for cert-manager: invalid constraint \">>1\": unknown operator \">>\"",
                "branches.toml:12:14: Kubernetes 1.32 is served by more than one branch (release-1.32 and release-1.32)",
                "branches.toml:13:14: branch release-1.32: kind_image is empty",
            ],
            "{e}"
        );
        assert!(e.contains("hint: quote it: kubernetes = \"1.33\""), "{e}");
        assert!(e.contains("hint: did you mean `frozen`?"), "{e}");
        assert!(e.contains("hint: did you mean `tag_format`?"), "{e}");
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

    const D133: &str =
        "kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f";

    #[test]
    fn a_kind_image_by_tag_is_a_warning_at_its_line_and_a_digest_is_not() {
        let train = parse_ok(&format!(
            "[main]\nkubernetes = \"1.33\"\nkind_image = \"{D133}\"\n\
             [[release]]\nkubernetes = \"1.32\"\nkind_image = \"kindest/node:v1.32.5\"\n"
        ));
        let w: Vec<String> = train.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "branches.toml:6:14: branch release-1.32: kind_image \"kindest/node:v1.32.5\" is a tag without a digest"
            ),
            "{w:?}"
        );
        assert!(
            w[0].contains("hint: use the image with the @sha256 digest"),
            "{w:?}"
        );
        assert_eq!(train.main().kind_image, D133);
    }

    #[test]
    fn a_malformed_kind_image_digest_is_an_error() {
        for (image, why) in [
            ("kindest/node:v1.33.1@sha256:abc", "64 lowercase hex digits"),
            ("kindest/node:v1.33.1@sha512:abc", "must be sha256:"),
            ("@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f", "no image name"),
            (
                "kindest/node:v1.33.1@sha256:050072256B9A903BD914C0B2866828150CB229CEA0EFE5892E2B644D5DD3B34F",
                "64 lowercase hex digits",
            ),
        ] {
            let e = parse_err(&format!(
                "[main]\nkubernetes = \"1.33\"\nkind_image = \"{image}\"\n"
            ));
            assert!(
                e.starts_with("branches.toml:3:14: branch main: kind_image") && e.contains(why),
                "{image}: {e}"
            );
        }
    }
}
