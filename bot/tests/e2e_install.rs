//! The e2e install without a cluster: ake-bot's real installer (kube client, server-side
//! apply, readiness polling, diagnostics) against a fake Kubernetes API serving real object
//! shapes. Ordering, waiting and failure reporting are proven here; kind runs the real thing
//! in CI (`.github/workflows/pr.yml`).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::time::Duration;

use ake_bot::cluster::{install, BundleObjects, Installer};
use ake_bot::manifest::Manifests;
use ake_bot_testkit::kube::{FakeKube, FakeKubeServer};
use ake_bot_testkit::ConfigRepo;
use serde_json::json;

async fn installer(server: &FakeKubeServer) -> Installer {
    let config = kube::Config::new(server.uri().parse().unwrap());
    let mut i = Installer::new(kube::Client::try_from(config).unwrap());
    i.poll = Duration::from_millis(10);
    i
}

fn bundle(name: &str, namespace: &str, yaml: &str) -> BundleObjects {
    BundleObjects {
        bundle: name.into(),
        namespace: namespace.into(),
        objects: Manifests::parse(yaml).unwrap().objects().to_vec(),
    }
}

/// A small addon: its CRD, a workload, its webhook, one of its custom resources, a hook Job.
const ADDON: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: widget-controller}
spec:
  replicas: 2
  selector: {matchLabels: {app: w}}
  template:
    metadata: {labels: {app: w}}
    spec: {containers: [{name: c, image: registry.example/w:1}]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: widget-webhook}
webhooks: []
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: default-widget}
spec: {size: 1}
---
apiVersion: v1
kind: Pod
metadata:
  name: widget-test-connection
  annotations: {helm.sh/hook: test}
spec: {containers: [{name: c, image: registry.example/curl:1}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: widget-check}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: registry.example/check:1}]
"#;

#[tokio::test]
async fn objects_go_in_phases_and_each_phase_waits_for_what_the_next_needs() {
    let mut kube = FakeKube::new();
    // The CRD takes two reads to be Established; the rollout is in progress at first.
    kube.script(
        "CustomResourceDefinition widgets.example.com",
        vec![
            json!({"conditions": [{"type": "Established", "status": "False", "reason": "Installing", "message": "the initial names have been accepted"}]}),
            json!({"conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": ""}]}),
        ],
    );
    kube.script(
        "Deployment widgets/widget-controller",
        vec![
            json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 0}),
            json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
        ],
    );
    let server = FakeKubeServer::start(kube).await;
    let i = installer(&server).await;
    let out = install(
        &i,
        &[bundle("widgets", "widgets", ADDON)],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(out[0].problems, Vec::<String>::new());
    assert_eq!(
        out[0].applied, 6,
        "five objects and the bundle's namespace; not the `helm test` pod"
    );
    let applied = server.finish();
    assert_eq!(
        applied,
        [
            "CustomResourceDefinition widgets.example.com",
            "Namespace widgets",
            "Deployment widgets/widget-controller",
            "Job widgets/widget-check",
            "ValidatingWebhookConfiguration widget-webhook",
            "Widget widgets/default-widget",
        ]
    );
}

#[tokio::test]
async fn a_crd_that_never_becomes_established_is_reported_and_its_resources_are_not_applied() {
    let mut kube = FakeKube::new();
    kube.script(
        "CustomResourceDefinition widgets.example.com",
        vec![json!({"conditions": [{"type": "Established", "status": "False", "reason": "Installing", "message": "the initial names have been accepted"}]})],
    );
    let server = FakeKubeServer::start(kube).await;
    let i = installer(&server).await;
    let out = install(
        &i,
        &[bundle("widgets", "widgets", ADDON)],
        Duration::from_millis(200),
    )
    .await;
    let p = out[0].problems.join("\n");
    assert!(
        p.contains("CustomResourceDefinition widgets.example.com not ready: Established=False: Installing the initial names have been accepted"),
        "{p}"
    );
    assert!(
        p.contains("the cluster does not serve example.com/v1 Widget"),
        "{p}"
    );
    let applied = server.finish();
    assert!(
        !applied.iter().any(|a| a.starts_with("Widget ")),
        "{applied:?}"
    );
}

