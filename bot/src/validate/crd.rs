//! Custom resources against the CRDs the bundles ship. A CRD's `openAPIV3Schema` is OpenAPI
//! 3.0 with Kubernetes extensions; it becomes JSON Schema (draft 4) with the API server's
//! rules: `nullable`, `x-kubernetes-int-or-string`, and — as `kubectl --validate=strict` and
//! server-side field validation do — unknown fields are errors unless the schema says
//! `x-kubernetes-preserve-unknown-fields`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::manifest::Object;

/// One served (or not) version of a CRD. Its schema is borrowed from the parsed CRD while
/// one check runs (a branch's CRDs are megabytes of schema; copying them for every PR's check
/// cost more than the check), and owned by a set kept beyond its renders ([`Crds::into_owned`]).
pub struct CrdVersion<'a> {
    /// `certificates.cert-manager.io`.
    pub crd: String,
    /// The bundle that ships it.
    pub bundle: String,
    pub namespaced: bool,
    pub served: bool,
    schema: Option<Schema<'a>>,
    /// Compiled on first use: kube-prometheus-stack's CRDs are large, and most are never used
    /// by an object in the same branch.
    compiled: std::sync::OnceLock<Result<jsonschema::Validator, String>>,
}

/// A CRD version's `openAPIV3Schema`: parsed, or compact JSON text parsed on first use.
enum Schema<'a> {
    Parsed(Cow<'a, Value>),
    Json(Cow<'a, str>),
}

impl Schema<'_> {
    fn into_owned(self) -> Schema<'static> {
        match self {
            Schema::Parsed(v) => Schema::Parsed(Cow::Owned(v.into_owned())),
            Schema::Json(t) => Schema::Json(Cow::Owned(t.into_owned())),
        }
    }
}

impl CrdVersion<'_> {
    /// The compiled schema, or why there is none (no schema, or it does not compile).
    pub fn validator(&self) -> Result<&jsonschema::Validator, &str> {
        self.compiled
            .get_or_init(|| match &self.schema {
                Some(Schema::Parsed(s)) => compile(s),
                Some(Schema::Json(t)) => serde_json::from_str(t)
                    .map_err(|e| format!("its schema does not read back: {e}"))
                    .and_then(|s: Value| compile(&s)),
                None => Err("the CRD version has no openAPIV3Schema".into()),
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

/// Every CRD version the bundles of a branch ship, by (group, version, kind).
#[derive(Default)]
pub struct Crds<'a> {
    versions: BTreeMap<(String, String, String), CrdVersion<'a>>,
}

/// A CRD as checking *other* bundles needs it: its names, scope, and each version's schema
/// as compact JSON text, parsed only when a custom resource of that version is checked.
/// Parsed, a branch's CRDs are most of its memory (kube-prometheus-stack's are 4.0 of its
/// 4.6 MB of YAML, and about five times that once parsed).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactCrd {
    /// `certificates.cert-manager.io`.
    pub name: String,
    group: String,
    kind: String,
    namespaced: bool,
    versions: Vec<CompactVersion>,
}

#[derive(Debug, Clone, PartialEq)]
struct CompactVersion {
    name: String,
    served: bool,
    schema: Option<Box<str>>,
}

/// Whether `o` is a CustomResourceDefinition.
pub fn is_crd(o: &Object) -> bool {
    o.key.kind == "CustomResourceDefinition" && o.key.group == "apiextensions.k8s.io"
}

/// What [`Crds`] reads from a CRD.
struct CrdParts<'o> {
    group: String,
    kind: String,
    namespaced: bool,
    /// (name, served, schema) of each version.
    versions: Vec<(String, bool, Option<&'o Value>)>,
}

fn crd_parts(o: &Object) -> CrdParts<'_> {
    let spec = &o.value["spec"];
    CrdParts {
        group: spec["group"].as_str().unwrap_or_default().to_string(),
        kind: spec["names"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        namespaced: spec["scope"].as_str() != Some("Cluster"),
        versions: spec["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                (
                    v["name"].as_str().unwrap_or_default().to_string(),
                    v["served"].as_bool().unwrap_or(false),
                    v.pointer("/schema/openAPIV3Schema"),
                )
            })
            .collect(),
    }
}

impl CompactCrd {
    /// `o` in compact form, when it is a CRD.
    pub fn of(o: &Object) -> Option<CompactCrd> {
        if !is_crd(o) {
            return None;
        }
        let p = crd_parts(o);
        Some(CompactCrd {
            name: o.key.name.clone(),
            group: p.group,
            kind: p.kind,
            namespaced: p.namespaced,
            versions: p
                .versions
                .into_iter()
                .map(|(name, served, schema)| CompactVersion {
                    name,
                    served,
                    schema: schema.map(|s| s.to_string().into_boxed_str()),
                })
                .collect(),
        })
    }
}

