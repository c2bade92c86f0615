//! Rendered manifests as Kubernetes objects: parse helm output, write one canonical form, and
//! compute the semantic diff reviewers read (objects added/removed/changed, with images, CRD
//! versions and schemas, RBAC rules and removals called out).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde_json::Value;

pub mod crd;
mod rbac;

pub use crd::{CrdChange, Impact, SchemaChange};
use rbac::rbac_changes;

/// The identity of a Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    /// API group, "" for core.
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// The API group of `api_version` (`apps/v1` → `apps`; `v1` → "", the core group).
pub fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

impl fmt::Display for ObjectRef {
    /// `Deployment monitoring/kps-operator`, `ClusterRole kps-operator`; kinds of non-built-in
    /// groups get kubectl's `Kind.group` form (`ServiceMonitor.monitoring.coreos.com`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let builtin =
            self.group.is_empty() || !self.group.contains('.') || self.group.ends_with(".k8s.io");
        if builtin {
            write!(f, "{}", self.kind)?;
        } else {
            write!(f, "{}.{}", self.kind, self.group)?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " {ns}/{}", self.name),
            None => write!(f, " {}", self.name),
        }
    }
}

/// One object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub key: ObjectRef,
    pub api_version: String,
    /// The object, top-level keys ordered apiVersion, kind, metadata, then as helm wrote them.
    pub value: Value,
    /// Helm's `# Source: chart/templates/x.yaml`, when known.
    pub source: Option<String>,
    /// Where it was read: 1-based document index and the object's first line.
    pub doc: usize,
    pub line: usize,
}

/// Why manifests could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {doc} (line {line}): {message}")]
pub struct ManifestError {
    /// 1-based index of the `---`-separated document.
    pub doc: usize,
    /// 1-based line where the document starts (or the YAML error is).
    pub line: usize,
    pub message: String,
}

/// A set of objects, sorted by (kind, namespace, name, group).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifests {
    objects: Vec<Object>,
}

impl Manifests {
    /// Parse `helm template` output or a committed canonical file.
    pub fn parse(text: &str) -> Result<Manifests, ManifestError> {
        let docs = split_documents(text);
        // Documents are independent, and a chart with CRDs renders megabytes of them: read
        // them on every core. Errors are still reported in document order (first one wins).
        let read = par_map(
            &docs,
            text.len() >= PARALLEL_PARSE_BYTES,
            |&(start_line, chunk)| read_document(start_line, chunk),
        );
        let mut objects: Vec<Object> = Vec::with_capacity(read.len());
        let mut seen: BTreeMap<ObjectRef, usize> = BTreeMap::new();
        for (i, (r, &(start_line, _))) in read.into_iter().zip(&docs).enumerate() {
            let doc = i + 1;
            let err = |line: usize, message: String| ManifestError { doc, line, message };
            let Some(mut object) = r.map_err(|(line, message)| err(line, message))? else {
                continue;
            };
            if let Some(first) = seen.insert(object.key.clone(), doc) {
                return Err(err(
                    start_line,
                    format!(
                        "{} is defined twice (documents {first} and {doc})",
                        object.key
                    ),
                ));
            }
            object.doc = doc;
            objects.push(object);
        }
        objects.sort_by(|a, b| sort_key(&a.key).cmp(&sort_key(&b.key)));
        Ok(Manifests { objects })
    }

    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    pub fn get(&self, key: &ObjectRef) -> Option<&Object> {
        self.objects.iter().find(|o| &o.key == key)
    }

