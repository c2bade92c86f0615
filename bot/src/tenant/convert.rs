//! Lossless conversions of objects on removed or deprecated built-in APIs to their
//! replacements. A conversion is offered only where the replacement means exactly what the
//! original meant; anything else is a [`Conversion::Manual`] that says why and what to do.
//! Whether the converted object passes the target minor's schema is the caller's check
//! (`validate::check_objects`): this module only rewrites.

use serde_json::{json, Map, Value};

use crate::apis;

/// What can be done about one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Conversion {
    /// The converted object, meaning the same as the original.
    Converted {
        /// `policy/v1 PodDisruptionBudget`.
        to: String,
        value: Value,
        /// More than `apiVersion` changed (fields renamed or moved).
        structural: bool,
    },
    /// No lossless conversion: what a person has to do.
    Manual(String),
}

/// Convert `value` (an object of `api_version` `kind`) to its replacement API.
pub fn convert(api_version: &str, kind: &str, value: &Value) -> Conversion {
    let result = match (api_version, kind) {
        ("policy/v1beta1", "PodDisruptionBudget") => pdb(value),
        ("autoscaling/v2beta2", "HorizontalPodAutoscaler") => {
            Ok(with_api_version(value, "autoscaling/v2"))
        }
        ("autoscaling/v2beta1", "HorizontalPodAutoscaler") => hpa_v2beta1(value),
        ("batch/v1beta1", "CronJob") => Ok(with_api_version(value, "batch/v1")),
        ("networking.k8s.io/v1beta1" | "extensions/v1beta1", "Ingress") => ingress(value),
        ("discovery.k8s.io/v1beta1", "EndpointSlice") => endpoint_slice(value),
        (
            "flowcontrol.apiserver.k8s.io/v1beta1"
            | "flowcontrol.apiserver.k8s.io/v1beta2"
            | "flowcontrol.apiserver.k8s.io/v1beta3",
            "FlowSchema",
        ) => Ok(with_api_version(value, FLOWCONTROL_V1)),
        (
            "flowcontrol.apiserver.k8s.io/v1beta1" | "flowcontrol.apiserver.k8s.io/v1beta2",
            "PriorityLevelConfiguration",
        ) => priority_level_old(value),
        ("flowcontrol.apiserver.k8s.io/v1beta3", "PriorityLevelConfiguration") => {
            priority_level_v1beta3(value)
        }
        _ => return Conversion::Manual(manual(api_version, kind)),
    };
    match result {
        Ok(converted) => {
            let to_gv = converted["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let structural = with_api_version(value, &to_gv) != converted;
            Conversion::Converted {
                to: format!("{to_gv} {kind}"),
                value: converted,
                structural,
            }
        }
        Err(why) => Conversion::Manual(why),
    }
}

const FLOWCONTROL_V1: &str = "flowcontrol.apiserver.k8s.io/v1";

/// What to do about an API this module cannot convert, from the API table.
pub fn manual(api_version: &str, kind: &str) -> String {
    match apis::lookup(api_version, kind) {
        Some(api) => {
            let when = match api.removed {
                Some(r) => format!("was removed in {r}"),
                None => "is going away".to_string(),
            };
            match api.replacement {
                Some(r) if r.contains("no replacement object") => {
                    let to = r
                        .split(" (")
                        .next()
                        .unwrap_or(r)
                        .trim_end_matches(')')
                        .trim();
                    format!("{kind} {when} with no replacement API; move to {to}")
                }
                Some(r) => format!(
                    "{api_version} {kind} {when}; rewrite it as {r} by hand (no lossless automatic conversion)"
                ),
                None => format!("{api_version} {kind} {when}; there is no replacement API"),
            }
        }
        None => format!(
            "{api_version} {kind} has no known replacement; rewrite it by hand for the target API"
        ),
    }
}

fn with_api_version(value: &Value, api_version: &str) -> Value {
    let mut v = value.clone();
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(api_version.into()));
    }
    v
}

