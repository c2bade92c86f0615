//! Gatekeeper policies, evaluated offline: ConstraintTemplates (Rego, run with `regorus` as Rego
//! v0 unless the template asks for v1) and their Constraints, matched and evaluated against
//! Kubernetes objects the way Gatekeeper's admission target does it; and `gator verify`'s test
//! suites ([`verify`]).
//!
//! What a template sees is what Gatekeeper gives it: `input.review` (an AdmissionRequest: `kind`
//! {group, version, kind}, `name`, `namespace`, `operation`, `object`, `oldObject`,
//! `userInfo`, …), `input.parameters` (the constraint's `spec.parameters`, `{}` when it has
//! none) and `data.inventory` (`namespace[<ns>][<groupVersion>][<kind>][<name>]` and
//! `cluster[<groupVersion>][<kind>][<name>]`). The template package's `violation` set is
//! queried; each element with a `msg` is one violation (identical elements count once: it is a
//! set).
//!
//! Not supported, and said so rather than passed: CEL (`K8sNativeValidation`) code, which
//! templates that also carry Rego do not need (the Rego is evaluated); `external_data`
//! (providers are services); expansion templates and mutation.

mod compat;
mod constraint;
mod matching;
mod review;
mod template;
pub mod verify;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::manifest::ObjectRef;

use constraint::Constraint;
pub use constraint::EnforcementAction;
pub use review::Review;
use template::{Code, Template};

/// Why a file's templates or constraints could not be (all) loaded; the rest loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadProblem {
    pub file: PathBuf,
    pub message: String,
}

impl std::fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

/// One constraint as loaded: what it is, which template it instantiates, and whether it is
/// evaluated at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConstraintInfo {
    /// The constraint's kind (the template's `spec.crd.spec.names.kind`).
    pub kind: String,
    pub name: String,
    /// The ConstraintTemplate's `metadata.name` ("" when no template defines the kind).
    pub template: String,
    pub file: PathBuf,
    pub action: EnforcementAction,
    pub evaluated: bool,
    /// Why not, when `evaluated` is false, e.g. `CEL-only (engine K8sNativeValidation)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_evaluated: Option<String>,
    /// How `enforcementAction: scoped` was read, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One violation: a constraint's template said no to an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub constraint_kind: String,
    pub constraint: String,
    /// The ConstraintTemplate's `metadata.name`.
    pub template: String,
    pub action: EnforcementAction,
    /// The object's index in the `objects` passed to [`PolicySet::evaluate`].
    pub object_index: usize,
    /// `Deployment ns/name` (kubectl's `Kind.group` form for non-built-in groups).
    pub object: String,
    pub message: String,
}

/// A constraint that could not be evaluated against one object (a runtime Rego error, a
/// namespaceSelector with no Namespace to read): Gatekeeper would deny the request with the
/// error as the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvalProblem {
    pub constraint_kind: String,
    pub constraint: String,
    pub template: String,
    pub object_index: usize,
    pub object: String,
    pub message: String,
}

impl std::fmt::Display for EvalProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} (template {}) on {}: {}",
            self.constraint_kind, self.constraint, self.template, self.object, self.message
        )
    }
}

/// What [`PolicySet::evaluate_all`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub violations: Vec<Violation>,
    pub problems: Vec<EvalProblem>,
}

/// Loaded ConstraintTemplates (each compiled once) and Constraints.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// By constraint kind.
    templates: BTreeMap<String, Template>,
    constraints: Vec<Constraint>,
}

/// A loaded document: which file, which document in it.
fn documents(file: &std::path::Path, text: &str) -> Result<Vec<Value>, LoadProblem> {
    crate::yaml::documents(text)
        .map(|docs| docs.into_iter().filter(|d| !d.is_null()).collect())
        .map_err(|e| LoadProblem {
            file: file.to_path_buf(),
            message: format!("invalid YAML: {e}"),
        })
}

fn api_group(doc: &Value) -> &str {
    doc.get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit_once('/'))
        .map_or("", |(g, _)| g)
}

