//! Custom resources against the CRDs the bundles ship. A CRD's `openAPIV3Schema` is OpenAPI
//! 3.0 with Kubernetes extensions; it becomes JSON Schema (draft 4) with the API server's
//! rules: `nullable`, `x-kubernetes-int-or-string`, and — as `kubectl --validate=strict` and
//! server-side field validation do — unknown fields are errors unless the schema says
//! `x-kubernetes-preserve-unknown-fields`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::manifest::Object;

/// One served (or not) version of a CRD.
pub struct CrdVersion {
    /// `certificates.cert-manager.io`.
    pub crd: String,
    /// The bundle that ships it.
    pub bundle: String,
    pub namespaced: bool,
    pub served: bool,
    schema: Option<Value>,
    /// Compiled on first use: kube-prometheus-stack's CRDs are large, and most are never used
    /// by an object in the same branch.
    compiled: std::sync::OnceLock<Result<jsonschema::Validator, String>>,
}

impl CrdVersion {
    /// The compiled schema, or why there is none (no schema, or it does not compile).
    pub fn validator(&self) -> Result<&jsonschema::Validator, &str> {
        self.compiled
            .get_or_init(|| match &self.schema {
                Some(s) => compile(s),
                None => Err("the CRD version has no openAPIV3Schema".into()),
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

/// Every CRD version the bundles of a branch ship, by (group, version, kind).
#[derive(Default)]
pub struct Crds {
    versions: BTreeMap<(String, String, String), CrdVersion>,
}

impl Crds {
    /// Read the CRDs among `objects` (with the bundle each came from).
    pub fn collect<'a>(objects: impl IntoIterator<Item = (&'a str, &'a Object)>) -> Crds {
        let mut out = Crds::default();
        for (bundle, o) in objects {
            if o.key.kind != "CustomResourceDefinition" || o.key.group != "apiextensions.k8s.io" {
                continue;
            }
            let spec = &o.value["spec"];
            let group = spec["group"].as_str().unwrap_or_default().to_string();
            let kind = spec["names"]["kind"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let namespaced = spec["scope"].as_str() != Some("Cluster");
            for v in spec["versions"].as_array().into_iter().flatten() {
                let version = v["name"].as_str().unwrap_or_default().to_string();
                out.versions.insert(
                    (group.clone(), version, kind.clone()),
                    CrdVersion {
                        crd: o.key.name.clone(),
                        bundle: bundle.to_string(),
                        namespaced,
                        served: v["served"].as_bool().unwrap_or(false),
                        schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                        compiled: std::sync::OnceLock::new(),
                    },
                );
            }
        }
        out
    }

    pub fn get(&self, api_version: &str, kind: &str) -> Option<&CrdVersion> {
        let (group, version) = api_version.split_once('/')?;
        self.versions
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
    }

    /// Whether any CRD defines `kind` in `group` (whatever the version).
    pub fn defines_kind(&self, group: &str, kind: &str) -> Option<&CrdVersion> {
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