/// `policy/v1beta1` → `policy/v1`. The one semantic change: an empty (or missing) selector
/// selects no pods in v1beta1 and every pod of the namespace in v1.
fn pdb(value: &Value) -> Result<Value, String> {
    let selector = &value["spec"]["selector"];
    let non_empty = |k: &str| match &selector[k] {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    };
    if !(non_empty("matchLabels") || non_empty("matchExpressions")) {
        return Err("spec.selector is empty: in policy/v1beta1 an empty selector selects no pods, in policy/v1 it selects every pod in the namespace; give it a selector (or delete it) and move it to policy/v1 by hand".into());
    }
    Ok(with_api_version(value, "policy/v1"))
}

/// `autoscaling/v2beta1` → `autoscaling/v2`: each metric's target fields become a
/// `MetricTarget`, metric names and selectors a `MetricIdentifier`.
fn hpa_v2beta1(value: &Value) -> Result<Value, String> {
    let mut v = with_api_version(value, "autoscaling/v2");
    if let Some(metrics) = v
        .get_mut("spec")
        .and_then(|s| s.get_mut("metrics"))
        .and_then(Value::as_array_mut)
    {
        for (i, metric) in metrics.iter_mut().enumerate() {
            convert_metric(metric).map_err(|e| format!("spec.metrics[{i}]: {e}"))?;
        }
    }
    if v.get("status").is_some_and(|s| !s.is_null()) {
        return Err(
            "has a status in the autoscaling/v2beta1 form; remove status and convert by hand"
                .into(),
        );
    }
    Ok(v)
}

fn convert_metric(metric: &mut Value) -> Result<(), String> {
    let ty = metric["type"].as_str().unwrap_or_default().to_string();
    let field = match ty.as_str() {
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        "Pods" => "pods",
        "Object" => "object",
        "External" => "external",
        other => return Err(format!("unknown metric type {other:?}")),
    };
    let Some(Value::Object(src)) = metric.get(field).cloned() else {
        return Err(format!("type {ty} without {field}"));
    };
    let mut src = src;
    let mut out = Map::new();
    let mut targets: Vec<Value> = Vec::new();
    let mut take = |src: &mut Map<String, Value>, from: &str, ty: &str, to: &str| {
        if let Some(x) = src.remove(from) {
            targets.push(json!({ "type": ty, to: x }));
        }
    };
    take(
        &mut src,
        "targetAverageUtilization",
        "Utilization",
        "averageUtilization",
    );
    take(
        &mut src,
        "targetAverageValue",
        "AverageValue",
        "averageValue",
    );
    take(&mut src, "targetValue", "Value", "value");
    if field == "object" {
        // Object metrics name the described object `target` and may average over pods.
        take(&mut src, "averageValue", "AverageValue", "averageValue");
        if let Some(described) = src.remove("target") {
            out.insert("describedObject".into(), described);
        }
    }
    if targets.len() != 1 {
        return Err(format!(
            "{field} has {} targets (targetAverageUtilization, targetAverageValue, targetValue); exactly one converts",
            targets.len()
        ));
    }
    match field {
        "resource" | "containerResource" => {
            for k in ["name", "container"] {
                if let Some(x) = src.remove(k) {
                    out.insert(k.into(), x);
                }
            }
        }
        _ => {
            let name = src
                .remove("metricName")
                .ok_or_else(|| format!("{field} has no metricName"))?;
            let mut id = Map::new();
            id.insert("name".into(), name);
            let selector = if field == "external" {
                src.remove("metricSelector")
            } else {
                src.remove("selector")
            };
            if let Some(s) = selector {
                id.insert("selector".into(), s);
            }
            out.insert("metric".into(), Value::Object(id));
        }
    }
    if let Some(k) = src.keys().next() {
        return Err(format!("{field}.{k} has no autoscaling/v2 equivalent"));
    }
    out.insert("target".into(), targets.remove(0));
    metric[field] = Value::Object(out);
    Ok(())
}

