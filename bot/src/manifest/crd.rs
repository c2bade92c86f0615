//! What a CustomResourceDefinition change means for custom resources that already exist.
//!
//! Two versions of a CRD are compared version by version and, for every version served by
//! both, schema node by schema node. Each difference is classed: **breaking** (an object the
//! cluster accepted before may be rejected, pruned or read differently), **additive** (more is
//! accepted, nothing accepted before changes) or **cosmetic** (descriptions and other text).
//! Unknown keywords count as breaking, so nothing hides behind a keyword this does not know.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::Object;

/// What a change does to objects that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Impact {
    /// Existing objects may be rejected, pruned or read differently.
    Breaking,
    /// More is accepted; what was accepted before means the same.
    Additive,
    /// Descriptions and other text only.
    Cosmetic,
}

/// One classified difference between two versions of a CRD.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SchemaChange {
    pub impact: Impact,
    /// The CRD version it is in; `None` for the CRD as a whole.
    pub version: Option<String>,
    /// Where in the custom resource: `spec.route.receiver`, `spec.endpoints[].port`,
    /// `spec.labels.*` (map values), `.` (the root); empty for the version itself.
    pub path: String,
    /// What changed, to follow the path: `now required`, `type changed: string → integer`.
    pub what: String,
    /// The same as a clause after "which" (`is now required`), for naming objects it touches.
    #[serde(skip)]
    pub which: String,
    /// It touches objects that leave the path unset (a new requirement, a changed default),
    /// not those that set it.
    #[serde(skip)]
    pub when_unset: bool,
}

impl fmt::Display for SchemaChange {
    /// `v1alpha1 spec.route.receiver: now required`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(v) = &self.version {
            write!(f, "{v}")?;
            sep = " ";
        }
        if !self.path.is_empty() {
            write!(f, "{sep}`{}`", self.path)?;
        }
        write!(f, ": {}", self.what)
    }
}

/// A CRD that was added, removed or changed, with its classified changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrdChange {
    /// `alertmanagerconfigs.monitoring.coreos.com`.
    pub crd: String,
    /// The API group and kind of its custom resources (from the new CRD when there is one).
    pub group: String,
    pub kind: String,
    pub change: CrdDelta,
    /// Breaking first, then additive, then cosmetic; by version and path within each.
    pub changes: Vec<SchemaChange>,
}

/// What happened to the CRD as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CrdDelta {
    Added,
    Removed,
    Changed,
}

impl CrdChange {
    pub fn breaking(&self) -> impl Iterator<Item = &SchemaChange> {
        self.changes.iter().filter(|c| c.impact == Impact::Breaking)
    }

    pub fn additive(&self) -> impl Iterator<Item = &SchemaChange> {
        self.changes.iter().filter(|c| c.impact == Impact::Additive)
    }

    pub fn is_breaking(&self) -> bool {
        self.breaking().next().is_some()
    }

    /// Cosmetic changes a reviewer should read all the same: versions newly deprecated.
    pub fn notices(&self) -> impl Iterator<Item = &SchemaChange> {
        self.changes
            .iter()
            .filter(|c| c.impact == Impact::Cosmetic && !c.what.starts_with(DESCRIPTIONS))
    }

    /// The one-line verdict for the CRD: what a reviewer needs before the details.
    pub fn verdict(&self) -> &'static str {
        match self.change {
            CrdDelta::Added => "added",
            CrdDelta::Removed => {
                "removed: existing custom resources of this type are deleted with it"
            }
            CrdDelta::Changed if self.is_breaking() => "breaking",
            CrdDelta::Changed if self.additive().next().is_some() => "additive only",
            CrdDelta::Changed if self.changes.is_empty() => "metadata only",
            CrdDelta::Changed if self.notices().next().is_some() => "deprecation only",
            CrdDelta::Changed => "descriptions only",
        }
    }
}

/// Classify a CRD on one side or both.
pub fn classify(old: Option<&Object>, new: Option<&Object>) -> Option<CrdChange> {
    let changes = match (old, new) {
        (Some(o), Some(n)) => compare(&o.value, &n.value),
        _ => Vec::new(),
    };
    classified(old, new, changes)
}

