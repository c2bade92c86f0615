//! A constraint's `spec.match`, as Gatekeeper's `pkg/mutation/match` reads it: every part
//! that is set must match (kinds, scope, namespaces, excludedNamespaces, labelSelector,
//! namespaceSelector, name, source).

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Match {
    kinds: Vec<Kinds>,
    scope: Scope,
    namespaces: Vec<String>,
    excluded_namespaces: Vec<String>,
    label_selector: Option<LabelSelector>,
    namespace_selector: Option<LabelSelector>,
    name: String,
    /// `source: Generated` matches only objects an expansion generated: none here.
    generated_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Kinds {
    api_groups: Vec<String>,
    kinds: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
enum Scope {
    #[default]
    All,
    Cluster,
    Namespaced,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector {
    match_labels: BTreeMap<String, String>,
    match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

fn strings(v: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{what}: {s} is not a string"))
            })
            .collect(),
        Some(other) => Err(format!("{what}: {other} is not a list")),
    }
}

impl Match {
    pub fn parse(m: &Value) -> Result<Match, String> {
        let kinds = match m.get("kinds") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|k| {
                    Ok(Kinds {
                        api_groups: strings(k.get("apiGroups"), "kinds.apiGroups")?,
                        kinds: strings(k.get("kinds"), "kinds.kinds")?,
                    })
                })
                .collect::<Result<_, String>>()?,
            Some(other) => return Err(format!("kinds: {other} is not a list")),
        };
        let scope = match m.get("scope").and_then(Value::as_str) {
            Some("Cluster") => Scope::Cluster,
            Some("Namespaced") => Scope::Namespaced,
            // `*`, unset, and (as in Gatekeeper) anything else.
            _ => Scope::All,
        };
        let selector = |k: &str| match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(s) => LabelSelector::parse(s)
                .map(Some)
                .map_err(|e| format!("{k}: {e}")),
        };
        let source = m.get("source").and_then(Value::as_str).unwrap_or("All");
        if !matches!(source, "All" | "Original" | "Generated") {
            return Err(format!("invalid source field {source:?}"));
        }
        Ok(Match {
            kinds,
            scope,
            namespaces: strings(m.get("namespaces"), "namespaces")?,
            excluded_namespaces: strings(m.get("excludedNamespaces"), "excludedNamespaces")?,
            label_selector: selector("labelSelector")?,
            namespace_selector: selector("namespaceSelector")?,
            name: m
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            generated_only: source == "Generated",
        })
    }

    /// Whether `object` matches, `ns` being the Namespace object of its request, when known.
    /// An error where Gatekeeper errs: a namespaceSelector on a namespaced object whose
    /// Namespace is unknown.
    pub fn matches(&self, object: &Value, ns: Option<&Value>) -> Result<bool, String> {
        fn s(v: Option<&Value>) -> &str {
            v.and_then(Value::as_str).unwrap_or_default()
        }
        let api_version = s(object.get("apiVersion"));
        let group = crate::manifest::api_group(api_version);
        let kind = s(object.get("kind"));
        let meta = object.get("metadata");
        let name = s(meta.and_then(|m| m.get("name")));
        let obj_namespace = s(meta.and_then(|m| m.get("namespace")));
        let own_labels = labels(meta);
        let is_namespace = kind == "Namespace" && group.is_empty();
        let ns_name = ns
            .and_then(|n| n.pointer("/metadata/name"))
            .and_then(Value::as_str);

        // kinds
        if !self.kinds.is_empty()
            && !self.kinds.iter().any(|k| {
                let any = |list: &[String], v: &str| {
                    list.is_empty() || list.iter().any(|x| x == "*" || x == v)
                };
                any(&k.kinds, kind) && any(&k.api_groups, group)
            })
        {
            return Ok(false);
        }
        // scope
        let has_namespace = !obj_namespace.is_empty() || ns.is_some();
        let in_scope = match self.scope {
            Scope::All => true,
            Scope::Cluster => is_namespace || !has_namespace,
            Scope::Namespaced => !is_namespace && has_namespace,
        };
        if !in_scope {
            return Ok(false);
        }
        // namespaces, excludedNamespaces: the Namespace's own name, else the request's, else
        // the one the object declares; cluster-scoped objects are not disqualified.
        let namespace = if is_namespace {
            Some(name)
        } else if let Some(n) = ns_name {
            Some(n)
        } else if !obj_namespace.is_empty() {
            Some(obj_namespace)
        } else {
            None
        };
        if let Some(namespace) = namespace {
            if !self.namespaces.is_empty()
                && !self.namespaces.iter().any(|w| wildcard(w, namespace))
            {
                return Ok(false);
            }
            if self
                .excluded_namespaces
                .iter()
                .any(|w| wildcard(w, namespace))
            {
                return Ok(false);
            }
        }
        // labelSelector
        if let Some(sel) = &self.label_selector {
            if !sel.matches(&own_labels) {
                return Ok(false);
            }
        }
        // namespaceSelector
        if let Some(sel) = &self.namespace_selector {
            if is_namespace {
                if !sel.matches(&own_labels) {
                    return Ok(false);
                }
            } else if ns.is_none() && obj_namespace.is_empty() {
                // Cluster-scoped objects that are not Namespaces: matched.
            } else {
                let ns = ns.ok_or_else(|| {
                    format!(
                        "namespace selector for namespace-scoped object but missing Namespace \
                         {obj_namespace:?}"
                    )
                })?;
                if !sel.matches(&labels(ns.get("metadata"))) {
                    return Ok(false);
                }
            }
        }
        // name
        if !self.name.is_empty() {
            let generate_name = s(meta.and_then(|m| m.get("generateName")));
            if !wildcard(&self.name, name) && !generate_name_matches(&self.name, generate_name) {
                return Ok(false);
            }
        }
        Ok(!self.generated_only)
    }
}