/// `networking.k8s.io/v1beta1` or `extensions/v1beta1` → `networking.k8s.io/v1`.
fn ingress(value: &Value) -> Result<Value, String> {
    let mut v = with_api_version(value, "networking.k8s.io/v1");
    let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(v);
    };
    if let Some(backend) = spec.get("backend") {
        if spec.contains_key("defaultBackend") {
            return Err("has both spec.backend and spec.defaultBackend".into());
        }
        let b = backend_v1(backend).map_err(|e| format!("spec.backend: {e}"))?;
        // Renamed in place, so the re-serialised document keeps its field order.
        *spec = std::mem::take(spec)
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "backend" => ("defaultBackend".to_string(), b.clone()),
                _ => (k, v),
            })
            .collect();
    }
    if let Some(rules) = spec.get_mut("rules").and_then(Value::as_array_mut) {
        for (r, rule) in rules.iter_mut().enumerate() {
            let Some(paths) = rule
                .get_mut("http")
                .and_then(|h| h.get_mut("paths"))
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for (p, path) in paths.iter_mut().enumerate() {
                let at = format!("spec.rules[{r}].http.paths[{p}]");
                let Some(m) = path.as_object_mut() else {
                    return Err(format!("{at} is not a mapping"));
                };
                let backend = m
                    .get("backend")
                    .ok_or_else(|| format!("{at} has no backend"))?;
                let b = backend_v1(backend).map_err(|e| format!("{at}.backend: {e}"))?;
                m.insert("backend".into(), b);
                if !m.contains_key("pathType") {
                    m.insert("pathType".into(), json!("ImplementationSpecific"));
                }
            }
        }
    }
    Ok(v)
}

/// `{serviceName, servicePort}` → `{service: {name, port: {number|name}}}`; `resource`
/// backends are the same in both.
fn backend_v1(b: &Value) -> Result<Value, String> {
    let Some(m) = b.as_object() else {
        return Err("not a mapping".into());
    };
    let mut m = m.clone();
    let name = m.shift_remove("serviceName");
    let port = m.shift_remove("servicePort");
    let mut out = Map::new();
    match (name, port) {
        (Some(Value::String(name)), Some(port)) => {
            if m.contains_key("resource") {
                return Err("has both a service and a resource".into());
            }
            let port = match port {
                Value::Number(n) if n.is_u64() => json!({ "number": n }),
                Value::String(s) => json!({ "name": s }),
                other => return Err(format!("servicePort {other} is not a number or a name")),
            };
            out.insert("service".into(), json!({ "name": name, "port": port }));
        }
        (None, None) => {}
        _ => return Err("needs both serviceName and servicePort".into()),
    }
    out.extend(m);
    Ok(Value::Object(out))
}

