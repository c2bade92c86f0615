//! What Gatekeeper hands a template: `input.review` (an AdmissionRequest built from an object,
//! or taken from an AdmissionReview) and `data.inventory`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

/// One request to review: `input.review`, and the objects the constraint's match reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// `input.review`, without `namespaceObject` (added from the inventory at evaluation).
    pub input: Value,
}

fn gvk(object: &Value) -> (String, String, String) {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    (group.to_string(), version.to_string(), kind.to_string())
}

fn meta<'a>(object: &'a Value, field: &str) -> &'a str {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl Review {
    /// An object as Gatekeeper's target turns it into a request (`unstructuredToAdmissionRequest`),
    /// with operation CREATE: what applying a rendered manifest to a cluster that lacks it is.
    pub fn of_object(object: &Value) -> Result<Review, String> {
        Review::of_object_with(object, "CREATE")
    }

    /// [`Review::of_object`] with another operation.
    pub fn of_object_with(object: &Value, operation: &str) -> Result<Review, String> {
        let (group, version, kind) = gvk(object);
        let name = meta(object, "name");
        if version.is_empty() {
            return Err(format!("resource {name} has no version"));
        }
        if kind.is_empty() {
            return Err(format!("resource {name} has no kind"));
        }
        let mut input = json!({
            "uid": "",
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": "", "version": "", "resource": ""},
            "operation": operation,
            "userInfo": {},
            "object": object,
            "oldObject": null,
            "options": null,
        });
        let m = input.as_object_mut().expect("a JSON object literal");
        // `name` and `namespace` are omitempty in the AdmissionRequest.
        if !name.is_empty() {
            m.insert("name".into(), name.into());
        }
        let namespace = meta(object, "namespace");
        if !namespace.is_empty() {
            m.insert("namespace".into(), namespace.into());
        }
        Ok(Review { input })
    }

    /// An `admission.k8s.io` AdmissionReview, as gator reviews it: `request` is the review,
    /// fields it lacks take their zero values, and a DELETE reviews `oldObject` as `object`.
    pub fn of_admission_review(doc: &Value) -> Result<Review, String> {
        let request = doc
            .get("request")
            .and_then(Value::as_object)
            .ok_or("AdmissionReview: request did not actually pass in an AdmissionRequest")?;
        let present = |k: &str| request.get(k).is_some_and(|v| !v.is_null());
        if !present("object") && !present("oldObject") {
            return Err(
                "AdmissionReview: AdmissionRequest does not contain an \"object\" or \"oldObject\" \
                 to review"
                    .into(),
            );
        }
        let mut input: Map<String, Value> = request.clone();
        let zero = |m: &mut Map<String, Value>, k: &str, fields: &[&str]| {
            let entry = m.entry(k.to_string()).or_insert_with(|| json!({}));
            if let Some(o) = entry.as_object_mut() {
                for f in fields {
                    o.entry(f.to_string()).or_insert_with(|| json!(""));
                }
            }
        };
        input.entry("uid").or_insert_with(|| json!(""));
        zero(&mut input, "kind", &["group", "version", "kind"]);
        zero(&mut input, "resource", &["group", "version", "resource"]);
        input.entry("operation").or_insert_with(|| json!(""));
        input.entry("userInfo").or_insert_with(|| json!({}));
        input.entry("object").or_insert(Value::Null);
        input.entry("oldObject").or_insert(Value::Null);
        input.entry("options").or_insert(Value::Null);
        if input.get("operation").and_then(Value::as_str) == Some("DELETE") {
            let old = input.get("oldObject").cloned().unwrap_or(Value::Null);
            if old.is_null() {
                return Err("oldObject cannot be nil for DELETE operations".into());
            }
            input.insert("object".into(), old);
        }
        Ok(Review {
            input: Value::Object(input),
        })
    }

    /// The request's namespace (`namespace`, else the object's).
    pub fn namespace(&self) -> &str {
        let ns = self
            .input
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !ns.is_empty() {
            return ns;
        }
        self.objects().next().map_or("", |o| meta(o, "namespace"))
    }

    /// `object` and `oldObject`, those present: a constraint applies when either matches.
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        ["object", "oldObject"]
            .into_iter()
            .filter_map(|k| self.input.get(k))
            .filter(|v| v.is_object())
    }
}

/// Objects by groupVersion, kind and name.
type ByGroupVersion = BTreeMap<String, BTreeMap<String, Map<String, Value>>>;

/// `data.inventory`: objects by namespace (or cluster), groupVersion, kind and name; and the
/// Namespaces among them, which namespaceSelector reads.
#[derive(Debug, Default)]
pub struct Inventory {
    cluster: ByGroupVersion,
    namespaced: BTreeMap<String, ByGroupVersion>,
    namespaces: BTreeMap<String, Value>,
    data: OnceLock<regorus::Value>,
}

impl Inventory {
    /// Add an object (objects without apiVersion, kind or name are not kept, as Gatekeeper's
    /// cache refuses them).
    pub fn add(&mut self, object: &Value) {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (_, _, kind) = gvk(object);
        let name = meta(object, "name");
        if api_version.is_empty() || kind.is_empty() || name.is_empty() {
            return;
        }
        self.data = OnceLock::new();
        let namespace = meta(object, "namespace");
        let by_kind = if namespace.is_empty() {
            self.cluster.entry(api_version.to_string()).or_default()
        } else {
            self.namespaced
                .entry(namespace.to_string())
                .or_default()
                .entry(api_version.to_string())
                .or_default()
        };
        by_kind
            .entry(kind.clone())
            .or_default()
            .insert(name.to_string(), object.clone());
        if kind == "Namespace" && !api_version.contains('/') {
            self.namespaces.insert(name.to_string(), object.clone());
        }
    }

    /// The Namespace object named `name`, when known.
    pub fn namespace(&self, name: &str) -> Option<&Value> {
        if name.is_empty() {
            return None;
        }
        self.namespaces.get(name)
    }

    /// `{"inventory": {"cluster": …, "namespace": …}}`, for the engine's data.
    pub fn data(&self) -> regorus::Value {
        self.data
            .get_or_init(|| {
                regorus::Value::from(json!({
                    "inventory": {
                        "cluster": self.cluster,
                        "namespace": self.namespaced,
                    }
                }))
            })
            .clone()
    }
}

impl Clone for Inventory {
    fn clone(&self) -> Inventory {
        Inventory {
            cluster: self.cluster.clone(),
            namespaced: self.namespaced.clone(),
            namespaces: self.namespaces.clone(),
            data: OnceLock::new(),
        }
    }
}