impl PolicySet {
    /// Templates and constraints from (repo-relative path, text) pairs; problems per file, the
    /// rest loads. Documents of other kinds (suites, sample objects) are ignored.
    pub fn load(files: &[(PathBuf, String)]) -> (PolicySet, Vec<LoadProblem>) {
        let mut set = PolicySet::default();
        let mut problems = Vec::new();
        let mut constraint_docs = Vec::new();
        for (file, text) in files {
            let docs = match documents(file, text) {
                Ok(d) => d,
                Err(p) => {
                    problems.push(p);
                    continue;
                }
            };
            for doc in docs {
                match api_group(&doc) {
                    template::GROUP => match Template::load(file, &doc) {
                        Ok(t) => {
                            if let Some(prev) = set.templates.get(&t.kind) {
                                problems.push(LoadProblem {
                                    file: file.clone(),
                                    message: format!(
                                        "ConstraintTemplate {}: kind {} is already defined by \
                                         template {} in {}",
                                        t.name,
                                        t.kind,
                                        prev.name,
                                        prev.file.display()
                                    ),
                                });
                            } else {
                                set.templates.insert(t.kind.clone(), t);
                            }
                        }
                        Err(message) => problems.push(LoadProblem {
                            file: file.clone(),
                            message,
                        }),
                    },
                    constraint::GROUP => constraint_docs.push((file.clone(), doc)),
                    _ => {}
                }
            }
        }
        for (file, doc) in constraint_docs {
            match Constraint::load(&file, &doc) {
                Ok(c) => {
                    if !set.templates.contains_key(&c.kind) {
                        problems.push(LoadProblem {
                            file: file.clone(),
                            message: format!(
                                "{} {}: no ConstraintTemplate defines kind {}",
                                c.kind, c.name, c.kind
                            ),
                        });
                    }
                    set.constraints.push(c);
                }
                Err(message) => problems.push(LoadProblem { file, message }),
            }
        }
        (set, problems)
    }

    /// Every constraint, in load order.
    pub fn constraints(&self) -> Vec<ConstraintInfo> {
        self.constraints
            .iter()
            .map(|c| {
                let t = self.templates.get(&c.kind);
                let not_evaluated = match t.map(|t| &t.code) {
                    None => Some(format!("no ConstraintTemplate defines kind {}", c.kind)),
                    Some(Code::NotEvaluated(why)) => Some(why.clone()),
                    Some(Code::Rego(_)) => None,
                };
                ConstraintInfo {
                    kind: c.kind.clone(),
                    name: c.name.clone(),
                    template: t.map(|t| t.name.clone()).unwrap_or_default(),
                    file: c.file.clone(),
                    action: c.action,
                    evaluated: not_evaluated.is_none(),
                    not_evaluated,
                    note: c.action_note.clone(),
                }
            })
            .collect()
    }

    /// Evaluate every constraint against every object of `objects` (the branch's rendered
    /// objects; also the inventory), with `namespaces` (Namespace objects, for
    /// namespaceSelector). Violations only: constraints that could not be evaluated on an
    /// object are in [`PolicySet::evaluate_all`]'s problems.
    pub fn evaluate(&self, objects: &[Value], namespaces: &[Value]) -> Vec<Violation> {
        self.evaluate_all(objects, namespaces).violations
    }

    /// [`PolicySet::evaluate`], with the problems: one per (constraint, object) that could not
    /// be evaluated.
    pub fn evaluate_all(&self, objects: &[Value], namespaces: &[Value]) -> Evaluation {
        self.evaluate_where(objects, namespaces, &|_| true)
    }