impl<'a> Crds<'a> {
    /// Read the CRDs among `objects` (with the bundle each came from).
    pub fn collect(objects: impl IntoIterator<Item = (&'a str, &'a Object)>) -> Crds<'a> {
        let mut out = Crds::default();
        out.add(objects);
        out
    }

    /// Add the CRDs among `objects`; a later definition of a version replaces an earlier one.
    pub fn add(&mut self, objects: impl IntoIterator<Item = (&'a str, &'a Object)>) {
        for (bundle, o) in objects {
            if !is_crd(o) {
                continue;
            }
            let p = crd_parts(o);
            for (version, served, schema) in p.versions {
                self.versions.insert(
                    (p.group.clone(), version, p.kind.clone()),
                    CrdVersion {
                        crd: o.key.name.clone(),
                        bundle: bundle.to_string(),
                        namespaced: p.namespaced,
                        served,
                        schema: schema.map(|s| Schema::Parsed(Cow::Borrowed(s))),
                        compiled: std::sync::OnceLock::new(),
                    },
                );
            }
        }
    }

    /// Add `crds`, shipped by `bundle`, in compact form.
    pub fn add_compact(&mut self, bundle: &str, crds: &'a [CompactCrd]) {
        for c in crds {
            for v in &c.versions {
                self.versions.insert(
                    (c.group.clone(), v.name.clone(), c.kind.clone()),
                    CrdVersion {
                        crd: c.name.clone(),
                        bundle: bundle.to_string(),
                        namespaced: c.namespaced,
                        served: v.served,
                        schema: v.schema.as_deref().map(|t| Schema::Json(Cow::Borrowed(t))),
                        compiled: std::sync::OnceLock::new(),
                    },
                );
            }
        }
    }

    /// The same set, owning its schemas: to keep it once the parsed CRDs are gone.
    pub fn into_owned(self) -> Crds<'static> {
        Crds {
            versions: self
                .versions
                .into_iter()
                .map(|(k, v)| {
                    let v = CrdVersion {
                        crd: v.crd,
                        bundle: v.bundle,
                        namespaced: v.namespaced,
                        served: v.served,
                        schema: v.schema.map(Schema::into_owned),
                        compiled: v.compiled,
                    };
                    (k, v)
                })
                .collect(),
        }
    }

    pub fn get(&self, api_version: &str, kind: &str) -> Option<&CrdVersion<'a>> {
        let (group, version) = api_version.split_once('/')?;
        self.versions
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
    }

    /// Whether any CRD defines `kind` in `group` (whatever the version).
    pub fn defines_kind(&self, group: &str, kind: &str) -> Option<&CrdVersion<'a>> {
        self.versions
            .iter()
            .find(|((g, _, k), _)| g == group && k == kind)
            .map(|(_, v)| v)
    }
}

fn compile(openapi: &Value) -> Result<jsonschema::Validator, String> {
    let mut root = strict(openapi, true);
    // Every object carries these, whatever its schema lists.
    if let Some(props) = root.get_mut("properties").and_then(Value::as_object_mut) {
        for k in ["apiVersion", "kind"] {
            props.entry(k).or_insert(json!({ "type": "string" }));
        }
        props
            .entry("metadata")
            .or_insert(json!({ "type": "object" }));
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(false)
        .build(&root)
        .map_err(|e| format!("its schema does not compile: {e}"))
}

/// The API server's reading of a structural schema, as plain JSON Schema.
fn strict(s: &Value, root: bool) -> Value {
    let Value::Object(m) = s else {
        return s.clone();
    };
    let mut out = Map::new();
    let flag = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
    let preserve = flag("x-kubernetes-preserve-unknown-fields");
    let embedded = flag("x-kubernetes-embedded-resource");
    for (k, v) in m {
        match k.as_str() {
            "properties" | "patternProperties" | "definitions" => {
                let props: Map<String, Value> = v
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, sub)| (name.clone(), strict(sub, false)))
                    .collect();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" | "not" if v.is_object() => {
                out.insert(k.clone(), strict(v, false));
            }
            "allOf" | "anyOf" | "oneOf" => {
                // Structural schemas only use these for extra value constraints; field
                // strictness is decided by the main schema, so the branches do not add it.
                let items: Vec<Value> = v.as_array().into_iter().flatten().map(loosen).collect();
                out.insert(k.clone(), Value::Array(items));
            }
            // OpenAPI and Kubernetes keywords JSON Schema does not know, and formats (the API
            // server ignores unknown ones too).
            "nullable" | "format" | "example" | "externalDocs" | "discriminator" | "readOnly"
            | "writeOnly" | "xml" => {}
            k if k.starts_with("x-kubernetes-") => {}
            // The API server's patterns are Go (RE2) regular expressions; JSON Schema's are
            // ECMA 262. Inline flags like `(?i)` exist only in the former: such a pattern is
            // not checked rather than checked wrongly.
            "pattern" if v.as_str().is_some_and(|p| p.contains("(?")) => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if flag("x-kubernetes-int-or-string") {
        out.remove("type");
        out.insert(
            "anyOf".into(),
            json!([{ "type": "integer" }, { "type": "string" }]),
        );
    }
    if flag("nullable") {
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), json!([t, "null"]));
        }
        if let Some(Value::Array(e)) = out.get_mut("enum") {
            e.push(Value::Null);
        }
    }
    if embedded {
        let props = out
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("properties is an object");
        for k in ["apiVersion", "kind"] {
            props.entry(k).or_insert(json!({ "type": "string" }));
        }
        props
            .entry("metadata")
            .or_insert(json!({ "type": "object" }));
    }
    let is_object = out.get("type").and_then(Value::as_str) == Some("object") || root;
    if is_object
        && !preserve
        && out.contains_key("properties")
        && !out.contains_key("additionalProperties")
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}