/// As [`classify`], with the changes of a CRD on both sides already [`compare`]d.
pub fn classified(
    old: Option<&Object>,
    new: Option<&Object>,
    compared: Vec<SchemaChange>,
) -> Option<CrdChange> {
    let any = new.or(old)?;
    let at = |p: &str| {
        any.value
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (change, changes) = match (old, new) {
        (None, Some(n)) => {
            let versions = served(&n.value).join(", ");
            let c = SchemaChange {
                impact: Impact::Additive,
                version: None,
                path: String::new(),
                what: format!("CRD added (versions {versions})"),
                which: "is new".into(),
                when_unset: false,
            };
            (CrdDelta::Added, vec![c])
        }
        (Some(_), None) => {
            let c = SchemaChange {
                impact: Impact::Breaking,
                version: None,
                path: String::new(),
                what: "CRD removed: existing custom resources of this type are deleted with it"
                    .into(),
                which: "is removed, with every object of its kind".into(),
                when_unset: false,
            };
            (CrdDelta::Removed, vec![c])
        }
        (Some(_), Some(_)) => (CrdDelta::Changed, compared),
        (None, None) => return None,
    };
    Some(CrdChange {
        crd: any.key.name.clone(),
        group: at("/spec/group"),
        kind: at("/spec/names/kind"),
        change,
        changes,
    })
}

fn served(crd: &Value) -> Vec<&str> {
    versions(crd)
        .into_iter()
        .filter(|(_, v)| flag(v, "served"))
        .map(|(n, _)| n)
        .collect()
}

fn versions(crd: &Value) -> BTreeMap<&str, &Value> {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| Some((v.get("name")?.as_str()?, v)))
        .collect()
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Every classified difference between two versions of one CRD, sorted.
pub fn compare(old: &Value, new: &Value) -> Vec<SchemaChange> {
    let mut w = Walk::default();
    w.crd_level(old, new);
    w.flush_cosmetic();
    let (a, b) = (versions(old), versions(new));
    let storage = |vs: &BTreeMap<&str, &Value>| {
        vs.iter()
            .find(|(_, v)| flag(v, "storage"))
            .map(|(n, _)| n.to_string())
    };
    for (name, va) in &a {
        w.version = Some(name.to_string());
        let vb = b.get(name);
        let was_served = flag(va, "served");
        match vb {
            None => w.push(
                if was_served {
                    Impact::Breaking
                } else {
                    Impact::Cosmetic
                },
                "",
                "version removed",
                "is removed",
            ),
            Some(vb) => {
                if was_served && !flag(vb, "served") {
                    w.push(
                        Impact::Breaking,
                        "",
                        "no longer served",
                        "is no longer served",
                    );
                } else if !was_served && flag(vb, "served") {
                    w.push(Impact::Additive, "", "now served", "is now served");
                }
                if was_served && flag(vb, "served") {
                    w.version_level(va, vb);
                    let none = Value::Null;
                    let schema = |v: &'_ Value| -> Value {
                        v.pointer("/schema/openAPIV3Schema")
                            .cloned()
                            .unwrap_or_else(|| none.clone())
                    };
                    w.node("", &schema(va), &schema(vb));
                }
            }
        }
        if flag(va, "storage") && !vb.is_some_and(|v| flag(v, "storage")) {
            let now = storage(&b).unwrap_or_else(|| "none".into());
            w.push(
                Impact::Breaking,
                "",
                &format!("no longer the storage version (now {now})"),
                "is no longer the storage version",
            );
        }
        w.flush_cosmetic();
    }
    for (name, vb) in b.iter().filter(|(n, _)| !a.contains_key(*n)) {
        if flag(vb, "served") {
            w.version = Some(name.to_string());
            w.push(Impact::Additive, "", "version added", "is new");
        }
    }
    let mut out = w.out;
    out.sort();
    out.dedup();
    out
}

/// How the count of cosmetic changes of a version begins; other cosmetic changes are notices.
const DESCRIPTIONS: &str = "descriptions or other text changed";

/// Lower bounds (a larger value is tighter) and upper bounds (a smaller value is tighter).
const LOWER: [&str; 4] = ["minimum", "minLength", "minItems", "minProperties"];
const UPPER: [&str; 4] = ["maximum", "maxLength", "maxItems", "maxProperties"];
/// Text for people: a change here changes no object's meaning.
const COSMETIC: [&str; 4] = ["description", "title", "example", "externalDocs"];

#[derive(Default)]
struct Walk {
    version: Option<String>,
    out: Vec<SchemaChange>,
    /// Cosmetic differences in the current version, reported as one count.
    cosmetic: usize,
}

impl Walk {
    fn push(&mut self, impact: Impact, path: &str, what: &str, which: &str) {
        if impact == Impact::Cosmetic {
            self.cosmetic += 1;
            return;
        }
        self.out.push(SchemaChange {
            impact,
            version: self.version.clone(),
            path: path.to_string(),
            what: what.to_string(),
            which: which.to_string(),
            when_unset: false,
        });
    }

    /// As [`Walk::push`], for a change that touches objects leaving `path` unset.
    fn push_unset(&mut self, impact: Impact, path: &str, what: &str, which: &str) {
        self.push(impact, path, what, which);
        if let Some(last) = self.out.last_mut() {
            last.when_unset = impact != Impact::Cosmetic;
        }
    }

    /// A cosmetic change a reviewer should still read (a version deprecated), listed on its
    /// own rather than counted with the descriptions.
    fn notice(&mut self, what: &str) {
        self.out.push(SchemaChange {
            impact: Impact::Cosmetic,
            version: self.version.clone(),
            path: String::new(),
            what: what.to_string(),
            which: "is deprecated".into(),
            when_unset: false,
        });
    }

    fn flush_cosmetic(&mut self) {
        if self.cosmetic > 0 {
            let n = std::mem::take(&mut self.cosmetic);
            self.out.push(SchemaChange {
                impact: Impact::Cosmetic,
                version: self.version.clone(),
                path: String::new(),
                what: format!(
                    "{DESCRIPTIONS} ({n} place{})",
                    if n == 1 { "" } else { "s" }
                ),
                which: "has new descriptions".into(),
                when_unset: false,
            });
        }
    }