    /// [`PolicySet::evaluate_all`] for the objects `reviewed` selects by index; every object
    /// is still in the inventory (referential constraints see the whole branch). A PR's check
    /// reviews its addon's objects only: the rest of the branch did not change.
    pub fn evaluate_where(
        &self,
        objects: &[Value],
        namespaces: &[Value],
        reviewed: &dyn Fn(usize) -> bool,
    ) -> Evaluation {
        let mut inventory = review::Inventory::default();
        for o in namespaces.iter().chain(objects) {
            inventory.add(o);
        }
        let reviews: Vec<Option<Result<Review, String>>> = objects
            .iter()
            .enumerate()
            .map(|(i, o)| reviewed(i).then(|| Review::of_object(o)))
            .collect();
        let mut out = Evaluation::default();
        for (kind, template) in &self.templates {
            let constraints: Vec<&Constraint> = self
                .constraints
                .iter()
                .filter(|c| &c.kind == kind)
                .collect();
            if constraints.is_empty() {
                continue;
            }
            let Code::Rego(rego) = &template.code else {
                continue;
            };
            let mut engine = match rego.with_inventory(&inventory) {
                Ok(e) => e,
                Err(message) => {
                    // Not one object's fault: every object is unevaluated for these constraints.
                    for c in &constraints {
                        out.problems.push(EvalProblem {
                            constraint_kind: c.kind.clone(),
                            constraint: c.name.clone(),
                            template: template.name.clone(),
                            object_index: 0,
                            object: String::new(),
                            message: message.clone(),
                        });
                    }
                    continue;
                }
            };
            for c in constraints {
                for (index, (object, review)) in objects.iter().zip(&reviews).enumerate() {
                    let Some(review) = review else { continue };
                    let label = object_label(object);
                    let problem = |message: String| EvalProblem {
                        constraint_kind: c.kind.clone(),
                        constraint: c.name.clone(),
                        template: template.name.clone(),
                        object_index: index,
                        object: label.clone(),
                        message,
                    };
                    let review = match review {
                        Ok(r) => r,
                        Err(e) => {
                            out.problems.push(problem(e.clone()));
                            continue;
                        }
                    };
                    match c.matches(review, &inventory) {
                        Ok(false) => continue,
                        Ok(true) => {}
                        Err(e) => {
                            out.problems.push(problem(e));
                            continue;
                        }
                    }
                    match rego.violations(&mut engine, review, &inventory, &c.parameters) {
                        Ok(messages) => {
                            out.violations
                                .extend(messages.into_iter().map(|message| Violation {
                                    constraint_kind: c.kind.clone(),
                                    constraint: c.name.clone(),
                                    template: template.name.clone(),
                                    action: c.action,
                                    object_index: index,
                                    object: label.clone(),
                                    message,
                                }))
                        }
                        Err(e) => out.problems.push(problem(e)),
                    }
                }
            }
        }
        out
    }

    /// The constraint of `kind` named `name`, evaluated against one review with `inventory`
    /// (gator's test case): the violation messages, or why it could not be evaluated.
    pub(crate) fn review(
        &self,
        constraint: &Constraint,
        review: &Review,
        inventory: &review::Inventory,
    ) -> Result<Vec<String>, String> {
        let template = self
            .templates
            .get(&constraint.kind)
            .ok_or_else(|| format!("no ConstraintTemplate defines kind {}", constraint.kind))?;
        let rego = match &template.code {
            Code::Rego(r) => r,
            Code::NotEvaluated(why) => {
                return Err(format!("template {} not evaluated: {why}", template.name))
            }
        };
        if !constraint.matches(review, inventory)? {
            return Ok(Vec::new());
        }
        let mut engine = rego.with_inventory(inventory)?;
        rego.violations(&mut engine, review, inventory, &constraint.parameters)
    }
}

