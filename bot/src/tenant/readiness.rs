//! Upgrade readiness of a tenant's own manifests, offline: would every object the tenant
//! deploys install on the Kubernetes minor its pin moves to? The objects come from plain YAML
//! files, Kustomize overlays (rendered with the real kustomize, `kubectl kustomize`) and Helm
//! charts (rendered with the real helm for that minor); each is checked with the engine
//! `validate` uses ([`validate::check_objects`]): removed and deprecated APIs, the minor's
//! strict schemas, custom resources against the platform's CRDs.
//!
//! Objects on a removed or deprecated API get a fix where one is lossless ([`convert`]), and
//! only if the converted object passes the same checks: a rewrite of the tenant's file for
//! plain YAML (every other byte kept), a suggestion for rendered objects (the change belongs in
//! the template or overlay). Whatever could not be checked is a note saying why; bad tenant
//! data is an item about that file, and the rest is still checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::convert::{self, Conversion};
use crate::git::FileChange;
use crate::manifest::{CrdChange, Manifests, Object, ObjectRef};
use crate::model::KubeMinor;
use crate::render::{Helm, Kubectl, TemplateArgs};
use crate::validate::{self, Check, Crds, SchemaStore, Severity};

/// What to check.
pub struct Inputs<'a> {
    /// A checkout of the tenant repository.
    pub dir: &'a Path,
    /// Files or directories under `dir` to look in; empty: the whole checkout.
    pub paths: &'a [PathBuf],
    /// The Kubernetes minor the tenant moves to.
    pub target: KubeMinor,
    /// Kubernetes JSON schemas (strict); `None`: built-in kinds are not schema-checked.
    pub schemas: Option<&'a SchemaStore>,
    /// The CRDs of the platform's bundles, for the tenant's custom resources.
    pub crds: &'a Crds<'a>,
    /// How those CRDs changed since the tag the tenant pins: a breaking change that touches
    /// one of the tenant's custom resources is a warning about that object.
    pub crd_changes: &'a [CrdChange],
    /// Renders Helm charts; `None`: charts are a note.
    pub helm: Option<&'a Helm>,
    /// Renders Kustomize overlays (`kubectl kustomize`); `None`: overlays are a note.
    pub kubectl: Option<&'a Path>,
}

/// The answer for one tenant and target minor.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// The target minor, `1.31`.
    pub target: String,
    /// How many objects were found (checked or noted).
    pub objects: usize,
    pub items: Vec<Item>,
    /// What was not checked, and why.
    pub notes: Vec<String>,
    /// Rewrites of the tenant's files for the committed fixes (repo-relative paths).
    #[serde(skip)]
    pub fixes: Vec<FileChange>,
}

/// One problem with one object (or one file that could not be read).
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// Repo-relative: the YAML file, the overlay's kustomization file, or the chart template.
    pub file: PathBuf,
    pub via: Via,
    /// 1-based line of the object in `file` (plain YAML only).
    pub line: Option<usize>,
    /// `PodDisruptionBudget payments/api`.
    pub object: String,
    pub severity: Severity,
    pub check: Check,
    pub message: String,
    pub fix: Fix,
}

/// Where the object came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Via {
    File,
    /// Rendered from this (repo-relative) overlay.
    Kustomize {
        dir: PathBuf,
    },
    /// Rendered from this (repo-relative) chart with its default values.
    Helm {
        chart: PathBuf,
    },
}

/// What is done about an item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fix {
    None,
    /// Converted losslessly to `to` in [`Readiness::fixes`].
    Committed {
        to: String,
        note: Option<String>,
    },
    /// Converted losslessly to `to`: this YAML, to apply in the template or overlay.
    Suggested {
        to: String,
        yaml: String,
    },
    /// A person has to do this.
    Manual {
        what: String,
    },
}

impl Readiness {
    pub fn errors(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .count()
    }

    /// Whether an error remains that no committed fix resolves.
    pub fn blocking(&self) -> bool {
        self.items
            .iter()
            .any(|i| i.severity == Severity::Error && !matches!(i.fix, Fix::Committed { .. }))
    }
}