    /// Everything of the CRD but its versions. Every field of `spec` is looked at, so a field
    /// this does not know counts as breaking rather than going unseen.
    fn crd_level(&mut self, old: &Value, new: &Value) {
        let null = &Value::Null;
        let (sa, sb) = (
            old.get("spec").unwrap_or(null),
            new.get("spec").unwrap_or(null),
        );
        for (k, a, b) in differing(sa, sb) {
            // Unset is false.
            let off = |v: &Value| !v.as_bool().unwrap_or(false);
            if k == "preserveUnknownFields" && off(a) && off(b) {
                continue;
            }
            match k {
                // The group is part of the CRD's name, so it cannot differ here; versions are
                // compared one by one by the caller.
                "group" | "versions" => {}
                "scope" => self.push(
                    Impact::Breaking,
                    "",
                    &format!("scope changed: {} → {}", show(a), show(b)),
                    &format!("changes scope ({} → {})", show(a), show(b)),
                ),
                "names" => self.names(a, b),
                "conversion" => self.push(
                    Impact::Breaking,
                    "",
                    "conversion settings changed",
                    "converts between versions differently",
                ),
                // Turning it off prunes what the schemas do not name.
                "preserveUnknownFields" if !off(a) => self.push(
                    Impact::Breaking,
                    "",
                    "preserveUnknownFields turned off: fields the schema does not name are pruned",
                    "now prunes fields its schema does not name",
                ),
                "preserveUnknownFields" => self.push(
                    Impact::Additive,
                    "",
                    "preserveUnknownFields turned on: unknown fields are kept",
                    "now keeps unknown fields",
                ),
                _ => self.push(
                    Impact::Breaking,
                    "",
                    &format!("spec.{k} changed"),
                    &format!("has a spec.{k} that changed"),
                ),
            }
        }
    }

    /// `spec.names`: the kind and its list and singular names are how clients and manifests
    /// name the resource; short names and categories only help `kubectl get`.
    fn names(&mut self, old: &Value, new: &Value) {
        for (field, a, b) in differing(old, new) {
            if matches!(field, "shortNames" | "categories") {
                self.push(Impact::Cosmetic, "", "", "");
            } else {
                self.push(
                    Impact::Breaking,
                    "",
                    &format!("names.{field} changed: {} → {}", show(a), show(b)),
                    &format!("changes names.{field} ({} → {})", show(a), show(b)),
                );
            }
        }
    }

    /// Everything of a version served on both sides but its schema. Every field is looked at,
    /// so one this does not know counts as breaking rather than going unseen.
    fn version_level(&mut self, a: &Value, b: &Value) {
        for (k, x, y) in differing(a, b) {
            match k {
                // Compared by the caller.
                "name" | "served" | "storage" | "schema" => {}
                "deprecated" | "deprecationWarning" => {}
                "subresources" => self.subresources(x, y),
                // How `kubectl get` prints and which fields select: nothing stored changes.
                "additionalPrinterColumns" | "selectableFields" => {
                    self.push(Impact::Cosmetic, "", "", "")
                }
                _ => self.push(
                    Impact::Breaking,
                    "",
                    &format!("{k} changed"),
                    &format!("has a {k} that changed"),
                ),
            }
        }
        if !flag(a, "deprecated") && flag(b, "deprecated") {
            let warning = b
                .get("deprecationWarning")
                .and_then(Value::as_str)
                .map(|w| format!(": {w}"))
                .unwrap_or_default();
            self.notice(&format!("now deprecated{warning}"));
        } else if a.get("deprecationWarning") != b.get("deprecationWarning") {
            self.push(Impact::Cosmetic, "", "", "");
        }
    }

    /// The status and scale subresources: what is written through them, and what an
    /// autoscaler or `kubectl scale` reaches.
    fn subresources(&mut self, a: &Value, b: &Value) {
        for k in ["status", "scale"] {
            let (x, y) = (a.get(k), b.get(k));
            match (x, y) {
                (Some(_), None) => self.push(
                    Impact::Breaking,
                    "",
                    &format!("{k} subresource removed"),
                    &format!("loses its {k} subresource"),
                ),
                (None, Some(_)) => self.push(
                    Impact::Additive,
                    "",
                    &format!("{k} subresource added"),
                    &format!("gains a {k} subresource"),
                ),
                (Some(x), Some(y)) if x != y => self.push(
                    Impact::Breaking,
                    "",
                    &format!("{k} subresource changed: {} → {}", show(x), show(y)),
                    &format!("has a {k} subresource that changed"),
                ),
                _ => {}
            }
        }
        let others = |v: &Value| {
            let mut m = v.as_object().cloned().unwrap_or_default();
            m.remove("status");
            m.remove("scale");
            m
        };
        if others(a) != others(b) {
            self.push(
                Impact::Breaking,
                "",
                "subresources changed",
                "has subresources that changed",
            );
        }
    }

    /// Compare schema node `a` (old) with `b` (new) at `path`.
    fn node(&mut self, path: &str, a: &Value, b: &Value) {
        let empty = Map::new();
        let (Some(ma), Some(mb)) = (
            a.as_object().or(a.is_null().then_some(&empty)),
            b.as_object().or(b.is_null().then_some(&empty)),
        ) else {
            if a != b {
                self.push(
                    Impact::Breaking,
                    shown(path),
                    "schema changed",
                    "has a schema that changed",
                );
            }
            return;
        };
        // `required` is judged with `properties`, which knows which properties are new.
        if ma.get("properties") != mb.get("properties") || ma.get("required") != mb.get("required")
        {
            self.properties(path, ma, mb);
        }
        let keys: BTreeSet<&str> = ma.keys().chain(mb.keys()).map(String::as_str).collect();
        for k in keys {
            let (va, vb) = (ma.get(k), mb.get(k));
            if va != vb && !matches!(k, "properties" | "required") {
                self.keyword(path, k, va, vb);
            }
        }
    }