/// `Deployment ns/name`, as `validate` names objects.
pub(crate) fn object_label(object: &Value) -> String {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let api_version = s(object.get("apiVersion"));
    let meta = object.get("metadata");
    let namespace = s(meta.and_then(|m| m.get("namespace")));
    ObjectRef {
        group: api_version
            .rsplit_once('/')
            .map(|(g, _)| g.to_string())
            .unwrap_or_default(),
        kind: s(object.get("kind")),
        namespace: (!namespace.is_empty()).then_some(namespace),
        name: s(meta.and_then(|m| m.get("name"))),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEMPLATE: &str = r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8srequiredlabels
spec:
  crd:
    spec:
      names:
        kind: K8sRequiredLabels
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8srequiredlabels
        violation[{"msg": msg}] {
          provided := {label | input.review.object.metadata.labels[label]}
          required := {label | label := input.parameters.labels[_]}
          missing := required - provided
          count(missing) > 0
          msg := sprintf("you must provide labels: %v", [missing])
        }
        violation[{"msg": "same"}] { input.parameters.twice }
        violation[{"msg": "same"}] { input.parameters.twice }
"#;

    fn set(extra: &str) -> (PolicySet, Vec<LoadProblem>) {
        let constraint = format!(
            "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sRequiredLabels\n\
             metadata:\n  name: need-owner\nspec:\n  parameters:\n    labels: [owner]\n{extra}"
        );
        PolicySet::load(&[
            ("policies/t.yaml".into(), TEMPLATE.to_string()),
            ("policies/c.yaml".into(), constraint),
        ])
    }

    fn pod(ns: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "p", "namespace": ns, "labels": labels}})
    }

    #[test]
    fn evaluates_a_constraint_against_objects() {
        let (set, problems) = set("");
        assert!(problems.is_empty(), "{problems:?}");
        let v = set.evaluate(&[pod("a", json!({"owner": "x"})), pod("b", json!({}))], &[]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].object_index, 1);
        assert_eq!(v[0].object, "Pod b/p");
        assert_eq!(v[0].template, "k8srequiredlabels");
        assert_eq!(v[0].action, EnforcementAction::Deny);
        assert!(v[0].message.contains("owner"), "{}", v[0].message);
    }

    #[test]
    fn identical_results_count_once() {
        let (set, _) = set("    twice: true\n");
        let v = set.evaluate(&[pod("a", json!({"owner": "x"}))], &[]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].message, "same");
    }

    #[test]
    fn a_broken_template_is_one_problem_and_the_rest_loads() {
        let broken = TEMPLATE
            .replace("k8srequiredlabels", "broken")
            .replace("K8sRequiredLabels", "Broken")
            .replace("count(missing) > 0", "count(missing) > > 0");
        let (set, problems) = PolicySet::load(&[
            ("t.yaml".into(), TEMPLATE.to_string()),
            ("broken.yaml".into(), broken),
        ]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].file, PathBuf::from("broken.yaml"));
        assert!(problems[0].message.contains("broken"), "{}", problems[0]);
        assert_eq!(set.templates.len(), 1);
    }

    #[test]
    fn namespace_selectors_read_the_namespaces_given() {
        let (set, _) =
            set("  match:\n    namespaceSelector:\n      matchLabels:\n        env: prod\n");
        let ns = |name: &str, env: &str| {
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": name, "labels": {"env": env, "owner": "o"}}})
        };
        let objects = [
            pod("a", json!({})),
            pod("b", json!({})),
            pod("c", json!({})),
        ];
        let e = set.evaluate_all(&objects, &[ns("a", "prod"), ns("b", "dev")]);
        // a is selected, b is not, c's Namespace is unknown: a problem, as in Gatekeeper.
        assert_eq!(e.violations.len(), 1, "{e:?}");
        assert_eq!(e.violations[0].object, "Pod a/p");
        assert_eq!(e.problems.len(), 1, "{e:?}");
        assert_eq!(e.problems[0].object, "Pod c/p");
        assert_eq!(e.problems[0].constraint, "need-owner");
        assert!(e.problems[0].message.contains("missing Namespace"));
    }

    #[test]
    fn external_data_is_named_as_not_supported() {
        let t = TEMPLATE.replace(
            "count(missing) > 0",
            "count(missing) > 0\n          external_data({\"provider\": \"p\", \"keys\": []})",
        );
        let (set, problems) = PolicySet::load(&[("t.yaml".into(), t)]);
        assert!(problems.is_empty(), "{problems:?}");
        let Some(Code::NotEvaluated(why)) = set.templates.values().next().map(|t| &t.code) else {
            panic!("evaluated");
        };
        assert!(why.contains("external_data"), "{why}");
    }

    #[test]
    fn the_policy_set_is_shareable() {
        fn is<T: Send + Sync>() {}
        is::<PolicySet>();
    }
}