#[tokio::test]
async fn a_crashing_pod_times_out_with_events_container_state_and_logs() {
    let mut kube = FakeKube::new();
    kube.script(
        "Deployment widgets/widget-controller",
        vec![json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 0, "unavailableReplicas": 2})],
    );
    kube.add_event("widgets", json!({
        "metadata": {"name": "widget-controller-7d9.1", "namespace": "widgets"},
        "involvedObject": {"kind": "Pod", "name": "widget-controller-7d9-abcde", "namespace": "widgets"},
        "reason": "BackOff", "message": "Back-off restarting failed container c", "type": "Warning"
    }));
    kube.add_pod("widgets", json!({
        "metadata": {"name": "widget-controller-7d9-abcde", "namespace": "widgets"},
        "spec": {"containers": [{"name": "c", "image": "registry.example/w:1"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "c", "ready": false, "restartCount": 5, "image": "registry.example/w:1",
            "imageID": "", "started": false,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s restarting failed container=c"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}
        }]}
    }));
    kube.add_log(
        "widgets",
        "widget-controller-7d9-abcde",
        "c",
        "starting\nerror: cannot read /etc/widget/config.yaml: no such file\n",
    );
    let server = FakeKubeServer::start(kube).await;
    let i = installer(&server).await;
    let out = install(
        &i,
        &[bundle("widgets", "widgets", ADDON)],
        Duration::from_millis(200),
    )
    .await;
    assert!(
        out[0]
            .problems
            .iter()
            .any(|p| p
                == "Deployment widgets/widget-controller not ready: 0 of 2 replicas available"),
        "{:?}",
        out[0].problems
    );
    let d = i.diagnostics("widgets").await.join("\n");
    for want in [
        "event widgets/Pod/widget-controller-7d9-abcde: BackOff: Back-off restarting failed container c",
        "pod widgets/widget-controller-7d9-abcde: phase Running",
        "container c: waiting: CrashLoopBackOff back-off 2m40s restarting failed container=c (restarts 5)",
        "error: cannot read /etc/widget/config.yaml: no such file",
    ] {
        assert!(d.contains(want), "missing {want:?} in\n{d}");
    }
    server.finish();
}

#[tokio::test]
async fn the_projects_real_cert_manager_render_installs_in_order() {
    let repo = ConfigRepo::from_project();
    let text = repo.read("bundles/cert-manager/rendered/manifests.yaml");
    let server = FakeKubeServer::start(FakeKube::new()).await;
    let i = installer(&server).await;
    let b = bundle("cert-manager", "cert-manager", &text);
    let n = b.objects.len();
    let out = install(&i, &[b], Duration::from_secs(10)).await;
    assert_eq!(out[0].problems, Vec::<String>::new());
    assert_eq!(
        out[0].applied,
        n + 1,
        "every object, and the cert-manager namespace"
    );
    let applied = server.finish();
    let first = |prefix: &str| applied.iter().position(|a| a.starts_with(prefix)).unwrap();
    let last = |prefix: &str| applied.iter().rposition(|a| a.starts_with(prefix)).unwrap();
    assert!(last("CustomResourceDefinition") < first("Namespace cert-manager"));
    assert!(first("Namespace") < first("Deployment"));
    assert!(last("Deployment") < first("ValidatingWebhookConfiguration"));
}

#[test]
fn the_projects_smoke_checks_parse() {
    let root = ake_bot_testkit::workspace_root().join("e2e");
    let mut found = 0;
    for addon in ["cert-manager", "argo-cd", "kube-prometheus-stack"] {
        let file = root.join(addon).join("smoke.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = ake_bot::cluster::smoke::parse(&file, &text).unwrap();
        assert!(!parsed.checks.is_empty(), "{}", file.display());
        found += parsed.checks.len();
    }
    assert_eq!(found, 3);
    let typo = ake_bot::cluster::smoke::parse(
        std::path::Path::new("e2e/x/smoke.yaml"),
        "checks:\n  - name: x\n    gett: /healthz\n",
    )
    .unwrap_err();
    assert!(
        typo.contains("e2e/x/smoke.yaml") && typo.contains("unknown field `gett`"),
        "{typo}"
    );
}

#[test]
fn without_kind_e2e_fails_fast_with_one_line_pointing_at_validate() {
    let repo = ConfigRepo::from_project();
    let run = ake_bot_testkit::Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(["e2e", "--kind", "/nonexistent/kind"])
        .repo(repo.path())
        .run();
    assert_eq!(run.code, 2);
    let stderr = run.stderr;
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("/nonexistent/kind not found")
            && stderr.contains("`ake-bot validate` is the offline check"),
        "{stderr}"
    );
}