    fn keyword(&mut self, path: &str, k: &str, va: Option<&Value>, vb: Option<&Value>) {
        use Impact::{Additive, Breaking, Cosmetic};
        let p = shown(path);
        let on = |v: Option<&Value>| v.and_then(Value::as_bool).unwrap_or(false);
        match k {
            _ if COSMETIC.contains(&k) => self.push(Cosmetic, p, "", ""),
            "items" => match (va, vb) {
                (Some(x), Some(y)) => self.node(&format!("{path}[]"), x, y),
                (None, None) => {}
                (None, Some(_)) => self.push(
                    Breaking,
                    p,
                    "items now validated",
                    "has items that are now validated",
                ),
                (Some(_), None) => self.push(
                    Additive,
                    p,
                    "items no longer validated",
                    "has items no longer validated",
                ),
            },
            "additionalProperties" => {
                let child = if path.is_empty() {
                    "*".to_string()
                } else {
                    format!("{path}.*")
                };
                match (va, vb) {
                    (Some(x), Some(y)) if x.is_object() && y.is_object() => self.node(&child, x, y),
                    (None, None) => {}
                    (Some(x), Some(y)) if x == y => {}
                    (None, Some(y)) if y.is_object() => self.push(
                        Breaking,
                        p,
                        "map values now validated",
                        "has map values that are now validated",
                    ),
                    (Some(x), None) if x.is_object() => self.push(
                        Additive,
                        p,
                        "map values no longer validated",
                        "has map values no longer validated",
                    ),
                    _ => self.push(
                        Breaking,
                        p,
                        "additionalProperties changed",
                        "has additionalProperties that changed",
                    ),
                }
            }
            "type" => match (va, vb) {
                (Some(x), Some(y)) => self.push(
                    Breaking,
                    p,
                    &format!("type changed: {} → {}", show(x), show(y)),
                    &format!("changes type from {} to {}", show(x), show(y)),
                ),
                (None, Some(y)) => self.push(
                    Breaking,
                    p,
                    &format!("type now {}", show(y)),
                    &format!("must now be of type {}", show(y)),
                ),
                _ => self.push(
                    Additive,
                    p,
                    "type no longer restricted",
                    "is no longer restricted to a type",
                ),
            },
            "x-kubernetes-int-or-string" => {
                if on(va) {
                    self.push(
                        Breaking,
                        p,
                        "no longer int-or-string",
                        "no longer takes an integer or a string",
                    )
                } else {
                    self.push(Additive, p, "now int-or-string", "now takes either")
                }
            }
            "x-kubernetes-preserve-unknown-fields" => {
                if on(va) {
                    self.push(
                        Breaking,
                        p,
                        "unknown fields now pruned",
                        "now has its unknown fields pruned",
                    )
                } else {
                    self.push(
                        Additive,
                        p,
                        "unknown fields now kept",
                        "now keeps unknown fields",
                    )
                }
            }
            "nullable" => {
                if on(va) {
                    self.push(Breaking, p, "no longer nullable", "may no longer be null")
                } else {
                    self.push(Additive, p, "now nullable", "may now be null")
                }
            }
            "uniqueItems" | "exclusiveMinimum" | "exclusiveMaximum" => {
                if on(vb) {
                    self.push(
                        Breaking,
                        p,
                        &format!("{k} tightened: now true"),
                        &format!("now has {k}"),
                    )
                } else {
                    self.push(
                        Additive,
                        p,
                        &format!("{k} relaxed: now false"),
                        &format!("no longer has {k}"),
                    )
                }
            }
            "enum" => self.enumeration(p, va, vb),
            _ if LOWER.contains(&k) || UPPER.contains(&k) => {
                let num = |v: Option<&Value>| v.and_then(Value::as_f64);
                let (x, y) = (num(va), num(vb));
                let tighter = match (x, y) {
                    (Some(x), Some(y)) if LOWER.contains(&k) => y > x,
                    (Some(x), Some(y)) => y < x,
                    (None, Some(_)) => true,
                    _ => false,
                };
                let text = |v: Option<&Value>| v.map_or("none".to_string(), show);
                let (from, to) = (text(va), text(vb));
                if tighter {
                    self.push(
                        Breaking,
                        p,
                        &format!("{k} tightened: {from} → {to}"),
                        &format!("has a tighter {k} ({from} → {to})"),
                    )
                } else {
                    self.push(
                        Additive,
                        p,
                        &format!("{k} relaxed: {from} → {to}"),
                        &format!("has a looser {k} ({from} → {to})"),
                    )
                }
            }
            "pattern" | "format" => match (va, vb) {
                (_, Some(y)) => {
                    let what = match va {
                        Some(x) => format!("{k} changed: {} → {}", show(x), show(y)),
                        None => format!("{k} now {}", show(y)),
                    };
                    self.push(
                        Breaking,
                        p,
                        &what,
                        &format!("must now match the {k} {}", show(y)),
                    )
                }
                (_, None) => self.push(
                    Additive,
                    p,
                    &format!("{k} removed"),
                    &format!("no longer has a {k}"),
                ),
            },
            "x-kubernetes-list-type" | "x-kubernetes-map-type" | "x-kubernetes-list-map-keys" => {
                // Unset is the default: `atomic` for lists, `granular` for maps.
                let default = match k {
                    "x-kubernetes-list-type" => Some("atomic"),
                    "x-kubernetes-map-type" => Some("granular"),
                    _ => None,
                };
                let norm = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
                let (na, nb) = (
                    norm(va).or(default.map(str::to_string)),
                    norm(vb).or(default.map(str::to_string)),
                );
                if default.is_some() && na == nb {
                    return self.push(Cosmetic, p, "", "");
                }
                let looser = vb.is_none_or(|v| v.as_str() == Some("atomic"));
                let text = |v: Option<&Value>| v.map_or("none".to_string(), show);
                let what = format!("{k} changed: {} → {}", text(va), text(vb));
                if looser {
                    self.push(Additive, p, &what, &format!("has a looser {k}"))
                } else {
                    self.push(Breaking, p, &what, &format!("has a stricter {k}"))
                }
            }
            "x-kubernetes-validations" => self.validations(p, va, vb),
            "default" => match (va, vb) {
                (Some(x), Some(y)) => self.push_unset(
                    Breaking,
                    p,
                    &format!("default changed: {} → {}", show(x), show(y)),
                    &format!("has a new default ({} → {})", show(x), show(y)),
                ),
                (Some(x), None) => self.push_unset(
                    Breaking,
                    p,
                    &format!("default removed (was {})", show(x)),
                    &format!("has no default any more (was {})", show(x)),
                ),
                _ => self.push(Additive, p, "default added", "gains a default"),
            },
            "oneOf" | "anyOf" | "allOf" | "not" => {
                if vb.is_some() {
                    self.push(
                        Breaking,
                        p,
                        &format!("{k} changed"),
                        &format!("has {k} rules that changed"),
                    )
                } else {
                    self.push(
                        Additive,
                        p,
                        &format!("{k} removed"),
                        &format!("no longer has {k} rules"),
                    )
                }
            }
            _ => self.push(
                Breaking,
                p,
                &format!("{k} changed"),
                &format!("has a {k} that changed"),
            ),
        }
    }