    /// Take out the objects `take` picks (in order); the rest stay.
    pub fn extract(&mut self, mut take: impl FnMut(&Object) -> bool) -> Vec<Object> {
        let (taken, kept) = std::mem::take(&mut self.objects)
            .into_iter()
            .partition(|o| take(o));
        self.objects = kept;
        taken
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The canonical text: `---` before each object, its `# Source:` line, then the object.
    /// Re-parsing it gives the same objects, and re-writing those gives the same bytes.
    pub fn to_canonical_yaml(&self) -> String {
        let mut out = String::new();
        for o in &self.objects {
            write_canonical(&mut out, o);
        }
        out
    }

    /// `header` then the canonical text, with every object's `doc` and `line` moved to where
    /// that text has it: what was parsed from helm's output must point into the file that is
    /// committed (and that a cached render is read back from), not into helm's output.
    pub fn canonicalise(&mut self, header: &str) -> String {
        let mut out = String::from(header);
        let mut lines = header.matches('\n').count();
        for (i, o) in self.objects.iter_mut().enumerate() {
            let start = out.len();
            write_canonical(&mut out, o);
            // Past `---` and the `# Source:` line, as `parse` counts it.
            o.doc = i + 1;
            o.line = lines + 2 + usize::from(o.source.is_some());
            lines += out[start..].matches('\n').count();
        }
        out
    }
}

fn write_canonical(out: &mut String, o: &Object) {
    out.push_str("---\n");
    if let Some(s) = &o.source {
        out.push_str("# Source: ");
        out.push_str(s);
        out.push('\n');
    }
    out.push_str(&object_yaml(&o.value));
}

/// Below this much text, parsing on one thread is faster than starting others.
const PARALLEL_PARSE_BYTES: usize = 256 * 1024;

/// One document as an object (`None` when empty), or the line and message of what is wrong
/// with it. `doc` is left 0 for the caller, which knows the index.
fn read_document(start_line: usize, chunk: &str) -> Result<Option<Object>, (usize, String)> {
    let source = chunk
        .lines()
        .find_map(|l| l.strip_prefix("# Source: "))
        .map(|s| s.trim().to_string());
    let value: Value = crate::yaml::from_str(chunk).map_err(|e| {
        (
            start_line + e.line.unwrap_or(1) - 1,
            format!("invalid YAML: {}", e.message),
        )
    })?;
    let map = match value {
        Value::Null => return Ok(None),
        Value::Object(m) => m,
        _ => return Err((start_line, "not a mapping (a Kubernetes object)".into())),
    };
    let field = |m: &serde_json::Map<String, Value>, k: &str| {
        m.get(k).and_then(Value::as_str).map(str::to_string)
    };
    let api_version =
        field(&map, "apiVersion").ok_or((start_line, String::from("no apiVersion")))?;
    let kind = field(&map, "kind").ok_or((start_line, String::from("no kind")))?;
    let meta = map.get("metadata").and_then(Value::as_object);
    let name = meta
        .and_then(|m| field(m, "name"))
        .ok_or_else(|| (start_line, format!("{kind} has no metadata.name")))?;
    let namespace = meta.and_then(|m| field(m, "namespace"));
    let group = api_group(&api_version).to_string();
    Ok(Some(Object {
        key: ObjectRef {
            group,
            kind,
            namespace,
            name,
        },
        api_version,
        value: Value::Object(order_top_level(map)),
        source,
        doc: 0,
        // The object's first line, past the `# Source:` and other comments.
        line: start_line
            + chunk
                .lines()
                .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .unwrap_or(0),
    }))
}

/// `f` of every item, in the items' order, computed on all cores when `parallel` (threads
/// take the next item as they finish one, so a few large items do not leave a core idle).
fn par_map<T: Sync, R: Send>(items: &[T], parallel: bool, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = if parallel {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(items.len())
    } else {
        1
    };
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in helpers {
            all.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        for (i, r) in all {
            slots[i] = Some(r);
        }
    });
    slots
        .into_iter()
        .map(|r| r.unwrap_or_else(|| unreachable!("every item is taken once")))
        .collect()
}

fn sort_key(k: &ObjectRef) -> (&str, &str, &str, &str) {
    (
        &k.kind,
        k.namespace.as_deref().unwrap_or(""),
        &k.name,
        &k.group,
    )
}

fn object_yaml(v: &Value) -> String {
    crate::yaml::to_canonical_string(v)
}

/// Split a stream on `---` document markers, keeping each document's first line number. A
/// marker at column 0 ends a document in YAML too (even inside a block scalar), so this split
/// agrees with a YAML parser.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if trimmed == "---" || trimmed.starts_with("--- ") {
            out.push((start_line, &text[start..offset]));
            start = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    out.push((start_line, &text[start..]));
    out.retain(|(_, chunk)| {
        chunk
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    out
}

fn order_top_level(mut map: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for k in ["apiVersion", "kind", "metadata"] {
        if let Some(v) = map.shift_remove(k) {
            out.insert(k.to_string(), v);
        }
    }
    out.extend(map);
    out
}

/// Everything that changed between two sets of manifests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ManifestDiff {
    pub added: Vec<ObjectRef>,
    pub removed: Vec<ObjectRef>,
    pub changed: Vec<ChangedObject>,
    pub summary: Summary,
}

