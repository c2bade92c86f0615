//! A fake Kubernetes API server over HTTP, for the e2e install logic without a cluster: the
//! discovery documents, server-side apply, GET of objects, and the lists and logs diagnostics
//! read, all in the JSON shapes the real API server returns.
//!
//! It behaves like a healthy cluster unless told otherwise: applied workloads read back
//! rolled out, CRDs Established, Jobs Complete, APIServices Available. A test scripts the
//! statuses an object reports on successive reads (a rollout in progress, then done; a CRD
//! that stays Installing), and adds events, pods and logs for diagnostics. A custom resource's
//! API is only discovered once its CRD has been read back Established, as on a real server.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A resource type the fake serves.
#[derive(Debug, Clone)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

/// The built-in resources the fake knows (enough for the real charts this project renders).
const BUILTIN: &[(&str, &str, &str, &str, bool)] = &[
    ("", "v1", "Namespace", "namespaces", false),
    ("", "v1", "ConfigMap", "configmaps", true),
    ("", "v1", "Secret", "secrets", true),
    ("", "v1", "Service", "services", true),
    ("", "v1", "ServiceAccount", "serviceaccounts", true),
    ("", "v1", "Pod", "pods", true),
    ("", "v1", "Event", "events", true),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
    ),
    ("apps", "v1", "Deployment", "deployments", true),
    ("apps", "v1", "StatefulSet", "statefulsets", true),
    ("apps", "v1", "DaemonSet", "daemonsets", true),
    ("batch", "v1", "Job", "jobs", true),
    ("batch", "v1", "CronJob", "cronjobs", true),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
    ),
    (
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        false,
    ),
    (
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        false,
    ),
    (
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        false,
    ),
];

/// The fake cluster's state.
#[derive(Debug, Default)]
pub struct FakeKube {
    resources: Vec<Resource>,
    /// (group, plural, namespace, name) → object.
    pub objects: BTreeMap<(String, String, String, String), Value>,
    /// `Kind namespace/name` (or `Kind name`) in the order they were applied.
    pub applied: Vec<String>,
    /// Statuses to report on successive reads of an object, by `Kind namespace/name`; the
    /// last one sticks.
    scripts: BTreeMap<String, VecDeque<Value>>,
    /// CRDs read back Established: their kinds are discoverable.
    established: Vec<String>,
    pub events: BTreeMap<String, Vec<Value>>,
    pub pods: BTreeMap<String, Vec<Value>>,
    /// (namespace, pod, container) → log text.
    pub logs: BTreeMap<(String, String, String), String>,
    /// Requests the fake could not answer (a test fails on them at `finish`).
    pub violations: Vec<String>,
}

impl FakeKube {
    pub fn new() -> FakeKube {
        FakeKube {
            resources: BUILTIN
                .iter()
                .map(|(g, v, k, p, n)| Resource {
                    group: g.to_string(),
                    version: v.to_string(),
                    kind: k.to_string(),
                    plural: p.to_string(),
                    namespaced: *n,
                })
                .collect(),
            ..FakeKube::default()
        }
    }

    /// `object` (`Kind namespace/name`) reports these statuses on its next reads.
    pub fn script(&mut self, object: &str, statuses: Vec<Value>) {
        self.scripts.insert(object.to_string(), statuses.into());
    }

    pub fn add_event(&mut self, namespace: &str, event: Value) {
        self.events.entry(namespace.into()).or_default().push(event);
    }

    pub fn add_pod(&mut self, namespace: &str, pod: Value) {
        self.pods.entry(namespace.into()).or_default().push(pod);
    }

    pub fn add_log(&mut self, namespace: &str, pod: &str, container: &str, text: &str) {
        self.logs.insert(
            (namespace.into(), pod.into(), container.into()),
            text.into(),
        );
    }

    fn resource_by_plural(&self, group: &str, plural: &str) -> Option<Resource> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.plural == plural)
            .cloned()
    }
}

