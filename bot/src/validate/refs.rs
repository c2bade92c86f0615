//! References a workload cannot start without: non-optional Secrets and ConfigMaps (env,
//! envFrom, volumes, projected volumes). One is present when a bundle renders it, an e2e
//! fixture provides it (`e2e/<addon>/fixtures.yaml`: what the platform puts beside the addon),
//! a cert-manager `Certificate` names it as `secretName`, or a Helm hook Job creates it at
//! install time: its ServiceAccount is bound to a role that may create that kind in the
//! namespace, and the Job's command, args or env, or the role's `resourceNames`, name it
//! (certgen's `--secret-name=kps-admission`, Argo CD's `argocd-redis`). Anything else leaves
//! the Pods in `CreateContainerConfigError` on a real cluster.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::manifest::Object;

/// What exists, or will, once the bundles are installed.
#[derive(Debug, Default)]
pub struct Provided {
    /// (kind, namespace, name) of Secrets and ConfigMaps.
    present: BTreeSet<(String, String, String)>,
    /// (kind, namespace, name) a hook Job creates.
    creatable: BTreeSet<(String, String, String)>,
}

impl Provided {
    /// Everything rendered or provided, each object with the namespace it lands in.
    pub fn collect<'a>(objects: impl Iterator<Item = (&'a Object, Option<String>)>) -> Provided {
        let objects: Vec<(&Object, Option<String>)> = objects.collect();
        let mut p = Provided::default();
        for (o, ns) in &objects {
            let Some(ns) = ns else { continue };
            match (o.key.group.as_str(), o.key.kind.as_str()) {
                ("", "Secret" | "ConfigMap") => {
                    p.present
                        .insert((o.key.kind.clone(), ns.clone(), o.key.name.clone()));
                }
                ("cert-manager.io", "Certificate") => {
                    if let Some(s) = o.value.pointer("/spec/secretName").and_then(Value::as_str) {
                        p.present
                            .insert(("Secret".into(), ns.clone(), s.to_string()));
                    }
                }
                _ => {}
            }
        }
        // Hook Jobs whose ServiceAccount may create Secrets or ConfigMaps in their namespace.
        for (o, ns) in &objects {
            let Some(ns) = ns else { continue };
            let hook = o
                .value
                .pointer("/metadata/annotations/helm.sh~1hook")
                .and_then(Value::as_str)
                .is_some_and(|h| h.contains("install"));
            if o.key.kind != "Job" || !hook {
                continue;
            }
            let sa = o
                .value
                .pointer("/spec/template/spec/serviceAccountName")
                .and_then(Value::as_str)
                .unwrap_or("default");
            for kind in ["Secret", "ConfigMap"] {
                if let Some(mut names) = may_create(&objects, ns, sa, kind) {
                    names.extend(words(
                        o.value
                            .pointer("/spec/template/spec")
                            .unwrap_or(&Value::Null),
                    ));
                    for n in names {
                        p.creatable.insert((kind.to_string(), ns.clone(), n));
                    }
                }
            }
        }
        p
    }

    /// The Secrets and ConfigMaps `o` (a workload in `ns`) needs and nothing provides, as
    /// (kind, name).
    pub fn missing(&self, o: &Object, ns: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = needed(o)
            .into_iter()
            .filter(|(kind, name)| {
                !self
                    .present
                    .contains(&(kind.clone(), ns.to_string(), name.clone()))
                    && !self
                        .creatable
                        .contains(&(kind.clone(), ns.to_string(), name.clone()))
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// The words of a Job's containers' command, args and env values (`--secret-name=x,y` gives
/// `x` and `y` among others): the names it may create.
fn words(pod: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for c in pod
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let strings = ["command", "args"]
            .iter()
            .filter_map(|k| c.get(*k).and_then(Value::as_array))
            .flatten()
            .chain(
                c.get("env")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.get("value")),
            )
            .filter_map(Value::as_str);
        for s in strings {
            out.extend(
                s.split(|ch: char| ch == '=' || ch == ',' || ch.is_whitespace())
                    .filter(|w| !w.is_empty())
                    .map(str::to_string),
            );
        }
    }
    out
}

/// When ServiceAccount `sa` in `ns` is bound to a role that may create `kind` in `ns`: the
/// `resourceNames` its roles name for that kind (perhaps none).
fn may_create(
    objects: &[(&Object, Option<String>)],
    ns: &str,
    sa: &str,
    kind: &str,
) -> Option<BTreeSet<String>> {
    let resource = format!("{}s", kind.to_lowercase());
    let binds_sa = |b: &Object| {
        b.value
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|s| {
                s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                    && s.get("name").and_then(Value::as_str) == Some(sa)
                    && s.get("namespace").and_then(Value::as_str).unwrap_or(ns) == ns
            })
    };
    let grants = |role: &Object| {
        role.value
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|r| {
                let has = |k: &str, v: &str| {
                    r.get(k)
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.iter().any(|x| x == v || x == "*"))
                };
                has("resources", &resource) && has("verbs", "create")
            })
    };
    let roles: Vec<&Object> = objects
        .iter()
        .filter(|(b, b_ns)| {
            let local = b.key.kind == "RoleBinding" && b_ns.as_deref() == Some(ns);
            (local || b.key.kind == "ClusterRoleBinding") && binds_sa(b)
        })
        .flat_map(|(b, _)| {
            let role_kind = b.value.pointer("/roleRef/kind").and_then(Value::as_str);
            let role_name = b.value.pointer("/roleRef/name").and_then(Value::as_str);
            objects.iter().filter_map(move |(r, r_ns)| {
                (Some(r.key.kind.as_str()) == role_kind
                    && Some(r.key.name.as_str()) == role_name
                    && (r.key.kind == "ClusterRole" || r_ns.as_deref() == Some(ns)))
                .then_some(*r)
            })
        })
        .collect();
    if !roles.iter().any(|r| grants(r)) {
        return None;
    }
    Some(
        roles
            .iter()
            .filter_map(|r| r.value.get("rules").and_then(Value::as_array))
            .flatten()
            .filter(|r| {
                r.get("resources")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|x| x == resource.as_str()))
            })
            .filter_map(|r| r.get("resourceNames").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
    )
}