impl ManifestDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// One changed object and its unified diff (Secret values masked).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangedObject {
    pub key: ObjectRef,
    pub unified_diff: String,
    pub lines_added: usize,
    pub lines_removed: usize,
    /// Only chart/version labels differ (`helm.sh/chart`, `app.kubernetes.io/version`, …):
    /// every object of a chart bump has these, and reviewers want them out of the way.
    pub labels_only: bool,
}

/// Labels charts stamp with their own or the app's version.
const VERSION_LABELS: &[&str] = &[
    "helm.sh/chart",
    "app.kubernetes.io/version",
    "chart",
    "version",
];

/// Whether `a` and `b` are equal once version labels are dropped everywhere (metadata, pod
/// templates, claim templates). Compares in place: copying both values first cost more than
/// the rest of the diff for large CRDs.
fn equal_without_version_labels(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, va)| {
                    y.get(k).is_some_and(|vb| match (k.as_str(), va, vb) {
                        ("labels", Value::Object(la), Value::Object(lb)) => {
                            let kept = |m: &serde_json::Map<String, Value>| {
                                m.keys()
                                    .filter(|l| !VERSION_LABELS.contains(&l.as_str()))
                                    .count()
                            };
                            kept(la) == kept(lb)
                                && la
                                    .iter()
                                    .filter(|(l, _)| !VERSION_LABELS.contains(&l.as_str()))
                                    .all(|(l, v)| lb.get(l) == Some(v))
                        }
                        // Labels filtered on one side only: not the same kind of value.
                        ("labels", Value::Object(_), _) | ("labels", _, Value::Object(_)) => false,
                        _ => equal_without_version_labels(va, vb),
                    })
                })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(a, b)| equal_without_version_labels(a, b))
        }
        _ => a == b,
    }
}

/// Equal with keys in the same order too. `Value`'s `==` ignores key order, but canonical text,
/// image labels (when two share a name) and CRD schema text follow it; identical objects
/// need none of them recomputed.
fn identical(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && identical(va, vb))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| identical(a, b))
        }
        _ => a == b,
    }
}

/// What reviewers look for first.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Summary {
    pub images: Vec<ImageChange>,
    pub crds: Vec<CrdChange>,
    pub rbac: Vec<RbacChange>,
    pub removed: Vec<ObjectRef>,
}

/// A container image added, removed or changed in an object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageChange {
    pub object: ObjectRef,
    /// The container's name, or the field path for images outside containers.
    pub container: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl fmt::Display for ImageChange {
    /// `` `Deployment ns/x` container: a:v1 → a:v2 `` (— where there is no image).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` {}: {} → {}",
            self.object,
            self.container,
            self.from.as_deref().unwrap_or("—"),
            self.to.as_deref().unwrap_or("—")
        )
    }
}

/// An RBAC change, as one readable line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RbacChange {
    pub object: ObjectRef,
    pub change: String,
}

impl fmt::Display for RbacChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.object, self.change)
    }
}

/// Below this many differing objects, diffing them on one thread is faster.
const PARALLEL_DIFF_OBJECTS: usize = 8;

