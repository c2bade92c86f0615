//! GitHub's REST description as a contract for the fake: every request the fake receives and
//! every response it sends is checked against the operation's schemas, so the fake cannot drift
//! from what GitHub accepts and returns.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::{json, Map, Value};

const SPEC: &str = include_str!("../../data/github/github-bot-openapi.json");

/// One documented operation.
pub struct Operation {
    pub id: String,
    pub method: String,
    pub template: String,
    segments: Vec<String>,
    request: Option<Value>,
    responses: BTreeMap<u16, Option<Value>>,
    request_validator: Option<jsonschema::Validator>,
    response_validators: BTreeMap<u16, jsonschema::Validator>,
}

/// The loaded description.
pub struct OpenApi {
    ops: Vec<Operation>,
}

static OPENAPI: LazyLock<OpenApi> = LazyLock::new(OpenApi::load);

impl OpenApi {
    /// The shared, compiled description.
    pub fn get() -> &'static OpenApi {
        &OPENAPI
    }

    fn load() -> OpenApi {
        let spec: Value = serde_json::from_str(SPEC).expect("the vendored description is JSON");
        let mut ops = Vec::new();
        for (template, item) in spec["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if !matches!(method.as_str(), "get" | "post" | "patch" | "put" | "delete") {
                    continue;
                }
                let request = op
                    .pointer("/requestBody/content/application~1json/schema")
                    .cloned();
                let mut responses = BTreeMap::new();
                for (status, resp) in op["responses"].as_object().expect("responses") {
                    if let Ok(code) = status.parse::<u16>() {
                        responses.insert(
                            code,
                            resp.pointer("/content/application~1json/schema").cloned(),
                        );
                    }
                }
                let compile = |s: &Value| {
                    jsonschema::Validator::new(s)
                        .unwrap_or_else(|e| panic!("schema of {template} does not compile: {e}"))
                };
                ops.push(Operation {
                    id: op["operationId"].as_str().expect("operationId").to_string(),
                    method: method.to_uppercase(),
                    template: template.clone(),
                    segments: template
                        .trim_start_matches('/')
                        .split('/')
                        .map(str::to_string)
                        .collect(),
                    request_validator: request.as_ref().map(compile),
                    response_validators: responses
                        .iter()
                        .filter_map(|(c, s)| s.as_ref().map(|s| (*c, compile(s))))
                        .collect(),
                    request,
                    responses,
                });
            }
        }
        OpenApi { ops }
    }

    /// The operation documented for `method path`, with its path parameters.
    pub fn route(
        &self,
        method: &str,
        path: &str,
    ) -> Option<(&Operation, BTreeMap<String, String>)> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.ops
            .iter()
            .filter(|op| op.method == method)
            .find_map(|op| op.matches(&parts).map(|params| (op, params)))
    }

    pub fn operation(&self, id: &str) -> &Operation {
        self.ops
            .iter()
            .find(|o| o.id == id)
            .unwrap_or_else(|| panic!("operation {id} is not in the vendored description"))
    }

    pub fn operation_ids(&self) -> impl Iterator<Item = &str> {
        self.ops.iter().map(|o| o.id.as_str())
    }
}