    fn properties(&mut self, path: &str, ma: &Map<String, Value>, mb: &Map<String, Value>) {
        let props = |m: &Map<String, Value>| {
            m.get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let required = |m: &Map<String, Value>| -> BTreeSet<String> {
            m.get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let (pa, pb) = (props(ma), props(mb));
        let (ra, rb) = (required(ma), required(mb));
        let keeps_unknown = mb
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let child = |name: &str| {
            if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            }
        };
        let names: BTreeSet<&String> = pa.keys().chain(pb.keys()).chain(&rb).collect();
        for name in names {
            let c = child(name);
            match (pa.get(name), pb.get(name)) {
                (Some(_), None) if keeps_unknown => self.push(
                    Impact::Additive,
                    &c,
                    "no longer validated (unknown fields kept)",
                    "is no longer validated",
                ),
                (Some(_), None) => {
                    self.push(Impact::Breaking, &c, "removed", "is removed (pruned)")
                }
                (None, Some(_)) if rb.contains(name) => self.push_unset(
                    Impact::Breaking,
                    &c,
                    "added, required",
                    "is new and required",
                ),
                (None, Some(_)) => self.push(Impact::Additive, &c, "added", "is new"),
                (Some(x), Some(y)) => self.node(&c, x, y),
                (None, None) => {}
            }
            let existed = pa.contains_key(name) || !pb.contains_key(name);
            if existed && rb.contains(name) && !ra.contains(name) {
                self.push_unset(Impact::Breaking, &c, "now required", "is now required");
            }
            if ra.contains(name) && !rb.contains(name) && pb.contains_key(name) {
                self.push(
                    Impact::Additive,
                    &c,
                    "no longer required",
                    "is no longer required",
                );
            }
        }
    }

    fn enumeration(&mut self, p: &str, va: Option<&Value>, vb: Option<&Value>) {
        let list = |v: Option<&Value>| -> Option<Vec<Value>> { v?.as_array().cloned() };
        match (list(va), list(vb)) {
            (Some(x), Some(y)) => {
                let gone: Vec<String> = x.iter().filter(|v| !y.contains(v)).map(show).collect();
                let new: Vec<String> = y.iter().filter(|v| !x.contains(v)).map(show).collect();
                if !gone.is_empty() {
                    self.push(
                        Impact::Breaking,
                        p,
                        &format!("enum value(s) removed: {}", gone.join(", ")),
                        &format!("no longer allows {}", gone.join(", ")),
                    );
                }
                if !new.is_empty() {
                    self.push(
                        Impact::Additive,
                        p,
                        &format!("enum value(s) added: {}", new.join(", ")),
                        &format!("now also allows {}", new.join(", ")),
                    );
                }
                if gone.is_empty() && new.is_empty() {
                    self.push(Impact::Cosmetic, p, "", "");
                }
            }
            (None, Some(_)) => self.push(
                Impact::Breaking,
                p,
                "now restricted to enum",
                "is now restricted to an enum",
            ),
            _ => self.push(
                Impact::Additive,
                p,
                "enum removed",
                "is no longer restricted to an enum",
            ),
        }
    }

    /// CEL rules, by rule text: a new rule may reject what was accepted; a removed one cannot.
    fn validations(&mut self, p: &str, va: Option<&Value>, vb: Option<&Value>) {
        let rules = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| r.get("rule").and_then(Value::as_str).map(str::to_string))
                .collect()
        };
        let (a, b) = (rules(va), rules(vb));
        let mut any = false;
        for r in b.iter().filter(|r| !a.contains(r)) {
            any = true;
            let r = abridged(r);
            self.push(
                Impact::Breaking,
                p,
                &format!("CEL rule added: `{r}`"),
                &format!("must now satisfy `{r}`"),
            );
        }
        for r in a.iter().filter(|r| !b.contains(r)) {
            any = true;
            let r = abridged(r);
            self.push(
                Impact::Additive,
                p,
                &format!("CEL rule removed: `{r}`"),
                &format!("no longer has to satisfy `{r}`"),
            );
        }
        if !any {
            // Same rules: messages or reasons only.
            self.push(Impact::Cosmetic, p, "", "");
        }
    }
}