/// The pod spec of a workload, if `o` is one.
fn pod_spec(o: &Object) -> Option<&Value> {
    let v = &o.value;
    match o.key.kind.as_str() {
        "Pod" => v.get("spec"),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            v.pointer("/spec/template/spec")
        }
        "CronJob" => v.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// The non-optional Secrets and ConfigMaps a workload's pods reference, as (kind, name).
fn needed(o: &Object) -> Vec<(String, String)> {
    let Some(spec) = pod_spec(o) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let optional = |r: &Value| r.get("optional").and_then(Value::as_bool) == Some(true);
    let mut push = |kind: &str, r: &Value, name_key: &str| {
        if let Some(name) = r.get(name_key).and_then(Value::as_str) {
            if !optional(r) {
                out.push((kind.to_string(), name.to_string()));
            }
        }
    };
    let list = |v: &Value, k: &str| -> Vec<Value> {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let containers = [
        list(spec, "containers"),
        list(spec, "initContainers"),
        list(spec, "ephemeralContainers"),
    ]
    .concat();
    for c in &containers {
        for e in list(c, "env") {
            if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
                push("Secret", r, "name");
            }
            if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
                push("ConfigMap", r, "name");
            }
        }
        for e in list(c, "envFrom") {
            if let Some(r) = e.get("secretRef") {
                push("Secret", r, "name");
            }
            if let Some(r) = e.get("configMapRef") {
                push("ConfigMap", r, "name");
            }
        }
    }
    for v in list(spec, "volumes") {
        if let Some(r) = v.get("secret") {
            push("Secret", r, "secretName");
        }
        if let Some(r) = v.get("configMap") {
            push("ConfigMap", r, "name");
        }
        for s in v
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = s.get("secret") {
                push("Secret", r, "name");
            }
            if let Some(r) = s.get("configMap") {
                push("ConfigMap", r, "name");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifests;

    /// The Deployment of `yaml`, and what `yaml` provides.
    fn provided(yaml: &str) -> (Object, Provided) {
        let m = Manifests::parse(yaml).expect("parses");
        let p = Provided::collect(m.objects().iter().map(|o| (o, Some("ns".to_string()))));
        let d = m
            .objects()
            .iter()
            .find(|o| o.key.kind == "Deployment")
            .expect("a Deployment")
            .clone();
        (d, p)
    }

    const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: ns}
spec:
  template:
    spec:
      containers:
        - name: c
          env:
            - name: A
              valueFrom: {secretKeyRef: {name: admin, key: password}}
            - name: B
              valueFrom: {secretKeyRef: {name: maybe, key: k, optional: true}}
          envFrom: [{configMapRef: {name: settings}}]
      volumes:
        - name: tls
          secret: {secretName: tls}
";

    #[test]
    fn a_workload_needs_its_non_optional_secrets_and_config_maps() {
        let (d, p) = provided(DEPLOYMENT);
        let missing = p.missing(&d, "ns");
        assert_eq!(
            missing,
            vec![
                ("ConfigMap".to_string(), "settings".to_string()),
                ("Secret".to_string(), "admin".to_string()),
                ("Secret".to_string(), "tls".to_string()),
            ]
        );
    }

    #[test]
    fn rendered_objects_certificates_and_hook_jobs_that_may_create_secrets_provide_them() {
        let yaml = format!(
            "{DEPLOYMENT}---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: ns}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {{name: tls, namespace: ns}}
spec: {{secretName: tls}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: init
  namespace: ns
  annotations: {{helm.sh/hook: pre-install}}
spec:
  template:
    spec:
      serviceAccountName: init
      containers: [{{name: c, image: x, args: [create, --secret-name=admin]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: init, namespace: ns}}
rules: [{{apiGroups: [''], resources: [secrets], verbs: [get, create]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: init, namespace: ns}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: init}}
subjects: [{{kind: ServiceAccount, name: init, namespace: ns}}]
"
        );
        let (d, p) = provided(&yaml);
        assert_eq!(p.missing(&d, "ns"), vec![]);
        // A hook Job that may create Secrets provides only the ones it names.
        let unnamed = yaml.replace("--secret-name=admin", "--secret-name=other");
        let (d, p) = provided(&unnamed);
        assert_eq!(
            p.missing(&d, "ns"),
            vec![("Secret".to_string(), "admin".to_string())]
        );
        // In another namespace nothing provides them.
        assert_eq!(p.missing(&d, "other").len(), 3);
    }
}
