//! ConstraintTemplates: their Rego, compiled once with regorus, and the `violation` query.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::review::{Inventory, Review};

/// `templates.gatekeeper.sh/v1` and `/v1beta1`.
pub(super) const GROUP: &str = "templates.gatekeeper.sh";
/// Gatekeeper's name for CEL code.
const CEL_ENGINE: &str = "K8sNativeValidation";
/// Gatekeeper's name for Rego code in `code[]`.
const REGO_ENGINE: &str = "Rego";

#[derive(Debug, Clone)]
pub(crate) struct Template {
    /// `metadata.name`.
    pub name: String,
    /// `spec.crd.spec.names.kind`: the kind of its constraints.
    pub kind: String,
    pub file: PathBuf,
    pub code: Code,
}

#[derive(Debug, Clone)]
pub(crate) enum Code {
    Rego(Box<CompiledRego>),
    /// Why not: e.g. CEL-only.
    NotEvaluated(String),
}

/// A template's modules, parsed and checked once; every evaluation clones the engine.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRego {
    engine: regorus::Engine,
    /// `data.<package>.violation`.
    rule: String,
}

/// The Rego a template carries: legacy `rego`/`libs`, or `code[]` with engine `Rego`.
struct RegoSource {
    rego: String,
    libs: Vec<String>,
    /// `source.version: v1` asks for Rego v1; anything else is v0, as in Gatekeeper.
    v1: bool,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Template {
    /// One ConstraintTemplate document; the error names the template.
    pub fn load(file: &Path, doc: &Value) -> Result<Template, String> {
        let name = str_at(doc, &["metadata", "name"]).unwrap_or_default();
        let err = |m: String| {
            if name.is_empty() {
                format!("ConstraintTemplate: {m}")
            } else {
                format!("ConstraintTemplate {name}: {m}")
            }
        };
        if name.is_empty() {
            return Err(err("no metadata.name".into()));
        }
        let kind = str_at(doc, &["spec", "crd", "spec", "names", "kind"])
            .filter(|k| !k.is_empty())
            .ok_or_else(|| err("no spec.crd.spec.names.kind".into()))?;
        let target = doc
            .pointer("/spec/targets/0")
            .ok_or_else(|| err("no spec.targets".into()))?;
        let code = match rego_source(target) {
            // Gatekeeper's one builtin beyond OPA's: a call to an external data provider (a
            // service), which an offline check cannot make.
            Some(src)
                if std::iter::once(&src.rego)
                    .chain(&src.libs)
                    .any(|r| r.contains("external_data(")) =>
            {
                Code::NotEvaluated(
                    "calls external_data (Gatekeeper external data providers are not supported)"
                        .into(),
                )
            }
            Some(src) => Code::Rego(Box::new(CompiledRego::compile(file, &src).map_err(&err)?)),
            None => {
                let engines: Vec<&str> = target
                    .get("code")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|c| str_at(c, &["engine"])).collect())
                    .unwrap_or_default();
                if engines.contains(&CEL_ENGINE) {
                    Code::NotEvaluated(format!("CEL-only (engine {CEL_ENGINE})"))
                } else if engines.is_empty() {
                    return Err(err(
                        "no code: neither spec.targets[0].rego nor spec.targets[0].code".into(),
                    ));
                } else {
                    Code::NotEvaluated(format!(
                        "no Rego; code engines {} are not supported",
                        engines.join(", ")
                    ))
                }
            }
        };
        Ok(Template {
            name: name.to_string(),
            kind: kind.to_string(),
            file: file.to_path_buf(),
            code,
        })
    }
}