impl Operation {
    fn matches(&self, parts: &[&str]) -> Option<BTreeMap<String, String>> {
        let mut params = BTreeMap::new();
        let mut i = 0;
        for (si, seg) in self.segments.iter().enumerate() {
            let last = si + 1 == self.segments.len();
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if name.contains("}...{") {
                    // compare/{base}...{head}
                    let (b, h) = parts.get(i)?.split_once("...")?;
                    params.insert("base".into(), b.to_string());
                    params.insert("head".into(), h.to_string());
                } else if last && name == "ref" {
                    // x-multi-segment: `heads/ake-bot/cert-manager` spans segments.
                    if i >= parts.len() {
                        return None;
                    }
                    params.insert(name.into(), parts[i..].join("/"));
                    return Some(params);
                } else {
                    let v = parts.get(i)?;
                    if v.is_empty() {
                        return None;
                    }
                    params.insert(name.into(), (*v).to_string());
                }
            } else if parts.get(i) != Some(&seg.as_str()) {
                return None;
            }
            i += 1;
        }
        (i == parts.len()).then_some(params)
    }

    /// Check a request body; the error names the operation, the JSON pointer and the problem.
    pub fn check_request(&self, body: Option<&Value>) -> Result<(), String> {
        match (&self.request_validator, body) {
            (Some(v), Some(b)) => errors(v, b).map_err(|e| format!("{} request: {e}", self.id)),
            (Some(_), None) if self.method != "GET" && self.method != "DELETE" => {
                Err(format!("{} request: a JSON body is required", self.id))
            }
            _ => Ok(()),
        }
    }

    /// Check a response the fake is about to send.
    pub fn check_response(&self, status: u16, body: &Value) -> Result<(), String> {
        if !self.responses.contains_key(&status) && status < 500 {
            return Err(format!(
                "{} response: status {status} is not documented",
                self.id
            ));
        }
        match self.response_validators.get(&status) {
            Some(v) => errors(v, body).map_err(|e| format!("{} response {status}: {e}", self.id)),
            None => Ok(()),
        }
    }

    /// A minimal body valid against the response schema for `status`: every required field
    /// filled with a plausible value. Handlers overlay the fields the world knows.
    pub fn skeleton(&self, status: u16) -> Value {
        let schema = self
            .responses
            .get(&status)
            .and_then(Option::as_ref)
            .unwrap_or_else(|| panic!("{} has no JSON schema for {status}", self.id));
        skeleton(schema, "")
    }

    /// Property names the request schema knows (across `oneOf`/`anyOf` alternatives), for
    /// "the fake knows every key" checks.
    pub fn request_properties(&self) -> Vec<String> {
        fn collect(s: &Value, out: &mut Vec<String>) {
            if let Some(m) = s.get("properties").and_then(Value::as_object) {
                out.extend(m.keys().cloned());
            }
            for k in ["oneOf", "anyOf", "allOf"] {
                for alt in s.get(k).and_then(Value::as_array).into_iter().flatten() {
                    collect(alt, out);
                }
            }
        }
        let mut out = Vec::new();
        if let Some(r) = &self.request {
            collect(r, &mut out);
        }
        out
    }
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Result<(), String> {
    let errs: Vec<String> = v
        .iter_errors(instance)
        .take(5)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// Build a value satisfying `schema` with the least content: required properties only.
fn skeleton(schema: &Value, name: &str) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return first.clone();
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            if key == "allOf" {
                let mut merged = Map::new();
                for part in schema[key].as_array().expect("allOf is a list") {
                    if let Value::Object(m) = skeleton(part, name) {
                        merged.extend(m);
                    }
                }
                return Value::Object(merged);
            }
            return skeleton(first, name);
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ if schema.get("properties").is_some() => vec!["object"],
        _ => vec![],
    };
    // Prefer a real value over null where both are allowed: clients parse more of it.
    let t = types
        .iter()
        .copied()
        .find(|t| *t != "null")
        .or(types.first().copied());
    match t {
        Some("object") => {
            let mut m = Map::new();
            let props = schema.get("properties").and_then(Value::as_object);
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(key) = req.as_str() else { continue };
                let sub = props.and_then(|p| p.get(key)).cloned().unwrap_or(json!({}));
                m.insert(key.to_string(), skeleton(&sub, key));
            }
            Value::Object(m)
        }
        Some("array") => json!([]),
        Some("integer") | Some("number") => json!(1),
        Some("boolean") => json!(false),
        Some("null") => Value::Null,
        Some("string") => json!(string_for(schema, name)),
        _ => Value::Null,
    }
}

fn string_for(schema: &Value, name: &str) -> String {
    match schema.get("format").and_then(Value::as_str) {
        Some("date-time") => return "2026-01-01T00:00:00Z".into(),
        Some("uri") | Some("uri-template") => return format!("https://api.github.com/fake/{name}"),
        Some("email") => return "bot@example.com".into(),
        _ => {}
    }
    if name.ends_with("url") || name == "href" {
        return format!("https://api.github.com/fake/{name}");
    }
    if name == "node_id" || name == "sha" {
        return "0000000000000000000000000000000000000000".into();
    }
    "fake".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_documented_templates() {
        let api = OpenApi::get();
        let (op, p) = api.route("GET", "/repos/acme/config/pulls/7").unwrap();
        assert_eq!(
            (op.id.as_str(), p["pull_number"].as_str()),
            ("pulls/get", "7")
        );
        let (op, p) = api
            .route(
                "PATCH",
                "/repos/acme/config/git/refs/heads/ake-bot/cert-manager",
            )
            .unwrap();
        assert_eq!(
            (op.id.as_str(), p["ref"].as_str()),
            ("git/update-ref", "heads/ake-bot/cert-manager")
        );
        let (op, p) = api
            .route("GET", "/repos/acme/config/compare/v1.30.0...release-1.30")
            .unwrap();
        assert_eq!(
            (op.id.as_str(), p["head"].as_str()),
            ("repos/compare-commits", "release-1.30")
        );
        assert!(api.route("DELETE", "/repos/acme/config/pulls/7").is_none());
        assert!(api.route("GET", "/user").is_none());
    }

    #[test]
    fn every_skeleton_is_valid_against_its_own_schema() {
        let api = OpenApi::get();
        for op in &api.ops {
            for (status, schema) in &op.responses {
                if schema.is_some() {
                    let body = op.skeleton(*status);
                    op.check_response(*status, &body)
                        .unwrap_or_else(|e| panic!("{e}\n{body:#}"));
                }
            }
        }
    }

    #[test]
    fn bad_requests_are_caught_with_their_pointer() {
        let api = OpenApi::get();
        let op = api.operation("pulls/update");
        let e = op
            .check_request(Some(&json!({"state": "merged"})))
            .unwrap_err();
        assert!(e.starts_with("pulls/update request: at /state"), "{e}");
        let op = api.operation("pulls/create");
        let e = op
            .check_request(Some(&json!({"title": "t", "base": "main"})))
            .unwrap_err();
        assert!(e.contains("head"), "{e}");
        assert!(op
            .check_request(Some(&json!({"title": "t", "head": "x", "base": "main"})))
            .is_ok());
    }
}
