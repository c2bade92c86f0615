//! A fake Kubernetes API server over HTTP, for the e2e install logic without a cluster: the
//! discovery documents, server-side apply, GET of objects, and the lists and logs diagnostics
//! read, all in the JSON shapes the real API server returns.
//!
//! It behaves like a healthy cluster unless told otherwise: applied workloads read back
//! rolled out, CRDs Established, Jobs Complete, APIServices Available. A test scripts the
//! statuses an object reports on successive reads (a rollout in progress, then done; a CRD
//! that stays Installing), and adds events, pods and logs for diagnostics. A custom resource's
//! API is only discovered once its CRD has been read back Established, as on a real server.
//!
//! Where real clusters punish a wrong install order, so does the fake (deterministically):
//! - **TTL**: a complete Job with `ttlSecondsAfterFinished` is deleted once it has been read
//!   back complete [`FakeKube::job_ttl_reads`] times (0: before anyone saw it); its
//!   `Completed` event stays.
//! - **References**: a Deployment, StatefulSet, DaemonSet or Job whose pod template needs a
//!   Secret or ConfigMap that does not exist (non-optional `secretKeyRef`/`configMapKeyRef`,
//!   `envFrom`, `secret`/`configMap`/projected volumes) stays pending, with a Warning event
//!   naming it, until it exists.
//! - **Jobs run when applied**, and fail (BackoffLimitExceeded) when their ServiceAccount does
//!   not exist yet; kube-webhook-certgen's `patch --webhook-name=N` fails unless webhook
//!   configuration N exists (and then fills its caBundle), its `create --secret-name=S
//!   --namespace=NS` creates Secret S; cert-manager's `check api` (startupapicheck) fails
//!   until every cainjector-managed webhook configuration has its caBundle.
//! - **Webhooks**: cainjector fills the caBundle of configurations annotated
//!   `cert-manager.io/inject-ca-from*` on their second read; until a webhook with
//!   `failurePolicy: Fail` has a caBundle, applies in its API groups fail as on a real server
//!   ("failed calling webhook").
//!
//! For `scan` (read-only): `/version`, the root discovery documents (`/api`, `/apis`), lists
//! across all namespaces with `limit`/`continue` paging, objects seeded in their stored shape
//! ([`FakeKube::seed`]: managedFields, `resourceVersion`), Helm release secrets as Helm 3 writes
//! them ([`helm_release_secret`]), and 403s for the resource types a test forbids. A cluster
//! of an older minor ([`FakeKube::at_minor`]) also serves the APIs that minor still served
//! (1.24: `policy/v1beta1`, `batch/v1beta1`, …), and nothing newer than it.

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