/// Check everything the tenant deploys under `inputs.dir` for `inputs.target`.
pub async fn check(inputs: Inputs<'_>) -> Readiness {
    let target = inputs.target;
    let mut r = Readiness {
        target: target.to_string(),
        objects: 0,
        items: Vec::new(),
        notes: Vec::new(),
        fixes: Vec::new(),
    };
    match inputs.schemas {
        None => r.notes.push(
            "built-in kinds were not checked against Kubernetes schemas: no schema directory"
                .into(),
        ),
        Some(s) => {
            if let Err(e) = s.set(target).as_ref() {
                r.notes.push(format!(
                    "built-in kinds were not checked against Kubernetes schemas: {e}"
                ));
            }
        }
    }
    let dir = inputs.dir.to_path_buf();
    let paths = inputs.paths.to_vec();
    let scan = match tokio::task::spawn_blocking(move || Scan::run(&dir, &paths)).await {
        Ok(s) => s,
        Err(e) => {
            r.notes.push(format!("scanning the checkout failed: {e}"));
            return r;
        }
    };
    r.notes.extend(scan.notes.iter().cloned());
    let ctx = Ctx {
        target,
        schemas: inputs.schemas,
        crds: inputs.crds,
        crd_changes: inputs.crd_changes,
    };
    for file in &scan.files {
        ctx.plain_file(inputs.dir, file, &mut r);
    }
    ctx.kustomize(inputs.dir, inputs.kubectl, &scan, &mut r)
        .await;
    for chart in &scan.charts {
        ctx.chart(inputs.dir, inputs.helm, chart, &mut r).await;
    }
    r.items.sort_by(|a, b| {
        (&a.file, a.line, a.severity, &a.object, &a.message)
            .cmp(&(&b.file, b.line, b.severity, &b.object, &b.message))
    });
    r
}

/// What the checkout holds (repo-relative paths).
#[derive(Debug, Default)]
struct Scan {
    /// Plain YAML files: not in a chart, not part of a Kustomize directory.
    files: Vec<PathBuf>,
    /// Every kustomization in the checkout, by directory.
    kustomizations: BTreeMap<PathBuf, Kustomization>,
    /// Overlays to render: scanned kustomizations no other scanned one refers to.
    leaves: Vec<PathBuf>,
    charts: Vec<PathBuf>,
    notes: Vec<String>,
}

#[derive(Debug)]
struct Kustomization {
    /// The kustomization file.
    file: PathBuf,
    /// The file, parsed (or why not).
    value: Result<Value, String>,
    /// Directories and files it refers to (resolved, repo-relative).
    refs: BTreeSet<PathBuf>,
    /// Remote entries of resources/components/bases.
    remote: Vec<String>,
}

const KUSTOMIZATION_FILES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