/// The semantic diff from `old` to `new`.
pub fn diff(old: &Manifests, new: &Manifests) -> ManifestDiff {
    let old_map: BTreeMap<&ObjectRef, &Object> = old.objects.iter().map(|o| (&o.key, o)).collect();
    let new_map: BTreeMap<&ObjectRef, &Object> = new.objects.iter().map(|o| (&o.key, o)).collect();
    let mut d = ManifestDiff {
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        summary: Summary::default(),
    };
    for o in &new.objects {
        if !old_map.contains_key(&o.key) {
            d.added.push(o.key.clone());
        }
    }
    for o in &old.objects {
        if !new_map.contains_key(&o.key) {
            d.removed.push(o.key.clone());
        }
    }
    // Objects on both sides that are not identical: the only ones whose text, images or CRD
    // versions can differ. Across a chart bump most objects change only their version labels,
    // but identical ones (most of a re-render) are dropped here without writing any text.
    let pairs: Vec<(&Object, &Object)> = new
        .objects
        .iter()
        .filter_map(|n| old_map.get(&n.key).map(|o| (*o, n)))
        .filter(|(o, n)| !identical(&o.value, &n.value))
        .collect();
    // Each pair's text diff (and CRD version summary) is independent of the others: compute
    // them on all cores, CRDs (the largest, by far) first so they do not finish last.
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by_key(|&i| pairs[i].1.key.kind != "CustomResourceDefinition");
    let results = par_map(&order, pairs.len() >= PARALLEL_DIFF_OBJECTS, |&i| {
        let (o, n) = pairs[i];
        pair_diff(o, n)
    });
    let mut by_pair: Vec<Option<PairDiff>> =
        std::iter::repeat_with(|| None).take(pairs.len()).collect();
    for (i, r) in order.into_iter().zip(results) {
        by_pair[i] = Some(r);
    }
    let mut crd_lines: BTreeMap<&ObjectRef, Vec<SchemaChange>> = BTreeMap::new();
    let mut differing: BTreeSet<&ObjectRef> = BTreeSet::new();
    for ((_, n), r) in pairs.iter().zip(by_pair.into_iter().flatten()) {
        differing.insert(&n.key);
        if let Some(c) = r.changed {
            d.changed.push(c);
        }
        if let Some(lines) = r.crd {
            crd_lines.insert(&n.key, lines);
        }
    }
    d.summary = Summary {
        images: image_changes(&old_map, &new_map, &differing),
        crds: crd_changes(&old_map, &new_map, crd_lines),
        rbac: rbac_changes(&old_map, &new_map),
        removed: d.removed.clone(),
    };
    d
}

/// What one object present on both sides contributes to the diff.
struct PairDiff {
    /// `None` when the canonical texts are the same (the values differ in key order only).
    changed: Option<ChangedObject>,
    /// A CRD's classified changes, when the values differ.
    crd: Option<Vec<SchemaChange>>,
}

fn pair_diff(o: &Object, n: &Object) -> PairDiff {
    // Values equal but for key order: not a change, same as before this was parallel.
    if o.value == n.value {
        return PairDiff {
            changed: None,
            crd: None,
        };
    }
    let (a, b) = masked_pair(o, n);
    let (text, added, removed) = unified(&a, &b, &n.key.to_string());
    let changed = (added + removed > 0).then(|| ChangedObject {
        key: n.key.clone(),
        unified_diff: text,
        lines_added: added,
        lines_removed: removed,
        labels_only: equal_without_version_labels(&o.value, &n.value),
    });
    let crd = (n.key.kind == "CustomResourceDefinition").then(|| crd::compare(&o.value, &n.value));
    PairDiff { changed, crd }
}

fn text_diff<'a>(a: &'a str, b: &'a str) -> similar::TextDiff<'a, 'a, 'a, str> {
    // No deadline: a time limit makes the output depend on machine load, and the same input
    // must always give the same PR body (re-runs compare bodies to decide whether to write).
    // Patience is deterministic and fast on YAML, where most lines are unique.
    similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .diff_lines(a, b)
}

/// Lines added and removed.
fn line_counts(diff: &similar::TextDiff<'_, '_, '_, str>) -> (usize, usize) {
    let (mut added, mut removed) = (0, 0);
    for op in diff.ops() {
        let (_, old, new) = op.as_tag_tuple();
        if !matches!(op.tag(), similar::DiffTag::Equal) {
            removed += old.len();
            added += new.len();
        }
    }
    (added, removed)
}

fn unified(a: &str, b: &str, label: &str) -> (String, usize, usize) {
    let diff = text_diff(a, b);
    let (added, removed) = line_counts(&diff);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{label}"), &format!("b/{label}"))
        .to_string();
    (text, added, removed)
}