/// A running fake.
pub struct FakeKubeServer {
    server: MockServer,
    state: Arc<Mutex<FakeKube>>,
}

impl FakeKubeServer {
    pub async fn start(state: FakeKube) -> FakeKubeServer {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(state));
        Mock::given(wiremock::matchers::any())
            .respond_with(Api {
                state: state.clone(),
            })
            .mount(&server)
            .await;
        FakeKubeServer { server, state }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn state(&self) -> MutexGuard<'_, FakeKube> {
        self.state.lock().expect("lock")
    }

    /// End the test: fail on requests the fake could not answer.
    pub fn finish(self) -> Vec<String> {
        let s = self.state.lock().expect("lock");
        assert!(
            s.violations.is_empty(),
            "the fake Kubernetes API saw requests it does not serve:\n{}",
            s.violations.join("\n")
        );
        s.applied.clone()
    }
}

struct Api {
    state: Arc<Mutex<FakeKube>>,
}

fn status_404(what: &str) -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("{what} not found"), "reason": "NotFound", "code": 404
    }))
}

impl Respond for Api {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.state.lock().expect("lock");
        let path = req.url.path().to_string();
        let method = req.method.as_str().to_string();
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        // Discovery.
        let gv = match segs.as_slice() {
            ["api", "v1"] => Some(("", "v1")),
            ["apis", g, v] => Some((*g, *v)),
            _ => None,
        };
        if let (Some((g, v)), "GET") = (gv, method.as_str()) {
            let resources: Vec<Value> = s
                .resources
                .iter()
                .filter(|r| r.group == g && r.version == v)
                .filter(|r| {
                    BUILTIN.iter().any(|b| b.0 == r.group && b.2 == r.kind)
                        || s.established.contains(&r.kind)
                })
                .map(|r| {
                    json!({"name": r.plural, "singularName": r.kind.to_lowercase(),
                        "namespaced": r.namespaced, "kind": r.kind,
                        "verbs": ["create","delete","get","list","patch","update","watch"]})
                })
                .collect();
            if resources.is_empty() {
                return status_404(&format!(
                    "the server could not find the requested resource {path}"
                ));
            }
            let group_version = if g.is_empty() {
                v.to_string()
            } else {
                format!("{g}/{v}")
            };
            return ResponseTemplate::new(200).set_body_json(json!({
                "kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": group_version, "resources": resources
            }));
        }
        // Object paths: /api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]] and /apis/G/V/...
        let (group, rest) = match segs.as_slice() {
            ["api", "v1", rest @ ..] => ("", rest),
            ["apis", g, _v, rest @ ..] => (*g, rest),
            _ => {
                s.violations.push(format!("{method} {path}"));
                return ResponseTemplate::new(404);
            }
        };
        let (ns, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (ns.to_string(), rest),
            _ => (String::new(), rest),
        };
        let Some(resource) = rest.first().and_then(|p| s.resource_by_plural(group, p)) else {
            s.violations
                .push(format!("{method} {path}: unknown resource"));
            return status_404(&path);
        };
        let name = rest.get(1).map(|n| n.to_string());
        let sub = rest.get(2).copied();
        let label = |name: &str| {
            if ns.is_empty() {
                format!("{} {name}", resource.kind)
            } else {
                format!("{} {ns}/{name}", resource.kind)
            }
        };
        match (method.as_str(), name, sub) {
            ("PATCH", Some(name), None) => {
                let ct = req
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let force = req
                    .url
                    .query_pairs()
                    .any(|(k, v)| k == "force" && v == "true");
                let manager = req
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "fieldManager")
                    .map(|(_, v)| v.to_string());
                if ct != "application/apply-patch+yaml" || manager.is_none() || !force {
                    s.violations.push(format!(
                        "{path}: not a forced server-side apply with a field manager (content-type {ct:?})"
                    ));
                }
                let mut obj: Value = match serde_json::from_slice(&req.body) {
                    Ok(v) => v,
                    Err(e) => {
                        s.violations.push(format!("{path}: body is not JSON: {e}"));
                        return ResponseTemplate::new(400);
                    }
                };
                if obj["metadata"]["name"] != name.as_str() {
                    s.violations
                        .push(format!("{path}: metadata.name differs from the URL"));
                }
                obj["metadata"]["generation"] = json!(1);
                obj["metadata"]["uid"] = json!(format!("uid-{}", s.applied.len()));
                let key = (
                    group.to_string(),
                    resource.plural.clone(),
                    ns.clone(),
                    name.clone(),
                );
                s.applied.push(label(&name));
                if resource.kind == "CustomResourceDefinition" {
                    let spec = &obj["spec"];
                    for v in spec["versions"].as_array().into_iter().flatten() {
                        s.resources.push(Resource {
                            group: spec["group"].as_str().unwrap_or_default().into(),
                            version: v["name"].as_str().unwrap_or_default().into(),
                            kind: spec["names"]["kind"].as_str().unwrap_or_default().into(),
                            plural: spec["names"]["plural"].as_str().unwrap_or_default().into(),
                            namespaced: spec["scope"] != "Cluster",
                        });
                    }
                }
                s.objects.insert(key, obj.clone());
                ResponseTemplate::new(200).set_body_json(obj)
            }
            ("GET", Some(name), None) => {
                let key = (
                    group.to_string(),
                    resource.plural.clone(),
                    ns.clone(),
                    name.clone(),
                );
                let Some(mut obj) = s.objects.get(&key).cloned() else {
                    return status_404(&label(&name));
                };
                let l = label(&name);
                let status = match s.scripts.get_mut(&l) {
                    Some(q) if q.len() > 1 => q.pop_front(),
                    Some(q) => q.front().cloned(),
                    None => healthy_status(&resource.kind, &obj),
                };
                if let Some(st) = status {
                    obj["status"] = st;
                }
                if resource.kind == "CustomResourceDefinition" {
                    let established = obj["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Established" && c["status"] == "True")
                    });
                    let kind = obj["spec"]["names"]["kind"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    if established && !s.established.contains(&kind) {
                        s.established.push(kind);
                    }
                }
                ResponseTemplate::new(200).set_body_json(obj)
            }
            ("GET", None, None) => {
                let items = match resource.kind.as_str() {
                    "Event" => s.events.get(&ns).cloned().unwrap_or_default(),
                    "Pod" => s.pods.get(&ns).cloned().unwrap_or_default(),
                    _ => Vec::new(),
                };
                ResponseTemplate::new(200).set_body_json(json!({
                    "kind": format!("{}List", resource.kind), "apiVersion": "v1",
                    "metadata": {"resourceVersion": "1"}, "items": items
                }))
            }
            ("GET", Some(pod), Some("log")) => {
                let container = req
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "container")
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default();
                match s.logs.get(&(ns.clone(), pod.clone(), container)) {
                    Some(t) => ResponseTemplate::new(200).set_body_string(t.clone()),
                    None => status_404("log"),
                }
            }
            _ => {
                s.violations.push(format!("{method} {path}: not modelled"));
                ResponseTemplate::new(405)
            }
        }
    }
}

/// What a healthy cluster reports once an object has settled.
fn healthy_status(kind: &str, obj: &Value) -> Option<Value> {
    let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let cond = |t: &str| json!({"conditions": [{"type": t, "status": "True", "reason": "Ok", "message": ""}]});
    Some(match kind {
        "Deployment" => json!({"observedGeneration": 1, "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}),
        "StatefulSet" => json!({"observedGeneration": 1, "replicas": replicas,
            "readyReplicas": replicas, "currentRevision": "r1", "updateRevision": "r1"}),
        "DaemonSet" => json!({"observedGeneration": 1, "desiredNumberScheduled": 1,
            "updatedNumberScheduled": 1, "numberReady": 1, "numberAvailable": 1}),
        "Job" => json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
        "CustomResourceDefinition" => cond("Established"),
        "APIService" => cond("Available"),
        _ => return None,
    })
}