/// A schema inside allOf/anyOf/oneOf: converted, without closing objects.
fn loosen(s: &Value) -> Value {
    let mut v = strict(s, false);
    if let Some(m) = v.as_object_mut() {
        if m.get("additionalProperties") == Some(&Value::Bool(false)) {
            m.remove("additionalProperties");
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator(schema: Value) -> jsonschema::Validator {
        compile(&schema).unwrap()
    }

    #[test]
    fn a_crd_held_compact_reads_and_checks_like_the_parsed_one() {
        let m = crate::manifest::Manifests::parse(
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Cluster
  names: {kind: Widget, plural: widgets}
  versions:
  - name: v1
    served: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
  - name: v1beta1
    served: false
",
        )
        .unwrap();
        let parsed = Crds::collect(m.objects().iter().map(|o| ("widgets", o)));
        let compact: Vec<CompactCrd> = m.objects().iter().filter_map(CompactCrd::of).collect();
        assert_eq!(compact.len(), 1);
        let mut held = Crds::default();
        held.add_compact("widgets", &compact);
        let bad = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 0, "colour": "red"}});
        let errors = |crds: &Crds| {
            let v = crds.get("example.com/v1", "Widget").unwrap();
            assert_eq!(
                (v.crd.as_str(), v.bundle.as_str()),
                ("widgets.example.com", "widgets")
            );
            assert!(!v.namespaced && v.served);
            assert!(!crds.get("example.com/v1beta1", "Widget").unwrap().served);
            let mut e: Vec<String> = v
                .validator()
                .unwrap()
                .iter_errors(&bad)
                .map(|e| e.to_string())
                .collect();
            e.sort();
            e
        };
        let from_parsed = errors(&parsed);
        assert_eq!(from_parsed.len(), 2, "{from_parsed:?}");
        assert_eq!(errors(&held), from_parsed);
        assert_eq!(errors(&held.into_owned()), from_parsed);
    }

    #[test]
    fn unknown_fields_are_errors_unless_preserved() {
        let v = validator(json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "port": { "x-kubernetes-int-or-string": true },
                        "note": { "type": "string", "nullable": true },
                        "extra": { "type": "object", "x-kubernetes-preserve-unknown-fields": true }
                    }
                }
            }
        }));
        let ok = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
            "spec": {"port": "http", "note": null, "extra": {"anything": 1}}});
        assert!(v.is_valid(&ok));
        assert!(v.is_valid(&json!({"spec": {"port": 8080}})));
        assert!(
            !v.is_valid(&json!({"spec": {"prot": 8080}})),
            "a typo is an error"
        );
        assert!(!v.is_valid(&json!({"spec": {"port": true}})));
        assert!(!v.is_valid(&json!({"specs": {}})));
    }

    #[test]
    fn go_only_patterns_do_not_break_the_schema() {
        let v = validator(json!({
            "type": "object",
            "properties": {
                "strategy": { "type": "string", "pattern": "^(?i)(abort|warn)?$" },
                "interval": { "type": "string", "pattern": "^(0|(([0-9]+)s)?)$" }
            }
        }));
        assert!(v.is_valid(&json!({"strategy": "ABORT", "interval": "30s"})));
        assert!(!v.is_valid(&json!({"interval": "soon"})));
    }
}