/// Canonical text of both sides, with Secret values replaced: a reviewer sees which keys
/// changed, never a value.
fn masked_pair(old: &Object, new: &Object) -> (String, String) {
    if !(old.key.kind == "Secret" && old.key.group.is_empty()) {
        return (object_yaml(&old.value), object_yaml(&new.value));
    }
    let (mut a, mut b) = (old.value.clone(), new.value.clone());
    for field in ["data", "stringData"] {
        let before = old.value.get(field).and_then(Value::as_object);
        if let Some(m) = a.get_mut(field).and_then(Value::as_object_mut) {
            for v in m.values_mut() {
                *v = Value::String("<redacted>".into());
            }
        }
        if let Some(m) = b.get_mut(field).and_then(Value::as_object_mut) {
            for (k, v) in m.iter_mut() {
                let same = before.and_then(|b| b.get(k)) == Some(&*v);
                *v = Value::String(
                    if same {
                        "<redacted>"
                    } else {
                        "<redacted, changed>"
                    }
                    .into(),
                );
            }
        }
    }
    (object_yaml(&a), object_yaml(&b))
}

/// Image references of an object, by container name (or field path outside containers).
fn images(o: &Object) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if o.key.kind == "CustomResourceDefinition" {
        return out;
    }
    if let Some(spec) = o.value.get("spec") {
        walk_images(spec, "spec", &mut out);
    }
    out
}