/// `discovery.k8s.io/v1beta1` → `v1`; `topology` has no exact v1 form (it splits into
/// nodeName, zone and deprecatedTopology).
fn endpoint_slice(value: &Value) -> Result<Value, String> {
    let topology = value["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e.get("topology").is_some());
    if topology {
        return Err("endpoints use topology, which discovery.k8s.io/v1 splits into nodeName, zone and deprecatedTopology; convert by hand".into());
    }
    Ok(with_api_version(value, "discovery.k8s.io/v1"))
}

/// v1beta1/v1beta2 → v1: `assuredConcurrencyShares` became `nominalConcurrencyShares`.
fn priority_level_old(value: &Value) -> Result<Value, String> {
    let mut v = with_api_version(value, FLOWCONTROL_V1);
    if let Some(limited) = v
        .get_mut("spec")
        .and_then(|s| s.get_mut("limited"))
        .and_then(Value::as_object_mut)
    {
        if let Some(shares) = limited.shift_remove("assuredConcurrencyShares") {
            if shares.as_u64() == Some(0) {
                return Err(zero_shares("assuredConcurrencyShares"));
            }
            limited.insert("nominalConcurrencyShares".into(), shares);
        }
    }
    Ok(v)
}

/// v1beta3 → v1: the same fields, but v1beta3 reads a zero `nominalConcurrencyShares` as the
/// default (30) where v1 reads it as zero.
fn priority_level_v1beta3(value: &Value) -> Result<Value, String> {
    if value["spec"]["limited"]["nominalConcurrencyShares"].as_u64() == Some(0) {
        return Err(zero_shares("nominalConcurrencyShares"));
    }
    Ok(with_api_version(value, FLOWCONTROL_V1))
}

fn zero_shares(field: &str) -> String {
    format!("spec.limited.{field} is 0, which the beta API treats as the default (30) and flowcontrol.apiserver.k8s.io/v1 as zero; set nominalConcurrencyShares by hand")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn yaml(s: &str) -> Value {
        crate::yaml::from_str(s).unwrap()
    }

    fn converted(c: Conversion) -> (String, Value, bool) {
        match c {
            Conversion::Converted {
                to,
                value,
                structural,
            } => (to, value, structural),
            Conversion::Manual(m) => panic!("manual: {m}"),
        }
    }

    fn manual_text(c: Conversion) -> String {
        match c {
            Conversion::Manual(m) => m,
            other => panic!("converted: {other:?}"),
        }
    }

    #[test]
    fn pdb_with_a_selector_only_changes_api_version() {
        let v = yaml("apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: a}\nspec:\n  minAvailable: 1\n  selector: {matchLabels: {app: a}}\n");
        let (to, out, structural) = converted(convert("policy/v1beta1", "PodDisruptionBudget", &v));
        assert_eq!(to, "policy/v1 PodDisruptionBudget");
        assert!(!structural);
        assert_eq!(out["apiVersion"], "policy/v1");
        assert_eq!(out["spec"], v["spec"]);
    }

    #[test]
    fn pdb_with_an_empty_or_missing_selector_is_manual() {
        for spec in [
            "spec: {minAvailable: 1, selector: {}}",
            "spec: {minAvailable: 1}",
            "spec: {minAvailable: 1, selector: {matchLabels: {}, matchExpressions: []}}",
        ] {
            let v = yaml(&format!(
                "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {{name: a}}\n{spec}\n"
            ));
            let m = manual_text(convert("policy/v1beta1", "PodDisruptionBudget", &v));
            assert!(m.contains("selects every pod"), "{m}");
        }
        let v = yaml("apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: a}\nspec:\n  selector: {matchExpressions: [{key: app, operator: Exists}]}\n");
        converted(convert("policy/v1beta1", "PodDisruptionBudget", &v));
    }

    #[test]
    fn hpa_v2beta2_and_cronjob_and_flowschema_change_only_api_version() {
        for (gv, kind, to) in [
            (
                "autoscaling/v2beta2",
                "HorizontalPodAutoscaler",
                "autoscaling/v2",
            ),
            ("batch/v1beta1", "CronJob", "batch/v1"),
            (
                "flowcontrol.apiserver.k8s.io/v1beta1",
                "FlowSchema",
                FLOWCONTROL_V1,
            ),
            (
                "flowcontrol.apiserver.k8s.io/v1beta2",
                "FlowSchema",
                FLOWCONTROL_V1,
            ),
            (
                "flowcontrol.apiserver.k8s.io/v1beta3",
                "FlowSchema",
                FLOWCONTROL_V1,
            ),
        ] {
            let v = yaml(&format!(
                "apiVersion: {gv}\nkind: {kind}\nmetadata: {{name: a}}\nspec: {{x: 1}}\n"
            ));
            let (t, out, structural) = converted(convert(gv, kind, &v));
            assert_eq!(t, format!("{to} {kind}"));
            assert!(!structural, "{gv} {kind}");
            assert_eq!(out, with_api_version(&v, to));
        }
    }

    #[test]
    fn hpa_v2beta1_metrics_become_targets_and_identifiers() {
        let v = yaml(
            r#"
apiVersion: autoscaling/v2beta1
kind: HorizontalPodAutoscaler
metadata: {name: a}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: a}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, targetAverageUtilization: 70}
  - type: Resource
    resource: {name: memory, targetAverageValue: 500Mi}
  - type: Pods
    pods: {metricName: rps, targetAverageValue: "10", selector: {matchLabels: {a: b}}}
  - type: Object
    object:
      target: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: main}
      metricName: requests
      targetValue: 2k
  - type: External
    external: {metricName: queue, metricSelector: {matchLabels: {q: x}}, targetAverageValue: "30"}
  - type: ContainerResource
    containerResource: {name: cpu, container: app, targetAverageUtilization: 60}
"#,
        );
        let (to, out, structural) = converted(convert(
            "autoscaling/v2beta1",
            "HorizontalPodAutoscaler",
            &v,
        ));
        assert_eq!(to, "autoscaling/v2 HorizontalPodAutoscaler");
        assert!(structural);
        let expected = yaml(
            r#"
- type: Resource
  resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
- type: Resource
  resource: {name: memory, target: {type: AverageValue, averageValue: 500Mi}}
- type: Pods
  pods: {metric: {name: rps, selector: {matchLabels: {a: b}}}, target: {type: AverageValue, averageValue: "10"}}
- type: Object
  object:
    describedObject: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: main}
    metric: {name: requests}
    target: {type: Value, value: 2k}