/// A CEL rule on one line, cut after 120 characters (the whole rule is in the diff).
fn abridged(rule: &str) -> String {
    let one: String = rule.split_whitespace().collect::<Vec<_>>().join(" ");
    match one.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &one[..i]),
        None => one,
    }
}

/// The fields of two objects whose values differ (an absent field reads as null), by name.
fn differing<'v>(a: &'v Value, b: &'v Value) -> Vec<(&'v str, &'v Value, &'v Value)> {
    let null = &Value::Null;
    let names: BTreeSet<&str> = [a, b]
        .iter()
        .filter_map(|v| v.as_object())
        .flat_map(|m| m.keys().map(String::as_str))
        .collect();
    names
        .into_iter()
        .map(|k| (k, a.get(k).unwrap_or(null), b.get(k).unwrap_or(null)))
        .filter(|(_, x, y)| x != y)
        .collect()
}

/// `.` for the root.
fn shown(path: &str) -> &str {
    if path.is_empty() {
        "."
    } else {
        path
    }
}

/// A value as people read it: strings bare, the rest compact JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

/// The custom resources among `objects` that a breaking change in `crds` touches, one line
/// each: `` `ServiceMonitor monitoring/x` sets `spec.a`, which is removed (pruned) ``, or
/// `does not set` for a new requirement or a changed default.
pub fn touched<'a>(crds: &[CrdChange], objects: impl Iterator<Item = &'a Object>) -> Vec<String> {
    let mut out = Vec::new();
    for o in objects {
        let who = match &o.key.namespace {
            Some(ns) => format!("`{} {ns}/{}`", o.key.kind, o.key.name),
            None => format!("`{} {}`", o.key.kind, o.key.name),
        };
        out.extend(touches(crds, o).into_iter().map(|t| format!("{who} {t}")));
    }
    out.dedup();
    out
}

/// What breaking changes in `crds` do to one object, each as a clause to follow its name:
/// `` sets `spec.a`, which is removed (pruned) ``.
pub fn touches(crds: &[CrdChange], o: &Object) -> Vec<String> {
    let Some(c) = crds
        .iter()
        .find(|c| c.is_breaking() && c.group == o.key.group && c.kind == o.key.kind)
    else {
        return Vec::new();
    };
    let version = o.api_version.rsplit('/').next().unwrap_or_default();
    let mut out = Vec::new();
    for s in c.breaking() {
        let line = match (s.version.as_deref(), s.path.as_str()) {
            (None, _) => Some(format!(
                "is a custom resource of `{}`, which {}",
                c.crd, s.which
            )),
            (Some(v), _) if v != version => None,
            (Some(_), "") => Some(format!("uses `{}`, which {}", o.api_version, s.which)),
            (Some(_), path) if s.when_unset => {
                unset(&o.value, path).then(|| format!("does not set `{path}`, which {}", s.which))
            }
            (Some(_), path) => {
                set(&o.value, path).then(|| format!("sets `{path}`, which {}", s.which))
            }
        };
        out.extend(line);
    }
    out.dedup();
    out
}