fn walk_images(v: &Value, path: &str, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(img)) = m.get("image") {
                let label = match m.get("name").and_then(Value::as_str) {
                    Some(name) if path.contains("ontainers") => name.to_string(),
                    _ => format!("{path}.image"),
                };
                out.insert(label, img.clone());
            }
            for (k, child) in m {
                if k != "image" {
                    walk_images(child, &format!("{path}.{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk_images(child, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// `differing`: the objects on both sides that are not identical; the others have the same
/// images on both.
fn image_changes(
    old: &BTreeMap<&ObjectRef, &Object>,
    new: &BTreeMap<&ObjectRef, &Object>,
    differing: &BTreeSet<&ObjectRef>,
) -> Vec<ImageChange> {
    let keys: BTreeSet<&ObjectRef> = old.keys().chain(new.keys()).copied().collect();
    let mut out = Vec::new();
    for key in keys {
        if old.contains_key(key) && new.contains_key(key) && !differing.contains(key) {
            continue;
        }
        let a = old.get(key).map(|o| images(o)).unwrap_or_default();
        let b = new.get(key).map(|o| images(o)).unwrap_or_default();
        let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for name in names {
            let (from, to) = (a.get(name), b.get(name));
            if from != to {
                out.push(ImageChange {
                    object: key.clone(),
                    container: name.clone(),
                    from: from.cloned(),
                    to: to.cloned(),
                });
            }
        }
    }
    out
}

/// Every CRD added, removed, or changed (with the classified changes computed per pair).
fn crd_changes(
    old: &BTreeMap<&ObjectRef, &Object>,
    new: &BTreeMap<&ObjectRef, &Object>,
    mut changed: BTreeMap<&ObjectRef, Vec<SchemaChange>>,
) -> Vec<CrdChange> {
    let is_crd = |k: &ObjectRef| k.kind == "CustomResourceDefinition";
    let keys: BTreeSet<&ObjectRef> = old
        .keys()
        .chain(new.keys())
        .copied()
        .filter(|k| is_crd(k))
        .collect();
    let mut out = Vec::new();
    for key in keys {
        let (o, n) = (old.get(key).copied(), new.get(key).copied());
        let c = match (o, n) {
            // Identical on both sides: not a change.
            (Some(_), Some(_)) => match changed.remove(key) {
                Some(changes) => crd::classified(o, n, changes),
                None => None,
            },
            _ => crd::classify(o, n),
        };
        out.extend(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "---\n# Source: x/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: b\n  namespace: ns\n---\n# Source: x/templates/cm.yaml\nkind: ConfigMap\napiVersion: v1\nmetadata:\n  name: a\n  namespace: ns\ndata:\n  flag: \"on\"\n  eq: \"=\"\n  zero: \"0123\"\n---\n# empty\n";

    #[test]
    fn parses_sorts_and_keeps_sources() {
        let m = Manifests::parse(TWO).unwrap();
        let keys: Vec<String> = m.objects().iter().map(|o| o.key.to_string()).collect();
        assert_eq!(keys, ["ConfigMap ns/a", "ServiceAccount ns/b"]);
        assert_eq!(
            m.objects()[0].source.as_deref(),
            Some("x/templates/cm.yaml")
        );
    }

    #[test]
    fn locations_point_into_the_written_file_as_a_cached_read_would_see_them() {
        // helm's order is not the file's: the ConfigMap is document 2 in helm's output and
        // document 1 in the file. The third object has no `# Source:` line.
        let raw = format!("{TWO}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: c\n");
        let mut m = Manifests::parse(&raw).unwrap();
        assert_eq!(m.objects()[0].doc, 2);
        let text = m.canonicalise("# header\n# two lines\n");
        let read = Manifests::parse(&text).unwrap();
        let at = |m: &Manifests| -> Vec<(String, usize, usize)> {
            m.objects()
                .iter()
                .map(|o| (o.key.to_string(), o.doc, o.line))
                .collect()
        };
        assert_eq!(at(&m), at(&read));
        assert_eq!(at(&m)[0], ("ConfigMap ns/a".to_string(), 1, 5));
        assert!(text.starts_with("# header\n# two lines\n---\n# Source: x/templates/cm.yaml\n"));
    }

    #[test]
    fn canonical_form_is_a_fixed_point_and_quotes_yaml_1_1_traps() {
        let once = Manifests::parse(TWO).unwrap().to_canonical_yaml();
        let twice = Manifests::parse(&once).unwrap().to_canonical_yaml();
        assert_eq!(once, twice);
        assert!(
            once.starts_with(
                "---\n# Source: x/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:"
            ),
            "{once}"
        );
        for trap in ["flag: 'on'", "eq: '='", "zero: '0123'"] {
            assert!(once.contains(trap), "{trap} in:\n{once}");
        }
    }

    #[test]
    fn errors_name_document_and_line() {
        let e = Manifests::parse("---\napiVersion: v1\nkind: ConfigMap\n").unwrap_err();
        assert_eq!((e.doc, e.line), (1, 2));
        assert!(e.message.contains("no metadata.name"));
        let e = Manifests::parse("a: 1\n---\n- list\n").unwrap_err();
        assert!(e.to_string().starts_with("document 1"), "{e}");
        let dup = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n";
        assert!(Manifests::parse(dup)
            .unwrap_err()
            .message
            .contains("defined twice (documents 1 and 2)"));
        let e = Manifests::parse("apiVersion: v1\nkind: [\n").unwrap_err();
        assert!(e.message.starts_with("invalid YAML"), "{e}");
    }

    #[test]
    fn rbac_rules_and_bindings_are_summarised() {
        let a = Manifests::parse("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules:\n- apiGroups: ['']\n  resources: [pods]\n  verbs: [get, list]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {kind: ClusterRole, name: r}\nsubjects:\n- {kind: ServiceAccount, name: sa, namespace: ns}\n").unwrap();
        let b = Manifests::parse("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules:\n- apiGroups: ['']\n  resources: [pods]\n  verbs: [get, list]\n- apiGroups: [apps]\n  resources: [deployments]\n  verbs: ['*']\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {kind: ClusterRole, name: r}\nsubjects:\n- {kind: ServiceAccount, name: other, namespace: ns}\n").unwrap();
        let lines: Vec<String> = diff(&a, &b)
            .summary
            .rbac
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "`ClusterRole r`: now also grants all verbs on deployments (apps)",
                "`ClusterRoleBinding b`: adds subject ServiceAccount ns/other",
                "`ClusterRoleBinding b`: drops subject ServiceAccount ns/sa",
            ]
        );
    }

    #[test]
    fn secret_values_never_appear_in_diffs() {
        let a = Manifests::parse("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  password: c2VjcmV0MQ==\n  same: eA==\n").unwrap();
        let b = Manifests::parse("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  password: c2VjcmV0Mg==\n  same: eA==\n").unwrap();
        let d = diff(&a, &b);
        let text = &d.changed[0].unified_diff;
        assert!(
            !text.contains("c2VjcmV0") && !text.contains("eA=="),
            "{text}"
        );
        assert!(
            text.contains("+  password: '<redacted, changed>'"),
            "{text}"
        );
    }
}