/// Built-in resources served only in some minors: (group, version, kind, plural, namespaced,
/// since, removed in), per the Kubernetes deprecation guide.
const SERVED_IN: &[(&str, &str, &str, &str, bool, u32, u32)] = &[
    (
        "policy",
        "v1beta1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        5,
        25,
    ),
    (
        "policy",
        "v1beta1",
        "PodSecurityPolicy",
        "podsecuritypolicies",
        false,
        10,
        25,
    ),
    ("batch", "v1beta1", "CronJob", "cronjobs", true, 8, 25),
    (
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        0,
        99,
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        23,
        99,
    ),
    (
        "autoscaling",
        "v2beta2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        12,
        26,
    ),
    (
        "networking.k8s.io",
        "v1beta1",
        "Ingress",
        "ingresses",
        true,
        14,
        22,
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1beta3",
        "FlowSchema",
        "flowschemas",
        false,
        26,
        32,
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "FlowSchema",
        "flowschemas",
        false,
        29,
        99,
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
    /// `apply Kind ns/name` and `delete Kind ns/name`, in order.
    pub log: Vec<String>,
    /// How many reads of a complete Job with a TTL see it before the TTL controller deletes
    /// it. Default 1.
    pub job_ttl_reads: u32,
    /// Objects a Job creates when it succeeds, by the Job's `Job namespace/name`.
    pub job_creates: BTreeMap<String, Vec<Value>>,
    /// Per Job: why it failed when it ran, and how often it was read back complete.
    jobs: BTreeMap<String, (Option<String>, u32)>,
    /// Reads of webhook configurations cainjector manages.
    ca_reads: BTreeMap<String, u32>,
    /// The server's minor (`/version`); 33 unless [`FakeKube::at_minor`] says otherwise.
    pub minor: u32,
    /// Built-in (group, kind)s beyond [`BUILTIN`] this minor serves.
    served_builtin: Vec<(String, String)>,
    /// Resource types whose list is forbidden (`secrets`, `deployments.apps`): 403, as for a
    /// ServiceAccount its ClusterRole does not grant `list`.
    pub forbidden: Vec<String>,
    /// Every list request, as `PATH?QUERY`.
    pub lists: Vec<String>,
    resource_version: u64,
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
            job_ttl_reads: 1,
            minor: 33,
            ..FakeKube::default()
        }
    }

    /// A cluster of Kubernetes 1.`minor`: the built-ins plus the APIs that minor still (or
    /// already) serves from [`SERVED_IN`].
    pub fn at_minor(minor: u32) -> FakeKube {
        let mut k = FakeKube::new();
        k.minor = minor;
        for (g, v, kind, p, n, since, removed) in SERVED_IN {
            if *since <= minor && minor < *removed {
                k.resources.push(Resource {
                    group: g.to_string(),
                    version: v.to_string(),
                    kind: kind.to_string(),
                    plural: p.to_string(),
                    namespaced: *n,
                });
                k.served_builtin.push((g.to_string(), kind.to_string()));
            }
        }
        k
    }

    /// Store `obj` as the API server would hold it (it is read back at any version its kind is
    /// served at): a `uid` and `resourceVersion` are added when missing.
    pub fn seed(&mut self, mut obj: Value) {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
        let group = api_version
            .rsplit_once('/')
            .map_or("", |(g, _)| g)
            .to_string();
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let Some(r) = self
            .resources
            .iter()
            .find(|r| r.group == group && r.kind == kind)
            .cloned()
        else {
            panic!("the fake cluster does not serve {api_version} {kind}");
        };
        self.resource_version += 1;
        let meta = &mut obj["metadata"];
        if meta["uid"].is_null() {
            meta["uid"] = json!(format!("seed-{}", self.resource_version));
        }
        meta["resourceVersion"] = json!(self.resource_version.to_string());
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        let ns = if r.namespaced {
            meta["namespace"].as_str().unwrap_or("default").to_string()
        } else {
            String::new()
        };
        self.objects.insert((r.group, r.plural, ns, name), obj);
    }

    /// Whether discovery shows `r`: a built-in this minor serves, or a custom resource whose
    /// CRD is Established.
    fn discoverable(&self, r: &Resource) -> bool {
        BUILTIN.iter().any(|b| b.0 == r.group && b.2 == r.kind)
            || self
                .served_builtin
                .iter()
                .any(|(g, k)| *g == r.group && *k == r.kind)
            || self.established.contains(&r.kind)
    }

    /// `/api`, `/apis` and `/version`, as the API server answers them.
    fn root_discovery(&self, segs: &[&str]) -> Option<ResponseTemplate> {
        match segs {
            ["version"] => Some(ResponseTemplate::new(200).set_body_json(json!({
                "major": "1", "minor": self.minor.to_string(),
                "gitVersion": format!("v1.{}.7", self.minor),
                "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.22.0",
                "compiler": "gc", "platform": "linux/amd64"
            }))),
            ["api"] => Some(ResponseTemplate::new(200).set_body_json(json!({
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.2:6443"}]
            }))),
            ["apis"] => {
                let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                for r in self.resources.iter().filter(|r| !r.group.is_empty()) {
                    if self.discoverable(r) {
                        let v = groups.entry(&r.group).or_default();
                        if !v.contains(&r.version.as_str()) {
                            v.push(&r.version);
                        }
                    }
                }
                let groups: Vec<Value> = groups
                    .into_iter()
                    .map(|(g, mut vs)| {
                        vs.sort_by_key(|v| std::cmp::Reverse(version_rank(v)));
                        let versions: Vec<Value> = vs
                            .iter()
                            .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                            .collect();
                        json!({"name": g, "versions": versions,
                            "preferredVersion": versions[0].clone()})
                    })
                    .collect();
                Some(ResponseTemplate::new(200).set_body_json(json!({
                    "kind": "APIGroupList", "apiVersion": "v1", "groups": groups
                })))
            }
            _ => None,
        }
    }
    /// Objects Job `job` (`Job namespace/name`) creates when it succeeds.
    pub fn job_creates(&mut self, job: &str, objects: Vec<Value>) {
        self.job_creates.insert(job.to_string(), objects);
    }

    fn exists(&self, group: &str, plural: &str, ns: &str, name: &str) -> bool {
        self.objects
            .contains_key(&(group.into(), plural.into(), ns.into(), name.into()))
    }

    fn store(&mut self, obj: Value, ns: &str) {
        let kind = obj["kind"].as_str().unwrap_or_default();
        let Some(r) = self.resources.iter().find(|r| r.kind == kind).cloned() else {
            return;
        };
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = if r.namespaced { ns } else { "" };
        self.objects
            .insert((r.group, r.plural, ns.to_string(), name), obj);
    }

    fn webhook_configurations(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.objects
            .iter()
            .filter(|((g, p, _, _), _)| {
                g == "admissionregistration.k8s.io" && p.ends_with("webhookconfigurations")
            })
            .map(|((_, _, _, n), v)| (n.as_str(), v))
    }

    /// The error a real API server returns for an apply in `group` while a `Fail` webhook for
    /// it has no CA (its calls cannot be verified).
    fn webhook_rejects(&self, group: &str) -> Option<String> {
        if group.is_empty() {
            return None;
        }
        self.webhook_configurations().find_map(|(_, v)| {
            v["webhooks"].as_array()?.iter().find_map(|w| {
                let fails = w["failurePolicy"].as_str().unwrap_or("Fail") == "Fail";
                let no_ca = w["clientConfig"]["caBundle"].as_str().is_none_or(str::is_empty);
                let matches = w["rules"].as_array()?.iter().any(|r| {
                    r["apiGroups"]
                        .as_array()
                        .is_some_and(|g| g.iter().any(|g| g == group || g == "*"))
                });
                (fails && no_ca && matches).then(|| {
                    format!(
                        "Internal error occurred: failed calling webhook \"{}\": failed to call webhook: tls: failed to verify certificate: x509: certificate signed by unknown authority",
                        w["name"].as_str().unwrap_or_default()
                    )
                })
            })
        })
    }

    /// cainjector fills a configuration's caBundle on the second time it is consulted (read
    /// back, or called by an apply): deterministic, and late enough to catch an installer
    /// that does not wait for it.
    fn cainjector_tick(&mut self) {
        let waiting: Vec<(String, String, String, String)> = self
            .objects
            .iter()
            .filter(|((g, p, _, _), v)| {
                g == "admissionregistration.k8s.io"
                    && p.ends_with("webhookconfigurations")
                    && injected(v)
                    && !has_ca(v)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in waiting {
            let n = self.ca_reads.entry(key.3.clone() + &key.1).or_default();
            *n += 1;
            if *n >= 2 {
                if let Some(w) = self.objects.get_mut(&key) {
                    for h in w["webhooks"].as_array_mut().into_iter().flatten() {
                        h["clientConfig"]["caBundle"] = json!("LS0tLS1GQUtFLUNBLS0tLS0=");
                    }
                }
            }
        }
    }

    /// Secrets and ConfigMaps a pod template needs that do not exist (`secret "x" not found`).
    fn missing_refs(&self, ns: &str, pod: &Value) -> Vec<String> {
        let mut want: Vec<(&str, &str)> = Vec::new();
        let required = |v: &Value| v["optional"] != true;
        let containers = ["containers", "initContainers"]
            .iter()
            .flat_map(|k| pod[*k].as_array().into_iter().flatten());
        for c in containers {
            for e in c["env"].as_array().into_iter().flatten() {
                let from = &e["valueFrom"];
                if let Some(n) = from["secretKeyRef"]["name"].as_str() {
                    if required(&from["secretKeyRef"]) {
                        want.push(("secret", n));
                    }
                }
                if let Some(n) = from["configMapKeyRef"]["name"].as_str() {
                    if required(&from["configMapKeyRef"]) {
                        want.push(("configmap", n));
                    }
                }
            }
            for e in c["envFrom"].as_array().into_iter().flatten() {
                if let Some(n) = e["secretRef"]["name"]
                    .as_str()
                    .filter(|_| required(&e["secretRef"]))
                {
                    want.push(("secret", n));
                }
                if let Some(n) = e["configMapRef"]["name"]
                    .as_str()
                    .filter(|_| required(&e["configMapRef"]))
                {
                    want.push(("configmap", n));
                }
            }
        }
        for v in pod["volumes"].as_array().into_iter().flatten() {
            if let Some(n) = v["secret"]["secretName"]
                .as_str()
                .filter(|_| required(&v["secret"]))
            {
                want.push(("secret", n));
            }
            if let Some(n) = v["configMap"]["name"]
                .as_str()
                .filter(|_| required(&v["configMap"]))
            {
                want.push(("configmap", n));
            }
            for p in v["projected"]["sources"].as_array().into_iter().flatten() {
                if let Some(n) = p["secret"]["name"]
                    .as_str()
                    .filter(|_| required(&p["secret"]))
                {
                    want.push(("secret", n));
                }
                if let Some(n) = p["configMap"]["name"]
                    .as_str()
                    .filter(|_| required(&p["configMap"]))
                {
                    want.push(("configmap", n));
                }
            }
        }
        let mut out: Vec<String> = want
            .into_iter()
            .filter(|(k, n)| !self.exists("", &format!("{k}s"), ns, n))
            .map(|(k, n)| format!("{k} \"{n}\" not found"))
            .collect();
        out.dedup();
        out
    }

    /// Run Job `obj` as the cluster would right after it is created: why it fails, if it does.
    fn run_job(&mut self, ns: &str, label: &str, obj: &Value) -> Option<String> {
        let pod = &obj["spec"]["template"]["spec"];
        let sa = pod["serviceAccountName"]
            .as_str()
            .or(pod["serviceAccount"].as_str())
            .unwrap_or("default");
        if sa != "default" && !self.exists("", "serviceaccounts", ns, sa) {
            return Some(format!(
                "pods is forbidden: error looking up service account {ns}/{sa}: serviceaccount \"{sa}\" not found"
            ));
        }
        let args: Vec<String> = pod["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["args"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a.as_str().map(String::from))
            .collect();
        let flag = |f: &str| {
            args.iter()
                .find_map(|a| a.strip_prefix(&format!("--{f}=")).map(String::from))
        };
        match args.first().map(String::as_str) {
            Some("patch") if flag("webhook-name").is_some() => {
                let name = flag("webhook-name").unwrap_or_default();
                let mut found = false;
                for plural in [
                    "validatingwebhookconfigurations",
                    "mutatingwebhookconfigurations",
                ] {
                    let key = (
                        "admissionregistration.k8s.io".to_string(),
                        plural.to_string(),
                        String::new(),
                        name.clone(),
                    );
                    if let Some(w) = self.objects.get_mut(&key) {
                        found = true;
                        for h in w["webhooks"].as_array_mut().into_iter().flatten() {
                            h["clientConfig"]["caBundle"] = json!("LS0tLS1GQUtFLUNBLS0tLS0=");
                        }
                    }
                }
                if !found {
                    return Some(format!(
                        "kube-webhook-certgen patch: webhook configuration {name:?} not found"
                    ));
                }
            }
            Some("create") if flag("secret-name").is_some() => {
                let secret = flag("secret-name").unwrap_or_default();
                let sns = flag("namespace").unwrap_or_else(|| ns.to_string());
                self.store(
                    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret, "namespace": sns},
                        "data": {"ca": "Q0E=", "cert": "Q0VSVA==", "key": "S0VZ"}}),
                    &sns,
                );
            }
            Some("check") if args.get(1).is_some_and(|a| a == "api") => {
                let waiting: Vec<&str> = self
                    .webhook_configurations()
                    .filter(|(_, v)| injected(v) && !has_ca(v))
                    .map(|(n, _)| n)
                    .collect();
                if !waiting.is_empty() {
                    return Some(format!(
                        "the cert-manager API is not ready: webhook {} has no CA yet",
                        waiting.join(", ")
                    ));
                }
            }
            _ => {}
        }
        for o in self.job_creates.get(label).cloned().unwrap_or_default() {
            self.store(o, ns);
        }
        None
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
        if method == "GET" {
            if let Some(r) = s.root_discovery(&segs) {
                return r;
            }
        }
        if req
            .url
            .query_pairs()
            .any(|(k, v)| k == "watch" && v != "false")
        {
            s.violations.push(format!("{method} {path}: a watch"));
            return ResponseTemplate::new(405);
        }
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
                .filter(|r| s.discoverable(r))
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
            ["apis", g, _, rest @ ..] => (*g, rest),
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
                if s.webhook_rejects(group).is_some() {
                    s.cainjector_tick();
                }
                if let Some(message) = s.webhook_rejects(group) {
                    return ResponseTemplate::new(500).set_body_json(json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": message, "reason": "InternalError", "code": 500
                    }));
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
                s.log.push(format!("apply {}", label(&name)));
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
                if resource.kind == "Job" {
                    let l = label(&name);
                    let failed = s.run_job(&ns, &l, &obj);
                    s.jobs.insert(l, (failed, 0));
                }
                ResponseTemplate::new(200).set_body_json(obj)
            }
            ("DELETE", Some(name), None) => {
                let key = (
                    group.to_string(),
                    resource.plural.clone(),
                    ns.clone(),
                    name.clone(),
                );
                if s.objects.remove(&key).is_none() {
                    return status_404(&label(&name));
                }
                s.log.push(format!("delete {}", label(&name)));
                ResponseTemplate::new(200).set_body_json(json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"
                }))
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
                let pod = match resource.kind.as_str() {
                    "Deployment" | "StatefulSet" | "DaemonSet" | "Job" => {
                        Some(&obj["spec"]["template"]["spec"])
                    }
                    _ => None,
                };
                let missing = pod.map(|p| s.missing_refs(&ns, p)).unwrap_or_default();
                for m in &missing {
                    let e = event(
                        &ns,
                        &resource.kind,
                        &name,
                        "Warning",
                        "Failed",
                        &format!("Error: {m} (pods of {} {name} cannot start)", resource.kind),
                    );
                    let events = s.events.entry(ns.clone()).or_default();
                    if !events.contains(&e) {
                        events.push(e);
                    }
                }
                let scripted = s.scripts.contains_key(&l);
                let status = match s.scripts.get_mut(&l) {
                    Some(q) if q.len() > 1 => q.pop_front(),
                    Some(q) => q.front().cloned(),
                    None if !missing.is_empty() => pending_status(&resource.kind, &obj),
                    None => healthy_status(&resource.kind, &obj),
                };
                if resource.kind == "Job" && !scripted && missing.is_empty() {
                    let ttl = obj["spec"]["ttlSecondsAfterFinished"].as_i64();
                    let ttl_reads = s.job_ttl_reads;
                    let (failed, reads) = s.jobs.get(&l).cloned().unwrap_or_default();
                    if let Some(why) = failed {
                        let e = event(&ns, "Job", &name, "Warning", "BackoffLimitExceeded", &why);
                        let events = s.events.entry(ns.clone()).or_default();
                        if !events.contains(&e) {
                            events.push(e);
                        }
                        obj["status"] = json!({"failed": 7, "conditions": [{"type": "Failed",
                            "status": "True", "reason": "BackoffLimitExceeded",
                            "message": format!("Job has reached the specified backoff limit: {why}")}]});
                        return ResponseTemplate::new(200).set_body_json(obj);
                    }
                    let e = event(&ns, "Job", &name, "Normal", "Completed", "Job completed");
                    let events = s.events.entry(ns.clone()).or_default();
                    if !events.contains(&e) {
                        events.push(e);
                    }
                    if ttl.is_some() {
                        if reads >= ttl_reads {
                            // The TTL controller got there first.
                            s.objects.remove(&key);
                            s.log.push(format!("ttl-deleted {l}"));
                            return status_404(&l);
                        }
                        s.jobs.insert(l.clone(), (None, reads + 1));
                    }
                }
                if resource.kind.ends_with("WebhookConfiguration") && injected(&obj) {
                    s.cainjector_tick();
                    if let Some(stored) = s.objects.get(&key) {
                        obj = stored.clone();
                    }
                }
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
                let query = req.url.query().map(|q| format!("?{q}")).unwrap_or_default();
                s.lists.push(format!("{path}{query}"));
                let name = if group.is_empty() {
                    resource.plural.clone()
                } else {
                    format!("{}.{group}", resource.plural)
                };
                if s.forbidden.contains(&name) {
                    let scope = if ns.is_empty() {
                        "at the cluster scope".to_string()
                    } else {
                        format!("in the namespace \"{ns}\"")
                    };
                    return ResponseTemplate::new(403).set_body_json(json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": format!("{} is forbidden: User \"system:serviceaccount:ops:ake-bot-scan\" cannot list resource \"{}\" in API group \"{group}\" {scope}", name, resource.plural),
                        "reason": "Forbidden", "details": {"group": group, "kind": resource.plural}, "code": 403
                    }));
                }
                let api_version = match segs.as_slice() {
                    ["apis", g, v, ..] => format!("{g}/{v}"),
                    _ => "v1".to_string(),
                };
                let mut items = match resource.kind.as_str() {
                    "Event" => s.events.get(&ns).cloned().unwrap_or_default(),
                    "Pod" => s.pods.get(&ns).cloned().unwrap_or_default(),
                    _ => Vec::new(),
                };
                items.extend(
                    s.objects
                        .iter()
                        .filter(|((g, p, o_ns, _), _)| {
                            g == group && *p == resource.plural && (ns.is_empty() || *o_ns == ns)
                        })
                        .map(|(_, v)| {
                            let mut v = v.clone();
                            v["apiVersion"] = json!(api_version);
                            v["kind"] = json!(resource.kind);
                            v
                        }),
                );
                let param = |k: &str| {
                    req.url
                        .query_pairs()
                        .find(|(q, _)| q == k)
                        .map(|(_, v)| v.to_string())
                };
                let offset: usize = match param("continue") {
                    Some(t) => match t
                        .strip_prefix("fake-continue-")
                        .and_then(|n| n.parse().ok())
                    {
                        Some(n) => n,
                        None => {
                            s.violations
                                .push(format!("{path}: continue token {t:?} was not ours"));
                            return ResponseTemplate::new(410);
                        }
                    },
                    None => 0,
                };
                let limit = param("limit")
                    .and_then(|l| l.parse::<usize>().ok())
                    .filter(|l| *l > 0);
                let end = limit.map_or(items.len(), |l| (offset + l).min(items.len()));
                let page: Vec<Value> = items.get(offset..end).unwrap_or_default().to_vec();
                let mut metadata =
                    json!({"resourceVersion": s.resource_version.max(1).to_string()});
                if end < items.len() {
                    metadata["continue"] = json!(format!("fake-continue-{end}"));
                    metadata["remainingItemCount"] = json!(items.len() - end);
                }
                ResponseTemplate::new(200).set_body_json(json!({
                    "kind": format!("{}List", resource.kind), "apiVersion": api_version,
                    "metadata": metadata, "items": page
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

/// What a workload whose pods cannot start reports.
fn pending_status(kind: &str, obj: &Value) -> Option<Value> {
    let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    Some(match kind {
        "Deployment" => json!({"observedGeneration": 1, "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": 0, "availableReplicas": 0,
            "unavailableReplicas": replicas}),
        "StatefulSet" => json!({"observedGeneration": 1, "replicas": replicas,
            "readyReplicas": 0, "currentRevision": "r1", "updateRevision": "r1"}),
        "DaemonSet" => json!({"observedGeneration": 1, "desiredNumberScheduled": 1,
            "updatedNumberScheduled": 1, "numberReady": 0}),
        "Job" => json!({"active": 1}),
        _ => return None,
    })
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
        "APIService" | "Prometheus" | "Alertmanager" => cond("Available"),
        _ => return None,
    })
}

fn injected(v: &Value) -> bool {
    v["metadata"]["annotations"].as_object().is_some_and(|a| {
        a.keys()
            .any(|k| k.starts_with("cert-manager.io/inject-ca-from"))
    })
}

fn has_ca(v: &Value) -> bool {
    v["webhooks"].as_array().is_some_and(|w| {
        w.iter().all(|h| {
            h["clientConfig"]["caBundle"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        })
    })
}

fn event(ns: &str, kind: &str, name: &str, type_: &str, reason: &str, message: &str) -> Value {
    json!({
        "metadata": {"name": format!("{name}.{reason}"), "namespace": ns},
        "involvedObject": {"kind": kind, "name": name, "namespace": ns},
        "reason": reason, "message": message, "type": type_
    })
}

/// Stable before beta before alpha, then the higher number: how the API server orders a
/// group's versions (its first is the preferred one).
fn version_rank(v: &str) -> (u8, u32, u32) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, n) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (stage, major, n)
}