/// `spec.endpoints[].port` as steps: `Field("spec")`, `Field("endpoints")`, `Items`, ...
fn steps(path: &str) -> Vec<Step<'_>> {
    if path == "." {
        return Vec::new();
    }
    let mut out = Vec::new();
    for part in path.split('.') {
        let name = part.trim_end_matches("[]");
        out.push(if name == "*" {
            Step::Any
        } else {
            Step::Field(name)
        });
        for _ in 0..(part.len() - name.len()) / 2 {
            out.push(Step::Items);
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Step<'a> {
    Field(&'a str),
    Items,
    Any,
}

/// The values at `steps` under `v` (every element for `[]`, every value for `*`).
fn at<'v>(v: &'v Value, steps: &[Step<'_>]) -> Vec<&'v Value> {
    let Some((first, rest)) = steps.split_first() else {
        return vec![v];
    };
    let next: Vec<&Value> = match (first, v) {
        (Step::Field(f), Value::Object(m)) => m.get(*f).into_iter().collect(),
        (Step::Items, Value::Array(a)) => a.iter().collect(),
        (Step::Any, Value::Object(m)) => m.values().collect(),
        _ => Vec::new(),
    };
    next.into_iter().flat_map(|n| at(n, rest)).collect()
}

/// Whether the object has a value at `path`.
fn set(v: &Value, path: &str) -> bool {
    !at(v, &steps(path)).is_empty()
}

/// Whether the object has the parent of `path` somewhere without its last field.
fn unset(v: &Value, path: &str) -> bool {
    let s = steps(path);
    let Some((Step::Field(last), parent)) = s.split_last() else {
        return false;
    };
    at(v, parent)
        .iter()
        .any(|p| p.as_object().is_some_and(|m| !m.contains_key(*last)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A CRD `widgets.example.com` with one served storage version `v1` of `spec` schema.
    fn crd(spec: Value) -> Value {
        crd_with(json!([{"name": "v1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}}}]))
    }

    fn crd_with(versions: Value) -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
                "versions": versions}})
    }

    /// `impact version path: what`, one per change.
    fn changes(old: Value, new: Value) -> Vec<String> {
        compare(&old, &new)
            .iter()
            .map(|c| {
                format!(
                    "{:?} {} {}: {}",
                    c.impact,
                    c.version.as_deref().unwrap_or("-"),
                    if c.path.is_empty() { "-" } else { &c.path },
                    c.what
                )
            })
            .collect()
    }

    fn obj(props: Value) -> Value {
        json!({"type": "object", "properties": props})
    }

    #[test]
    fn removed_and_retyped_properties_break_unless_unknown_fields_are_kept() {
        let old = crd(obj(
            json!({"a": {"type": "string"}, "b": {"type": "string"}}),
        ));
        let new = crd(obj(json!({"a": {"type": "integer"}})));
        assert_eq!(
            changes(old.clone(), new),
            [
                "Breaking v1 spec.a: type changed: string → integer",
                "Breaking v1 spec.b: removed",
            ]
        );
        let kept = crd(
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"a": {"type": "string"}}}),
        );
        let old = crd(
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}),
        );
        assert_eq!(
            changes(old, kept),
            ["Additive v1 spec.b: no longer validated (unknown fields kept)"]
        );
    }

    #[test]
    fn enums_required_fields_and_limits_break_when_they_tighten() {
        let old = crd(json!({"type": "object", "required": ["a"], "properties": {
            "a": {"type": "string", "enum": ["x", "y"]},
            "b": {"type": "string", "maxLength": 10, "pattern": "^a"},
            "c": {"type": "integer", "minimum": 1, "maximum": 5},
            "d": {"type": "array", "items": {"type": "string"}}}}));
        let new = crd(
            json!({"type": "object", "required": ["b", "e"], "properties": {
            "a": {"type": "string", "enum": ["x", "z"]},
            "b": {"type": "string", "maxLength": 8, "pattern": "^ab"},
            "c": {"type": "integer", "minimum": 0, "maximum": 5},
            "d": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "e": {"type": "string"}, "f": {"type": "boolean"}}}),
        );
        assert_eq!(
            changes(old, new),
            [
                "Breaking v1 spec.a: enum value(s) removed: y",
                "Breaking v1 spec.b: maxLength tightened: 10 → 8",
                "Breaking v1 spec.b: now required",
                "Breaking v1 spec.b: pattern changed: ^a → ^ab",
                "Breaking v1 spec.d: minItems tightened: none → 1",
                "Breaking v1 spec.d[]: minLength tightened: none → 1",
                "Breaking v1 spec.e: added, required",
                "Additive v1 spec.a: enum value(s) added: z",
                "Additive v1 spec.a: no longer required",
                "Additive v1 spec.c: minimum relaxed: 1 → 0",
                "Additive v1 spec.f: added",
            ]
        );
    }

    #[test]
    fn cel_rules_added_or_changed_break_and_removed_ones_do_not() {
        let rule = |r: &str| json!({"rule": r, "message": "m"});
        let old = crd(
            json!({"type": "object", "x-kubernetes-validations": [rule("self.a > 0"), rule("has(self.b)")]}),
        );
        let new = crd(json!({"type": "object", "x-kubernetes-validations": [rule("self.a > 1")]}));
        assert_eq!(
            changes(old, new),
            [
                "Breaking v1 spec: CEL rule added: `self.a > 1`",
                "Additive v1 spec: CEL rule removed: `has(self.b)`",
                "Additive v1 spec: CEL rule removed: `self.a > 0`",
            ]
        );
    }

    #[test]
    fn versions_that_go_away_or_stop_being_stored_break() {
        let v = |name: &str, served: bool, storage: bool| {
            json!({"name": name, "served": served, "storage": storage,
                "schema": {"openAPIV3Schema": {"type": "object"}}})
        };
        let old = crd_with(json!([
            v("v1alpha1", true, false),
            v("v1beta1", true, true),
            v("v1", false, false)
        ]));
        let new = crd_with(json!([
            v("v1beta1", false, false),
            v("v1", true, true),
            v("v2", true, false)
        ]));
        assert_eq!(
            changes(old, new),
            [
                "Breaking v1alpha1 -: version removed",
                "Breaking v1beta1 -: no longer served",
                "Breaking v1beta1 -: no longer the storage version (now v1)",
                "Additive v1 -: now served",
                "Additive v2 -: version added",
            ]
        );
    }

    #[test]
    fn a_scope_change_breaks_and_descriptions_are_cosmetic() {
        let old = crd(json!({"type": "object", "description": "old"}));
        let mut new = crd(json!({"type": "object", "description": "new"}));
        assert_eq!(
            changes(old.clone(), new.clone()),
            ["Cosmetic v1 -: descriptions or other text changed (1 place)"]
        );
        new["spec"]["scope"] = json!("Cluster");
        assert_eq!(
            changes(old, new),
            [
                "Breaking - -: scope changed: Namespaced → Cluster",
                "Cosmetic v1 -: descriptions or other text changed (1 place)",
            ]
        );
    }

    #[test]
    fn every_field_of_the_crd_and_its_versions_is_looked_at() {
        let old = crd(json!({"type": "object"}));
        let mut new = old.clone();
        new["spec"]["preserveUnknownFields"] = json!(false);
        new["spec"]["names"]["shortNames"] = json!(["wd"]);
        new["spec"]["names"]["listKind"] = json!("Widgets");
        new["spec"]["futureField"] = json!({"x": 1});
        let v = &mut new["spec"]["versions"][0];
        v["subresources"] = json!({"scale": {"specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas"}});
        v["futureVersionField"] = json!(true);
        assert_eq!(
            changes(old.clone(), new.clone()),
            [
                "Breaking - -: names.listKind changed: WidgetList → Widgets",
                "Breaking - -: spec.futureField changed",
                "Breaking v1 -: futureVersionField changed",
                "Additive v1 -: scale subresource added",
                "Cosmetic - -: descriptions or other text changed (1 place)",
            ]
        );
        // Turning preserveUnknownFields off prunes; the scale subresource going away leaves
        // autoscalers and `kubectl scale` without a target.
        let mut kept = old.clone();
        kept["spec"]["preserveUnknownFields"] = json!(true);
        let mut scaled = old;
        scaled["spec"]["versions"][0]["subresources"] =
            new["spec"]["versions"][0]["subresources"].clone();
        let mut pruned = scaled.clone();
        pruned["spec"]["versions"][0]["subresources"] = json!({});
        assert_eq!(
            changes(kept.clone(), crd(json!({"type": "object"}))),
            ["Breaking - -: preserveUnknownFields turned off: fields the schema does not name are pruned"]
        );
        assert_eq!(
            changes(scaled, pruned),
            ["Breaking v1 -: scale subresource removed"]
        );
    }

    #[test]
    fn a_version_newly_deprecated_is_a_notice_not_a_count() {
        let old = crd(json!({"type": "object"}));
        let mut new = old.clone();
        new["spec"]["versions"][0]["deprecated"] = json!(true);
        new["spec"]["versions"][0]["deprecationWarning"] = json!("use example.com/v2");
        assert_eq!(
            changes(old.clone(), new.clone()),
            ["Cosmetic v1 -: now deprecated: use example.com/v2"]
        );
        let c = classify(Some(&object(old)), Some(&object(new))).unwrap();
        assert_eq!(c.verdict(), "deprecation only");
        assert_eq!(c.notices().count(), 1);
    }

    #[test]
    fn unset_list_and_map_types_are_their_defaults() {
        let old = crd(json!({"type": "array", "items": {"type": "string"}}));
        let atomic = crd(
            json!({"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "string"}}),
        );
        let set = crd(
            json!({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}),
        );
        assert_eq!(
            changes(old.clone(), atomic),
            ["Cosmetic v1 -: descriptions or other text changed (1 place)"]
        );
        assert_eq!(
            changes(old, set),
            ["Breaking v1 spec: x-kubernetes-list-type changed: none → set"]
        );
    }

    #[test]
    fn defaults_that_change_break_objects_that_leave_the_field_unset() {
        let old = crd(obj(
            json!({"a": {"type": "string", "default": "x"}, "b": {"type": "string"}}),
        ));
        let new = crd(obj(
            json!({"a": {"type": "string", "default": "y"}, "b": {"type": "string", "default": "z"}}),
        ));
        assert_eq!(
            changes(old, new),
            [
                "Breaking v1 spec.a: default changed: x → y",
                "Additive v1 spec.b: default added",
            ]
        );
    }

    fn object(value: Value) -> Object {
        Object {
            key: crate::manifest::ObjectRef {
                group: crate::manifest::api_group(value["apiVersion"].as_str().unwrap_or_default())
                    .to_string(),
                kind: value["kind"].as_str().unwrap_or_default().to_string(),
                namespace: value["metadata"]["namespace"].as_str().map(str::to_string),
                name: value["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            },
            api_version: value["apiVersion"].as_str().unwrap_or_default().to_string(),
            value,
            source: None,
            doc: 1,
            line: 1,
        }
    }

    #[test]
    fn custom_resources_a_breaking_change_touches_are_named() {
        let old = object(crd(obj(json!({
            "route": obj(json!({"receiver": {"type": "string"}, "group": {"type": "string"}})),
            "ports": {"type": "array", "items": obj(json!({"port": {"type": "integer"}}))}}))));
        let new = object(crd(json!({"type": "object", "properties": {
            "route": {"type": "object", "required": ["receiver"], "properties": {"receiver": {"type": "string"}}},
            "ports": {"type": "array", "items": obj(json!({"port": {"type": "integer", "maximum": 65535}}))}}})));
        let c = classify(Some(&old), Some(&new)).unwrap();
        assert_eq!(c.verdict(), "breaking");
        let widget = |spec: Value| {
            object(json!({"apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {"name": "w", "namespace": "ns"}, "spec": spec}))
        };
        let objects = [
            widget(json!({"route": {"group": "g"}, "ports": [{"port": 80}]})),
            widget(json!({"route": {"receiver": "r"}})),
            object(json!({"apiVersion": "example.com/v2", "kind": "Widget",
                "metadata": {"name": "other-version"}, "spec": {"route": {"group": "g"}}})),
        ];
        assert_eq!(
            touched(std::slice::from_ref(&c), objects.iter()),
            [
                "`Widget ns/w` sets `spec.ports[].port`, which has a tighter maximum (none → 65535)",
                "`Widget ns/w` sets `spec.route.group`, which is removed (pruned)",
                "`Widget ns/w` does not set `spec.route.receiver`, which is now required",
            ]
        );
    }
}