fn labels(meta: Option<&Value>) -> BTreeMap<String, String> {
    meta.and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Gatekeeper's `Wildcard`: `*` at the front, the end or both globs; otherwise exact.
pub(crate) fn wildcard(pattern: &str, candidate: &str) -> bool {
    let (front, back) = (pattern.starts_with('*'), pattern.ends_with('*'));
    match (front, back) {
        (true, true) if pattern.len() >= 2 => candidate.contains(&pattern[1..pattern.len() - 1]),
        (true, true) => true, // "*"
        (true, false) => candidate.ends_with(&pattern[1..]),
        (false, true) => candidate.starts_with(&pattern[..pattern.len() - 1]),
        (false, false) => pattern == candidate,
    }
}

/// `Wildcard.MatchesGenerateName`: a prefix or infix glob against `metadata.generateName`.
fn generate_name_matches(pattern: &str, generate_name: &str) -> bool {
    if generate_name.is_empty() {
        return false;
    }
    let (front, back) = (pattern.starts_with('*'), pattern.ends_with('*'));
    match (front, back) {
        (true, true) => wildcard(pattern, generate_name),
        (false, true) => generate_name.starts_with(&pattern[..pattern.len() - 1]),
        _ => false,
    }
}

impl LabelSelector {
    fn parse(v: &Value) -> Result<LabelSelector, String> {
        let mut sel = LabelSelector::default();
        if let Some(ml) = v.get("matchLabels").filter(|m| !m.is_null()) {
            let ml = ml.as_object().ok_or("matchLabels is not a mapping")?;
            for (k, v) in ml {
                let v = v
                    .as_str()
                    .ok_or_else(|| format!("matchLabels.{k} is not a string"))?;
                sel.match_labels.insert(k.clone(), v.to_string());
            }
        }
        if let Some(me) = v.get("matchExpressions").filter(|m| !m.is_null()) {
            let me = me.as_array().ok_or("matchExpressions is not a list")?;
            for e in me {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or("matchExpressions: no key")?
                    .to_string();
                let op = match e.get("operator").and_then(Value::as_str) {
                    Some("In") => Op::In,
                    Some("NotIn") => Op::NotIn,
                    Some("Exists") => Op::Exists,
                    Some("DoesNotExist") => Op::DoesNotExist,
                    other => {
                        return Err(format!(
                            "matchExpressions {key}: {other:?} is not a valid label selector \
                             operator"
                        ))
                    }
                };
                let values = strings(e.get("values"), "matchExpressions.values")?;
                match op {
                    Op::In | Op::NotIn if values.is_empty() => {
                        return Err(format!(
                            "matchExpressions {key}: values must be non-empty for In and NotIn"
                        ))
                    }
                    Op::Exists | Op::DoesNotExist if !values.is_empty() => {
                        return Err(format!(
                            "matchExpressions {key}: values must be empty for Exists and \
                             DoesNotExist"
                        ))
                    }
                    _ => {}
                }
                sel.match_expressions.push(Requirement { key, op, values });
            }
        }
        Ok(sel)
    }

    /// Kubernetes label selector semantics; an empty selector matches everything.
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.op {
                    Op::In => value.is_some_and(|v| r.values.contains(v)),
                    Op::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    Op::Exists => value.is_some(),
                    Op::DoesNotExist => value.is_none(),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Value) -> Match {
        Match::parse(&v).unwrap()
    }

    fn obj(api_version: &str, kind: &str, ns: Option<&str>, labels: Value) -> Value {
        let mut meta = json!({"name": "x", "labels": labels});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        json!({"apiVersion": api_version, "kind": kind, "metadata": meta})
    }

    fn namespace(name: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": name, "labels": labels}})
    }

    fn pod(ns: &str) -> Value {
        obj("v1", "Pod", Some(ns), json!({}))
    }

    #[test]
    fn kinds_with_groups_and_wildcards() {
        let deploy = obj("apps/v1", "Deployment", Some("a"), json!({}));
        let k = |v: Value| m(json!({"kinds": v})).matches(&deploy, None).unwrap();
        assert!(k(json!([{"apiGroups": ["apps"], "kinds": ["Deployment"]}])));
        assert!(k(json!([{"apiGroups": ["*"], "kinds": ["Deployment"]}])));
        assert!(k(json!([{"apiGroups": ["apps"], "kinds": ["*"]}])));
        assert!(k(json!([{"kinds": ["Deployment"]}])));
        assert!(!k(json!([{"apiGroups": [""], "kinds": ["Deployment"]}])));
        assert!(!k(json!([{"apiGroups": ["apps"], "kinds": ["Pod"]}])));
        assert!(k(json!([
            {"apiGroups": [""], "kinds": ["Pod"]},
            {"apiGroups": ["apps"], "kinds": ["Deployment", "StatefulSet"]}
        ])));
        assert!(k(json!([])));
    }

    #[test]
    fn namespaces_and_excluded_namespaces_with_globs() {
        let ns = |v: Value, o: &Value| m(v).matches(o, None).unwrap();
        assert!(ns(json!({"namespaces": ["kube-*"]}), &pod("kube-system")));
        assert!(!ns(json!({"namespaces": ["kube-*"]}), &pod("default")));
        assert!(ns(json!({"namespaces": ["*-system"]}), &pod("kube-system")));
        assert!(ns(json!({"namespaces": ["*be-sy*"]}), &pod("kube-system")));
        assert!(ns(json!({"namespaces": ["default"]}), &pod("default")));
        assert!(!ns(json!({"namespaces": ["default"]}), &pod("default2")));
        assert!(!ns(
            json!({"excludedNamespaces": ["kube-*"]}),
            &pod("kube-public")
        ));
        assert!(ns(json!({"excludedNamespaces": ["kube-*"]}), &pod("apps")));
        // A Namespace is matched by its own name.
        let kube = namespace("kube-system", json!({}));
        assert!(!ns(json!({"excludedNamespaces": ["kube-system"]}), &kube));
        assert!(ns(json!({"namespaces": ["kube-system"]}), &kube));
        // Cluster-scoped objects are not disqualified by either.
        let cr = obj(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            None,
            json!({}),
        );
        assert!(ns(json!({"namespaces": ["default"]}), &cr));
        assert!(ns(json!({"excludedNamespaces": ["*"]}), &cr));
    }

    #[test]
    fn label_selector_expressions() {
        let o = obj(
            "v1",
            "Pod",
            Some("a"),
            json!({"app": "web", "tier": "front"}),
        );
        let sel = |v: Value| m(json!({"labelSelector": v})).matches(&o, None).unwrap();
        assert!(sel(json!({})));
        assert!(sel(json!({"matchLabels": {"app": "web"}})));
        assert!(!sel(json!({"matchLabels": {"app": "db"}})));
        let expr = |key: &str, op: &str, values: Value| {
            sel(json!({"matchExpressions": [{"key": key, "operator": op, "values": values}]}))
        };
        assert!(expr("app", "In", json!(["web", "api"])));
        assert!(!expr("app", "In", json!(["db"])));
        assert!(!expr("missing", "In", json!(["x"])));
        assert!(expr("app", "NotIn", json!(["db"])));
        assert!(!expr("app", "NotIn", json!(["web"])));
        assert!(expr("missing", "NotIn", json!(["web"])));
        assert!(expr("tier", "Exists", json!([])));
        assert!(!expr("missing", "Exists", json!([])));
        assert!(expr("missing", "DoesNotExist", json!([])));
        assert!(!expr("tier", "DoesNotExist", json!([])));
        // All parts must hold.
        assert!(!sel(json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}]})));
        // Invalid selectors are errors, as in Gatekeeper.
        assert!(Match::parse(&json!({"labelSelector": {"matchExpressions":
            [{"key": "a", "operator": "In", "values": []}]}}))
        .is_err());
        assert!(Match::parse(&json!({"labelSelector": {"matchExpressions":
            [{"key": "a", "operator": "Equals", "values": ["x"]}]}}))
        .is_err());
    }

    #[test]
    fn namespace_selector_reads_the_namespace_object() {
        let sel = m(json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}));
        let prod = namespace("a", json!({"env": "prod"}));
        let dev = namespace("a", json!({"env": "dev"}));
        assert!(sel.matches(&pod("a"), Some(&prod)).unwrap());
        assert!(!sel.matches(&pod("a"), Some(&dev)).unwrap());
        // A Namespace is selected by its own labels.
        assert!(sel.matches(&prod, None).unwrap());
        assert!(!sel.matches(&dev, None).unwrap());
        // Cluster-scoped objects match.
        let cr = obj(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            None,
            json!({}),
        );
        assert!(sel.matches(&cr, None).unwrap());
        // A namespaced object whose Namespace is unknown is an error, as in Gatekeeper.
        let e = sel.matches(&pod("a"), None).unwrap_err();
        assert!(e.contains("missing Namespace"), "{e}");
        let expr = m(json!({"namespaceSelector": {"matchExpressions":
            [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}}));
        assert!(!expr.matches(&pod("a"), Some(&prod)).unwrap());
        assert!(expr.matches(&pod("a"), Some(&dev)).unwrap());
    }

    #[test]
    fn scope() {
        let cr = obj(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            None,
            json!({}),
        );
        let ns = namespace("a", json!({}));
        let s = |scope: &str, o: &Value| m(json!({"scope": scope})).matches(o, None).unwrap();
        assert!(s("*", &pod("a")) && s("*", &cr) && s("*", &ns));
        assert!(s("Cluster", &cr) && s("Cluster", &ns) && !s("Cluster", &pod("a")));
        assert!(s("Namespaced", &pod("a")) && !s("Namespaced", &cr) && !s("Namespaced", &ns));
        // Typos match everything, as in Gatekeeper.
        assert!(s("cluster", &pod("a")));
    }

    #[test]
    fn name_with_globs() {
        let n = |pattern: &str, o: &Value| m(json!({"name": pattern})).matches(o, None).unwrap();
        let o = json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "web-1", "namespace": "a"}});
        assert!(n("web-1", &o) && n("web-*", &o) && n("*-1", &o) && n("*eb*", &o));
        assert!(!n("web", &o) && !n("db-*", &o));
        let g = json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"generateName": "web-", "namespace": "a"}});
        assert!(n("web-*", &g) && !n("*-", &g));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "anything"));
        assert!(wildcard("kube-*", "kube-system"));
        assert!(!wildcard("kube-*", "kub"));
        assert!(wildcard("*-system", "gatekeeper-system"));
        assert!(wildcard("*sys*", "kube-system"));
        assert!(wildcard("exact", "exact") && !wildcard("exact", "exactly"));
    }
}