/// A Helm 3 release secret, byte for byte as Helm's storage driver writes it: the release
/// JSON gzipped, base64-encoded by Helm, and that text base64-encoded again as the Secret's
/// `data.release`; named `sh.helm.release.v1.NAME.vREVISION`, labelled name/owner/status/
/// version.
pub fn helm_release_secret(
    name: &str,
    namespace: &str,
    revision: u32,
    status: &str,
    chart: (&str, &str),
    manifest: &str,
) -> Value {
    use std::io::Write;
    let release = json!({
        "name": name,
        "info": {"first_deployed": "2023-03-01T10:00:00Z", "last_deployed": "2024-02-01T10:00:00Z",
            "deleted": "", "description": if revision == 1 { "Install complete" } else { "Upgrade complete" },
            "status": status},
        "chart": {"metadata": {"name": chart.0, "version": chart.1, "apiVersion": "v2"},
            "lock": null, "templates": [], "values": {}, "schema": null, "files": []},
        "config": {},
        "manifest": manifest,
        "version": revision,
        "namespace": namespace
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(release.to_string().as_bytes())
        .expect("gzip to memory");
    let helm = base64(&gz.finish().expect("gzip to memory"));
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": format!("sh.helm.release.v1.{name}.v{revision}"),
            "namespace": namespace,
            "labels": {"name": name, "owner": "helm", "status": status, "version": revision.to_string()},
            "creationTimestamp": "2024-02-01T10:00:00Z",
            "managedFields": [{"manager": "helm", "operation": "Update", "apiVersion": "v1",
                "time": "2024-02-01T10:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {".": {}, "f:release": {}},
                    "f:metadata": {"f:labels": {".": {}, "f:name": {}, "f:owner": {}, "f:status": {}, "f:version": {}}},
                    "f:type": {}}}]
        },
        "data": {"release": base64(helm.as_bytes())}
    })
}

/// Standard base64 with padding (RFC 4648), as Go's `base64.StdEncoding` writes it.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