impl Scan {
    fn run(dir: &Path, paths: &[PathBuf]) -> Scan {
        let mut scan = Scan::default();
        // Every kustomization of the checkout: scanned overlays reach bases anywhere in it.
        let mut all_dirs = Vec::new();
        walk_dirs(dir, dir, &mut all_dirs);
        for d in &all_dirs {
            if let Some(k) = read_kustomization(dir, d) {
                scan.kustomizations.insert(d.clone(), k);
            }
        }
        let mut roots: Vec<PathBuf> = Vec::new();
        if paths.is_empty() {
            roots.push(PathBuf::new());
        }
        for p in paths {
            let escapes = p.is_absolute()
                || p.components()
                    .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)));
            if escapes {
                scan.notes.push(format!(
                    "{}: not checked: the path is outside the checkout",
                    p.display()
                ));
            } else if !dir.join(p).exists() {
                scan.notes
                    .push(format!("{}: not checked: no such path", p.display()));
            } else {
                roots.push(p.clone());
            }
        }
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        let mut files: BTreeSet<PathBuf> = BTreeSet::new();
        for root in &roots {
            let abs = dir.join(root);
            if abs.is_file() {
                files.insert(root.clone());
                continue;
            }
            let mut ds = Vec::new();
            walk_dirs(dir, &abs, &mut ds);
            for d in ds {
                if let Ok(entries) = sorted_entries(&dir.join(&d)) {
                    for (name, _, ft) in entries {
                        if ft.is_file() && is_yaml(&name) {
                            files.insert(d.join(name));
                        }
                    }
                }
                dirs.insert(d);
            }
        }
        // Charts: whole subtrees, rendered by helm (subcharts with their parent).
        let chart_dirs: BTreeSet<PathBuf> = all_dirs
            .iter()
            .filter(|d| dir.join(d).join("Chart.yaml").is_file())
            .cloned()
            .collect();
        let in_chart = |p: &Path| chart_dirs.iter().any(|c| p.starts_with(c));
        scan.charts = chart_dirs
            .iter()
            .filter(|c| dirs.contains(*c) || roots.iter().any(|r| c.starts_with(r)))
            .filter(|c| {
                !chart_dirs
                    .iter()
                    .any(|other| other != *c && c.starts_with(other))
            })
            .cloned()
            .collect();
        // Part of a Kustomize directory: next to a kustomization, or referred to by one.
        let referenced: BTreeSet<&PathBuf> = scan
            .kustomizations
            .values()
            .flat_map(|k| k.refs.iter())
            .collect();
        scan.files = files
            .into_iter()
            .filter(|f| {
                let parent = f.parent().unwrap_or(Path::new(""));
                !in_chart(f) && !scan.kustomizations.contains_key(parent) && !referenced.contains(f)
            })
            .collect();
        let scanned: BTreeSet<&PathBuf> = scan
            .kustomizations
            .keys()
            .filter(|k| dirs.contains(*k) && !in_chart(k))
            .collect();
        scan.leaves = scanned
            .iter()
            .filter(|k| {
                !scanned
                    .iter()
                    .any(|other| other != *k && scan.kustomizations[*other].refs.contains(**k))
            })
            .map(|k| (*k).clone())
            .collect();
        scan
    }

    /// `leaf` and every kustomization it reaches through its bases and resources.
    fn reached(&self, leaf: &Path) -> Vec<&Kustomization> {
        let mut seen = BTreeSet::new();
        let mut queue = vec![leaf.to_path_buf()];
        let mut out = Vec::new();
        while let Some(d) = queue.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            let Some(k) = self.kustomizations.get(&d) else {
                continue;
            };
            out.push(k);
            queue.extend(k.refs.iter().cloned());
        }
        out
    }

    /// Remote entries of `leaf` and of every kustomization it reaches, by kustomization file.
    fn remotes(&self, leaf: &Path) -> Vec<(PathBuf, String)> {
        let mut out: Vec<(PathBuf, String)> = self
            .reached(leaf)
            .into_iter()
            .flat_map(|k| k.remote.iter().map(|r| (k.file.clone(), r.clone())))
            .collect();
        out.sort();
        out
    }

    /// Kustomizations `leaf` reaches that cannot be parsed.
    fn remotes_parse_errors(&self, leaf: &Path) -> Vec<(PathBuf, String)> {
        let mut out: Vec<(PathBuf, String)> = self
            .reached(leaf)
            .into_iter()
            .filter_map(|k| k.value.as_ref().err().map(|e| (k.file.clone(), e.clone())))
            .collect();
        out.sort();
        out
    }
}