- type: External
  external: {metric: {name: queue, selector: {matchLabels: {q: x}}}, target: {type: AverageValue, averageValue: "30"}}
- type: ContainerResource
  containerResource: {name: cpu, container: app, target: {type: Utilization, averageUtilization: 60}}
"#,
        );
        assert_eq!(out["spec"]["metrics"], expected);
        assert_eq!(out["spec"]["scaleTargetRef"], v["spec"]["scaleTargetRef"]);
    }

    #[test]
    fn hpa_v2beta1_with_two_targets_or_unknown_fields_is_manual() {
        let two = yaml("apiVersion: autoscaling/v2beta1\nkind: HorizontalPodAutoscaler\nmetadata: {name: a}\nspec:\n  metrics:\n  - type: Resource\n    resource: {name: cpu, targetAverageUtilization: 70, targetAverageValue: 1}\n");
        let m = manual_text(convert(
            "autoscaling/v2beta1",
            "HorizontalPodAutoscaler",
            &two,
        ));
        assert!(m.contains("2 targets"), "{m}");
        let odd = yaml("apiVersion: autoscaling/v2beta1\nkind: HorizontalPodAutoscaler\nmetadata: {name: a}\nspec:\n  metrics:\n  - type: Pods\n    pods: {metricName: x, targetAverageValue: 1, weird: 2}\n");
        let m = manual_text(convert(
            "autoscaling/v2beta1",
            "HorizontalPodAutoscaler",
            &odd,
        ));
        assert!(m.contains("pods.weird"), "{m}");
    }

    #[test]
    fn ingress_backends_and_path_types_are_converted() {
        for gv in ["extensions/v1beta1", "networking.k8s.io/v1beta1"] {
            let v = yaml(&format!(
                r#"
apiVersion: {gv}
kind: Ingress
metadata: {{name: web}}
spec:
  backend: {{serviceName: fallback, servicePort: 8080}}
  rules:
  - host: a.example
    http:
      paths:
      - path: /
        backend: {{serviceName: web, servicePort: http}}
      - path: /api
        pathType: Prefix
        backend: {{serviceName: api, servicePort: 80}}
"#
            ));
            let (to, out, structural) = converted(convert(gv, "Ingress", &v));
            assert_eq!(to, "networking.k8s.io/v1 Ingress");
            assert!(structural);
            let expected = yaml(
                r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  defaultBackend: {service: {name: fallback, port: {number: 8080}}}
  rules:
  - host: a.example
    http:
      paths:
      - path: /
        backend: {service: {name: web, port: {name: http}}}
        pathType: ImplementationSpecific
      - path: /api
        pathType: Prefix
        backend: {service: {name: api, port: {number: 80}}}
"#,
            );
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn ingress_with_half_a_backend_is_manual() {
        let v = yaml("apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: a}\nspec:\n  backend: {serviceName: x}\n");
        let m = manual_text(convert("extensions/v1beta1", "Ingress", &v));
        assert!(m.contains("spec.backend"), "{m}");
    }

    #[test]
    fn endpoint_slice_converts_only_without_topology() {
        let plain = yaml("apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: a}\naddressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n");
        let (_, out, structural) =
            converted(convert("discovery.k8s.io/v1beta1", "EndpointSlice", &plain));
        assert!(!structural);
        assert_eq!(out["apiVersion"], "discovery.k8s.io/v1");
        let topo = yaml("apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: a}\naddressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n  topology: {kubernetes.io/hostname: n1}\n");
        let m = manual_text(convert("discovery.k8s.io/v1beta1", "EndpointSlice", &topo));
        assert!(m.contains("topology"), "{m}");
    }

    #[test]
    fn priority_levels_rename_shares_and_refuse_zero() {
        let old = yaml("apiVersion: flowcontrol.apiserver.k8s.io/v1beta2\nkind: PriorityLevelConfiguration\nmetadata: {name: a}\nspec:\n  type: Limited\n  limited:\n    assuredConcurrencyShares: 5\n    limitResponse: {type: Reject}\n");
        let (to, out, structural) = converted(convert(
            "flowcontrol.apiserver.k8s.io/v1beta2",
            "PriorityLevelConfiguration",
            &old,
        ));
        assert_eq!(
            to,
            "flowcontrol.apiserver.k8s.io/v1 PriorityLevelConfiguration"
        );
        assert!(structural);
        assert_eq!(
            out["spec"]["limited"],
            json!({"nominalConcurrencyShares": 5, "limitResponse": {"type": "Reject"}})
        );
        let zero = yaml("apiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: PriorityLevelConfiguration\nmetadata: {name: a}\nspec:\n  type: Limited\n  limited: {nominalConcurrencyShares: 0}\n");
        let m = manual_text(convert(
            "flowcontrol.apiserver.k8s.io/v1beta3",
            "PriorityLevelConfiguration",
            &zero,
        ));
        assert!(m.contains("is 0"), "{m}");
        let five = yaml("apiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: PriorityLevelConfiguration\nmetadata: {name: a}\nspec:\n  type: Limited\n  limited: {nominalConcurrencyShares: 5}\n");
        let (_, _, structural) = converted(convert(
            "flowcontrol.apiserver.k8s.io/v1beta3",
            "PriorityLevelConfiguration",
            &five,
        ));
        assert!(!structural);
    }

    #[test]
    fn other_removed_apis_are_manual_with_the_replacement() {
        let psp =
            yaml("apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: a}\n");
        assert_eq!(
            manual_text(convert("policy/v1beta1", "PodSecurityPolicy", &psp)),
            "PodSecurityPolicy was removed in 1.25 with no replacement API; move to Pod Security Admission"
        );
        let role = yaml(
            "apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: Role\nmetadata: {name: a}\n",
        );
        let m = manual_text(convert("rbac.authorization.k8s.io/v1beta1", "Role", &role));
        assert!(
            m.contains("removed in 1.22") && m.contains("rbac.authorization.k8s.io/v1 Role"),
            "{m}"
        );
    }
}