fn rego_source(target: &Value) -> Option<RegoSource> {
    if let Some(rego) = str_at(target, &["rego"]).filter(|r| !r.trim().is_empty()) {
        return Some(RegoSource {
            rego: rego.to_string(),
            libs: strings(target.get("libs")),
            v1: false,
        });
    }
    let code = target.get("code")?.as_array()?;
    let rego = code
        .iter()
        .find(|c| str_at(c, &["engine"]) == Some(REGO_ENGINE))?;
    let source = rego.get("source")?;
    Some(RegoSource {
        rego: str_at(source, &["rego"])?.to_string(),
        libs: strings(source.get("libs")),
        v1: str_at(source, &["version"]) == Some("v1"),
    })
}

impl CompiledRego {
    fn compile(file: &Path, src: &RegoSource) -> Result<CompiledRego, String> {
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(!src.v1);
        let path = format!("{}#rego", file.display());
        let package = engine
            .add_policy(path.clone(), super::compat::rewrite(&src.rego))
            .map_err(|e| format!("rego does not parse:\n{}", e.to_string().trim()))?;
        for (i, lib) in src.libs.iter().enumerate() {
            engine
                .add_policy(
                    format!("{}#libs[{i}]", file.display()),
                    super::compat::rewrite(lib),
                )
                .map_err(|e| format!("libs[{i}] does not parse:\n{}", e.to_string().trim()))?;
        }
        match engine.has_declared_rule_rooted_at(&path, "violation") {
            Ok(true) => {}
            Ok(false) => return Err(format!("{package} has no violation rule")),
            Err(e) => return Err(format!("{package}: {e}")),
        }
        let compiled = CompiledRego {
            engine,
            rule: format!("{package}.violation"),
        };
        // Analyse the modules now (unknown functions, unsafe variables, recursion), so a
        // template that cannot run is a load problem, not one error per object.
        let mut probe = compiled.engine.clone();
        probe.set_input(regorus::Value::from(serde_json::json!({
            "review": {}, "parameters": {}
        })));
        probe
            .eval_rule(compiled.rule.clone())
            .map_err(|e| format!("rego does not compile:\n{}", e.to_string().trim()))?;
        Ok(compiled)
    }

    /// A copy of the compiled engine with `data.inventory`.
    pub fn with_inventory(&self, inventory: &Inventory) -> Result<regorus::Engine, String> {
        let mut engine = self.engine.clone();
        engine
            .add_data(inventory.data())
            .map_err(|e| format!("cannot load the inventory: {e}"))?;
        Ok(engine)
    }

    /// The `violation` set for one review: the messages, each (msg, details) once.
    pub fn violations(
        &self,
        engine: &mut regorus::Engine,
        review: &Review,
        inventory: &Inventory,
        parameters: &Value,
    ) -> Result<Vec<String>, String> {
        let mut review_value = review.input.clone();
        if let Some(m) = review_value.as_object_mut() {
            m.insert(
                "namespaceObject".into(),
                inventory
                    .namespace(review.namespace())
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
        let input = serde_json::json!({ "review": review_value, "parameters": parameters });
        engine.set_input(regorus::Value::from(input));
        let result = engine
            .eval_rule(self.rule.clone())
            .map_err(|e| format!("rego evaluation failed:\n{}", e.to_string().trim()))?;
        let set = match &result {
            regorus::Value::Undefined | regorus::Value::Null => return Ok(Vec::new()),
            regorus::Value::Set(s) => s.iter().cloned().collect::<Vec<_>>(),
            regorus::Value::Array(a) => a.iter().cloned().collect(),
            other => return Err(format!("violation is not a set: {other}")),
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for r in set {
            // Gatekeeper's hook: `response := {"details": object.get(r, "details", {}),
            // "msg": r.msg}`; an element without msg makes no response.
            let msg = &r["msg"];
            let message = match msg {
                regorus::Value::Undefined => continue,
                regorus::Value::String(s) => s.to_string(),
                other => other.to_json_str().unwrap_or_default(),
            };
            let details = match &r["details"] {
                regorus::Value::Undefined => "{}".to_string(),
                d => d.to_json_str().unwrap_or_default(),
            };
            if seen.insert((message.clone(), details)) {
                out.push(message);
            }
        }
        Ok(out)
    }
}