fn is_yaml(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Entries of `abs`, sorted by name; hidden ones (`.git`, `.github`) and symlinks left out.
fn sorted_entries(abs: &Path) -> std::io::Result<Vec<(String, PathBuf, std::fs::FileType)>> {
    let mut out: Vec<_> = std::fs::read_dir(abs)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let ft = e.file_type().ok()?;
            (!name.starts_with('.') && !ft.is_symlink()).then(|| (name, e.path(), ft))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// `abs` and every directory below it, repo-relative to `root`.
fn walk_dirs(root: &Path, abs: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rel) = abs.strip_prefix(root) else {
        return;
    };
    out.push(rel.to_path_buf());
    if let Ok(entries) = sorted_entries(abs) {
        for (_, path, ft) in entries {
            if ft.is_dir() {
                walk_dirs(root, &path, out);
            }
        }
    }
}

fn read_kustomization(root: &Path, d: &Path) -> Option<Kustomization> {
    let name = KUSTOMIZATION_FILES
        .iter()
        .find(|n| root.join(d).join(n).is_file())?;
    let file = d.join(name);
    let value = std::fs::read_to_string(root.join(&file))
        .map_err(|e| e.to_string())
        .and_then(|t| crate::yaml::from_str::<Value>(&t).map_err(|e| describe_yaml(&e)));
    let mut refs = BTreeSet::new();
    let mut remote = Vec::new();
    if let Ok(v) = &value {
        for key in ["resources", "components", "bases"] {
            for entry in v[key].as_array().into_iter().flatten() {
                if let Some(s) = entry.as_str().filter(|s| is_remote(s)) {
                    remote.push(s.to_string());
                }
            }
        }
        let mut strings = Vec::new();
        collect_strings(v, &mut strings);
        for s in strings {
            if is_remote(s) || s.contains('\n') {
                continue;
            }
            if let Some(p) = normalise(&d.join(s)) {
                if p != d && root.join(&p).exists() {
                    refs.insert(p);
                }
            }
        }
    }
    Some(Kustomization {
        file,
        value,
        refs,
        remote,
    })
}

fn describe_yaml(e: &crate::yaml::YamlError) -> String {
    match e.line {
        Some(l) => format!("invalid YAML at line {l}: {}", e.message),
        None => format!("invalid YAML: {}", e.message),
    }
}

fn collect_strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// A resource kustomize would fetch: a URL or a git repository.
fn is_remote(s: &str) -> bool {
    s.contains("://")
        || s.contains("?ref=")
        || s.starts_with("git@")
        || s.starts_with("git::")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"]
            .iter()
            .any(|h| s.starts_with(h))
}

/// `a/b/../c` → `a/c`; `None` when it leaves the checkout.
fn normalise(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Groups the API server serves itself, as `validate` reads them; kustomize's own config
/// kinds are not deployed.
fn is_builtin_group(group: &str) -> bool {
    group != "kustomize.config.k8s.io"
        && (group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io"))
}

/// One `---`-separated document of a file: byte range and first line.
struct Doc {
    start: usize,
    end: usize,
    line: usize,
}

/// Documents of `text` with content (as `Manifests::parse` splits them).
fn split_documents(text: &str) -> Vec<Doc> {
    let mut out = Vec::new();
    let (mut start, mut line, mut offset) = (0, 1, 0);
    for (i, l) in text.split_inclusive('\n').enumerate() {
        let trimmed = l.trim_end_matches(['\n', '\r']);
        if trimmed == "---" || trimmed.starts_with("--- ") {
            out.push(Doc {
                start,
                end: offset,
                line,
            });
            start = offset + l.len();
            line = i + 2;
        }
        offset += l.len();
    }
    out.push(Doc {
        start,
        end: text.len(),
        line,
    });
    out.retain(|d| {
        text[d.start..d.end]
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    out
}

/// Lines before a document's first content line (comments, blanks).
fn leading_lines(chunk: &str) -> usize {
    chunk
        .lines()
        .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .unwrap_or(0)
}

/// The object a document holds: `Ok(None)` when it is no Kubernetes object at all.
fn object_of(value: Value, doc: usize, line: usize) -> Result<Option<Object>, String> {
    let Value::Object(map) = value else {
        return Ok(None);
    };
    let field = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_string);
    let (api_version, kind) = match (field("apiVersion"), field("kind")) {
        (Some(a), Some(k)) => (a, k),
        (None, None) => return Ok(None),
        (None, Some(k)) => return Err(format!("{k} has no apiVersion")),
        (Some(a), None) => return Err(format!("{a} object has no kind")),
    };
    let meta = map.get("metadata");
    let name = meta
        .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
        .and_then(Value::as_str)
        .unwrap_or("(no name)")
        .to_string();
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let group = crate::manifest::api_group(&api_version).to_string();
    Ok(Some(Object {
        key: ObjectRef {
            group,
            kind,
            namespace,
            name,
        },
        api_version,
        value: Value::Object(map),
        source: None,
        doc,
        line,
    }))
}

/// A lossless conversion that passes the target's checks, or what to do by hand.
enum Decision {
    Convert {
        to: String,
        value: Value,
        structural: bool,
    },
    Manual(String),
}

struct Ctx<'a> {
    target: KubeMinor,
    schemas: Option<&'a SchemaStore>,
    crds: &'a Crds<'a>,
    crd_changes: &'a [CrdChange],
}

impl Ctx<'_> {
    /// Objects to check, and notes for the ones nothing can check (kinds of other groups
    /// with no platform CRD: Argo CD, Flux, the tenant's own CRDs).
    fn checkable(&self, objects: Vec<Object>, at: &str, notes: &mut Vec<String>) -> Vec<Object> {
        objects
            .into_iter()
            .filter(|o| {
                let known = is_builtin_group(&o.key.group)
                    || self.crds.defines_kind(&o.key.group, &o.key.kind).is_some();
                if !known {
                    notes.push(format!(
                        "{at}: {} ({}) not checked: no Kubernetes schema and no platform CRD for {} in group {:?}",
                        o.key, o.api_version, o.key.kind, o.key.group
                    ));
                }
                known
            })
            .collect()
    }

    /// Findings for `objects`, each with the decision for removed/deprecated APIs.
    fn findings(
        &self,
        objects: &[Object],
    ) -> Vec<(usize, Severity, Check, String, Option<Decision>)> {
        let mut out: Vec<_> =
            validate::check_objects(self.target, self.schemas, self.crds, objects)
                .into_iter()
                .map(|(i, s, c, m)| {
                    let d = matches!(c, Check::RemovedApi | Check::DeprecatedApi)
                        .then(|| self.decide(&objects[i]));
                    (i, s, c, m, d)
                })
                .collect();
        // Accepted today is not the whole story: what the move's CRD changes do to them.
        for (i, o) in objects.iter().enumerate() {
            for t in crate::manifest::crd::touches(self.crd_changes, o) {
                let m = format!("it {t}");
                out.push((i, Severity::Warning, Check::CrdChange, m, None));
            }
        }
        out
    }

    fn decide(&self, o: &Object) -> Decision {
        match convert::convert(&o.api_version, &o.key.kind, &o.value) {
            Conversion::Manual(m) => Decision::Manual(m),
            Conversion::Converted {
                to,
                value,
                structural,
            } => {
                let api_version = value["apiVersion"].as_str().unwrap_or_default().to_string();
                let converted = Object {
                    key: ObjectRef {
                        group: crate::manifest::api_group(&api_version).to_string(),
                        ..o.key.clone()
                    },
                    api_version,
                    value,
                    ..o.clone()
                };
                let errors: Vec<String> = validate::check_objects(
                    self.target,
                    self.schemas,
                    self.crds,
                    std::slice::from_ref(&converted),
                )
                .into_iter()
                .filter(|(_, s, _, _)| *s == Severity::Error)
                .map(|(_, _, _, m)| m)
                .collect();
                if errors.is_empty() {
                    Decision::Convert {
                        to,
                        value: converted.value,
                        structural,
                    }
                } else {
                    Decision::Manual(format!(
                        "converted to {to}, it fails the Kubernetes {} checks: {}; convert it by hand",
                        self.target,
                        errors.join("; ")
                    ))
                }
            }
        }
    }

    fn plain_file(&self, root: &Path, file: &Path, r: &mut Readiness) {
        let item = |line: Option<usize>, object: String, message: String| Item {
            file: file.to_path_buf(),
            via: Via::File,
            line,
            object,
            severity: Severity::Error,
            check: Check::Render,
            message,
            fix: Fix::None,
        };
        let text = match std::fs::read(root.join(file)).map(String::from_utf8) {
            Ok(Ok(t)) => t,
            Ok(Err(_)) => {
                r.items
                    .push(item(None, String::new(), "not UTF-8 text".into()));
                return;
            }
            Err(e) => {
                r.items
                    .push(item(None, String::new(), format!("cannot read it: {e}")));
                return;
            }
        };
        let docs = split_documents(&text);
        let mut objects = Vec::new();
        let mut ranges = Vec::new();
        let mut other_docs = 0;
        for (i, d) in docs.iter().enumerate() {
            let chunk = &text[d.start..d.end];
            let line = d.line + leading_lines(chunk);
            let value: Value = match crate::yaml::from_str(chunk) {
                Ok(v) => v,
                Err(e) => {
                    let at = e.line.map_or(line, |l| d.line + l - 1);
                    r.items.push(item(
                        Some(at),
                        format!("document {}", i + 1),
                        format!(
                            "{}; this document was not checked",
                            describe_yaml(&crate::yaml::YamlError {
                                message: e.message.clone(),
                                line: None,
                                column: None,
                            })
                        ),
                    ));
                    continue;
                }
            };
            match object_of(value, i + 1, line) {
                Ok(Some(o)) => {
                    objects.push(o);
                    ranges.push(i);
                }
                Ok(None) => other_docs += 1,
                Err(m) => r
                    .items
                    .push(item(Some(line), format!("document {}", i + 1), m)),
            }
        }
        if objects.is_empty() && other_docs > 0 && other_docs == docs.len() {
            r.notes.push(format!(
                "{}: no Kubernetes objects (no apiVersion and kind), not checked",
                file.display()
            ));
        }
        r.objects += objects.len();
        let at = file.display().to_string();
        // Keep each object's document index for the rewrite.
        let indexed: Vec<(usize, Object)> = ranges.into_iter().zip(objects).collect();
        let (docs_of, objects): (Vec<usize>, Vec<Object>) = {
            let keep: Vec<(usize, Object)> = indexed
                .into_iter()
                .filter(|(_, o)| {
                    let kept = self.checkable(vec![o.clone()], &at, &mut r.notes);
                    !kept.is_empty()
                })
                .collect();
            keep.into_iter().unzip()
        };
        // Document index → replacement text.
        let mut rewrites: BTreeMap<usize, String> = BTreeMap::new();
        for (i, severity, check, message, decision) in self.findings(&objects) {
            let o = &objects[i];
            let fix = match decision {
                None => Fix::None,
                Some(Decision::Manual(what)) => Fix::Manual { what },
                Some(Decision::Convert {
                    to,
                    value,
                    structural,
                }) => {
                    let d = &docs[docs_of[i]];
                    let chunk = &text[d.start..d.end];
                    let (new, note) = rewrite_document(chunk, &o.api_version, &value, structural);
                    rewrites.insert(docs_of[i], new);
                    Fix::Committed { to, note }
                }
            };
            r.items.push(Item {
                file: file.to_path_buf(),
                via: Via::File,
                line: Some(o.line),
                object: o.key.to_string(),
                severity,
                check,
                message,
                fix,
            });
        }
        if !rewrites.is_empty() {
            let mut out = String::with_capacity(text.len());
            let mut pos = 0;
            for (i, new) in rewrites {
                let d = &docs[i];
                out.push_str(&text[pos..d.start]);
                out.push_str(&new);
                pos = d.end;
            }
            out.push_str(&text[pos..]);
            r.fixes.push(FileChange {
                path: file.to_path_buf(),
                content: Some(out.into_bytes()),
            });
        }
    }

    async fn kustomize(&self, root: &Path, kubectl: Option<&Path>, scan: &Scan, r: &mut Readiness) {
        if scan.leaves.is_empty() {
            return;
        }
        let Some(kubectl) = kubectl else {
            for leaf in &scan.leaves {
                r.notes.push(format!(
                    "{} (kustomize): not checked: kubectl not found (set $KUBECTL)",
                    leaf.display()
                ));
            }
            return;
        };
        let kubectl = Kubectl::at(kubectl);
        // An offline copy: remote entries dropped from every kustomization.
        let copy = {
            let root = root.to_path_buf();
            let edits: Vec<(PathBuf, Value)> = scan
                .kustomizations
                .values()
                .filter(|k| !k.remote.is_empty())
                .filter_map(|k| Some((k.file.clone(), without_remote(k.value.as_ref().ok()?))))
                .collect();
            tokio::task::spawn_blocking(move || offline_copy(&root, &edits))
                .await
                .map_err(|e| e.to_string())
                .and_then(|x| x)
        };
        let copy = match copy {
            Ok(c) => c,
            Err(e) => {
                for leaf in &scan.leaves {
                    r.notes.push(format!(
                        "{} (kustomize): not checked: cannot copy the checkout: {e}",
                        leaf.display()
                    ));
                }
                return;
            }
        };
        for leaf in &scan.leaves {
            let k = &scan.kustomizations[leaf];
            let via = Via::Kustomize { dir: leaf.clone() };
            for (file, remote) in scan.remotes(leaf) {
                r.notes.push(format!(
                    "{} (kustomize): remote resource {remote} (in {}) not checked: it is not fetched offline, and the platform validates its own bundles",
                    leaf.display(),
                    file.display()
                ));
            }
            let broken = scan.remotes_parse_errors(leaf).into_iter().next();
            if let Some((file, e)) = broken {
                r.items.push(Item {
                    file,
                    via: via.clone(),
                    line: None,
                    object: String::new(),
                    severity: Severity::Error,
                    check: Check::Render,
                    message: format!("the kustomization cannot be read: {e}"),
                    fix: Fix::None,
                });
                continue;
            }
            let out = kubectl.kustomize(&copy.path().join(leaf)).await;
            let manifests = out.and_then(|text| Manifests::parse(&text).map_err(|e| e.to_string()));
            match manifests {
                Ok(m) => self.rendered(m.objects().to_vec(), &via, |_| k.file.clone(), r),
                Err(e) => r.items.push(Item {
                    file: k.file.clone(),
                    via,
                    line: None,
                    object: String::new(),
                    severity: Severity::Error,
                    check: Check::Render,
                    message: e.replace(&copy.path().display().to_string(), "."),
                    fix: Fix::None,
                }),
            }
        }
    }

    async fn chart(&self, root: &Path, helm: Option<&Helm>, chart: &Path, r: &mut Readiness) {
        let via = Via::Helm {
            chart: chart.to_path_buf(),
        };
        let chart_file = chart.join("Chart.yaml");
        let Some(helm) = helm else {
            r.notes.push(format!(
                "{} (helm): not checked: helm not found (set $HELM)",
                chart.display()
            ));
            return;
        };
        let meta: Value = match std::fs::read_to_string(root.join(&chart_file))
            .map_err(|e| e.to_string())
            .and_then(|t| crate::yaml::from_str(&t).map_err(|e| describe_yaml(&e)))
        {
            Ok(v) => v,
            Err(e) => {
                r.items.push(Item {
                    file: chart_file,
                    via,
                    line: None,
                    object: String::new(),
                    severity: Severity::Error,
                    check: Check::Render,
                    message: format!("Chart.yaml cannot be read: {e}"),
                    fix: Fix::None,
                });
                return;
            }
        };
        let missing = missing_dependencies(&root.join(chart), &meta);
        if !missing.is_empty() {
            r.notes.push(format!(
                "{} (helm): not checked: its dependencies are not vendored in charts/ ({}); run `helm dependency build` and commit charts/, or check it where they are",
                chart.display(),
                missing.join(", ")
            ));
            return;
        }
        let release = meta["name"]
            .as_str()
            .map(str::to_string)
            .or_else(|| chart.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "release".into());
        let kube_version = self.target.render_version();
        let api_versions = crate::apis::api_versions(self.target);
        let out = helm
            .template(&TemplateArgs {
                release: &release,
                chart: &root.join(chart),
                namespace: "default",
                kube_version: &kube_version,
                api_versions: &api_versions,
                values_file: None,
                include_crds: true,
            })
            .await
            .and_then(|text| Manifests::parse(&text).map_err(|e| format!("helm output: {e}")));
        match out {
            Ok(m) => {
                let source_file =
                    |o: &Object| match o.source.as_deref().and_then(|s| s.split_once('/')) {
                        Some((_, rest)) => chart.join(rest),
                        None => chart_file.clone(),
                    };
                self.rendered(m.objects().to_vec(), &via, source_file, r)
            }
            Err(e) => r.items.push(Item {
                file: chart_file,
                via,
                line: None,
                object: String::new(),
                severity: Severity::Error,
                check: Check::Render,
                message: e.replace(&root.display().to_string(), "."),
                fix: Fix::None,
            }),
        }
    }

    /// Items for rendered objects: fixes are suggestions for the source.
    fn rendered(
        &self,
        objects: Vec<Object>,
        via: &Via,
        file_of: impl Fn(&Object) -> PathBuf,
        r: &mut Readiness,
    ) {
        r.objects += objects.len();
        let at = match via {
            Via::Kustomize { dir } => format!("{} (kustomize)", dir.display()),
            Via::Helm { chart } => format!("{} (helm)", chart.display()),
            Via::File => String::new(),
        };
        let objects = self.checkable(objects, &at, &mut r.notes);
        for (i, severity, check, message, decision) in self.findings(&objects) {
            let o = &objects[i];
            let fix = match decision {
                None => Fix::None,
                Some(Decision::Manual(what)) => Fix::Manual { what },
                Some(Decision::Convert { to, value, .. }) => Fix::Suggested {
                    to,
                    yaml: crate::yaml::to_canonical_string(&value),
                },
            };
            r.items.push(Item {
                file: file_of(o),
                via: via.clone(),
                line: None,
                object: o.key.to_string(),
                severity,
                check,
                message,
                fix,
            });
        }
    }
}

/// A document rewritten to `value`: only the `apiVersion:` line when that is all that
/// changed (and the result reads back as `value`), else the document re-serialised.
fn rewrite_document(
    chunk: &str,
    old_api_version: &str,
    value: &Value,
    structural: bool,
) -> (String, Option<String>) {
    if !structural {
        if let Some(new) = rewrite_api_version_line(chunk, old_api_version, value) {
            return (new, None);
        }
    }
    // Leading comments stay; the object itself is written canonically.
    let keep: usize = chunk
        .split_inclusive('\n')
        .take(leading_lines(chunk))
        .map(str::len)
        .sum();
    (
        format!(
            "{}{}",
            &chunk[..keep],
            crate::yaml::to_canonical_string(value)
        ),
        Some("the document was re-serialised: comments inside it were not kept".into()),
    )
}

fn rewrite_api_version_line(chunk: &str, old: &str, value: &Value) -> Option<String> {
    let new_gv = value["apiVersion"].as_str()?;
    let mut offset = 0;
    for line in chunk.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("apiVersion:") {
            let at = rest.find(old)? + offset + "apiVersion:".len();
            let out = format!("{}{new_gv}{}", &chunk[..at], &chunk[at + old.len()..]);
            let back: Value = crate::yaml::from_str(&out).ok()?;
            return (back == *value).then_some(out);
        }
        offset += line.len();
    }
    None
}

/// The kustomization without remote entries in resources/components/bases.
fn without_remote(v: &Value) -> Value {
    let mut v = v.clone();
    for key in ["resources", "components", "bases"] {
        if let Some(a) = v.get_mut(key).and_then(Value::as_array_mut) {
            a.retain(|e| !e.as_str().is_some_and(is_remote));
        }
    }
    v
}

/// The checkout copied to a temporary directory (no `.git`, no symlinks), with `edits`
/// (repo-relative kustomization files) written over their originals.
fn offline_copy(root: &Path, edits: &[(PathBuf, Value)]) -> Result<tempfile::TempDir, String> {
    let tmp = tempfile::Builder::new()
        .prefix("ake-bot-tenant-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    copy_tree(root, tmp.path()).map_err(|e| e.to_string())?;
    for (file, value) in edits {
        std::fs::write(
            tmp.path().join(file),
            crate::yaml::to_canonical_string(value),
        )
        .map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(tmp)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for (name, path, ft) in sorted_entries(from)? {
        if ft.is_dir() {
            copy_tree(&path, &to.join(&name))?;
        } else if ft.is_file() {
            std::fs::copy(&path, to.join(&name))?;
        }
    }
    Ok(())
}

/// Dependencies of a chart (Chart.yaml, or requirements.yaml for apiVersion v1 charts) with
/// nothing for them in `charts/`.
fn missing_dependencies(chart: &Path, meta: &Value) -> Vec<String> {
    let requirements: Value = std::fs::read_to_string(chart.join("requirements.yaml"))
        .ok()
        .and_then(|t| crate::yaml::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let vendored: Vec<String> = std::fs::read_dir(chart.join("charts"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    meta["dependencies"]
        .as_array()
        .into_iter()
        .chain(requirements["dependencies"].as_array())
        .flatten()
        .filter_map(|d| d["name"].as_str())
        .filter(|name| {
            !vendored.iter().any(|v| {
                v == name
                    || v.strip_prefix(&format!("{name}-"))
                        .is_some_and(|rest| rest.ends_with(".tgz"))
            })
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn documents_split_with_byte_ranges_and_lines() {
        let text = "# head\napiVersion: v1\n---\n\n--- # x\nkind: A\n---\n# only a comment\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(
            &text[docs[0].start..docs[0].end],
            "# head\napiVersion: v1\n"
        );
        assert_eq!(docs[0].line, 1);
        assert_eq!(&text[docs[1].start..docs[1].end], "kind: A\n");
        assert_eq!(docs[1].line, 6);
    }

    #[test]
    fn api_version_line_rewrite_keeps_other_bytes() {
        let chunk = "# keep me\napiVersion: \"policy/v1beta1\"   # old\nkind: PodDisruptionBudget\nmetadata: {name: a}\n";
        let mut v: Value = crate::yaml::from_str(chunk).unwrap();
        v["apiVersion"] = "policy/v1".into();
        let (out, note) = rewrite_document(chunk, "policy/v1beta1", &v, false);
        assert_eq!(note, None);
        assert_eq!(
            out,
            "# keep me\napiVersion: \"policy/v1\"   # old\nkind: PodDisruptionBudget\nmetadata: {name: a}\n"
        );
    }

    #[test]
    fn remote_entries_are_recognised() {
        for r in [
            "https://github.com/acme/platform//bundles/x?ref=v1",
            "github.com/acme/platform/deploy?ref=main",
            "git@github.com:acme/platform.git",
        ] {
            assert!(is_remote(r), "{r}");
        }
        assert!(!is_remote("../base"));
        assert_eq!(
            normalise(Path::new("a/b/../../c")),
            Some(PathBuf::from("c"))
        );
        assert_eq!(normalise(Path::new("a/../../c")), None);
    }
}
