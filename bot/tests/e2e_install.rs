//! The e2e install without a cluster: ake-bot's real installer (kube client, server-side
//! apply, readiness polling, diagnostics) against a fake Kubernetes API serving real object
//! shapes. Ordering, hooks, waiting and failure reporting are proven here, and only here:
//! none of it has run on a real cluster yet (`.github/workflows/pr.yml` is where kind will).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::time::{Duration, Instant};

use ake_bot::cluster::{
    by_kind, install, parse_fixtures, run_smoke, BundleObjects, Installer, Target,
};
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
        fixtures: Vec::new(),
        smoke: None,
    }
}

fn target(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Target {
    Target {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: namespace.map(String::from),
        name: name.into(),
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
    let log = server.state().log.clone();
    let applied = server.finish();
    let first = |prefix: &str| applied.iter().position(|a| a.starts_with(prefix)).unwrap();
    let last = |prefix: &str| applied.iter().rposition(|a| a.starts_with(prefix)).unwrap();
    assert!(last("CustomResourceDefinition") < first("Namespace cert-manager"));
    assert!(first("Namespace") < first("Deployment"));
    assert!(last("Deployment") < first("ValidatingWebhookConfiguration"));
    // startupapicheck (post-install, weight 1) after its RBAC (weight -5) and after the
    // webhook serves; the fake fails `check api` while a caBundle is empty.
    assert!(
        last("MutatingWebhookConfiguration")
            < first("ServiceAccount cert-manager/cert-manager-startupapicheck")
    );
    assert!(
        first("RoleBinding cert-manager/cert-manager-startupapicheck")
            < first("Job cert-manager/cert-manager-startupapicheck")
    );
    assert!(
        log.contains(&"delete Job cert-manager/cert-manager-startupapicheck".to_string()),
        "hook-succeeded: {log:?}"
    );
    assert!(i
        .progress_lines()
        .contains(&"ValidatingWebhookConfiguration cert-manager-webhook ready".to_string()));
}

#[tokio::test]
async fn the_projects_three_bundles_install_together_with_their_fixtures() {
    let repo = ConfigRepo::from_project();
    let mut kube = FakeKube::new();
    // What Argo CD's redis-secret-init exists to do.
    kube.job_creates(
        "Job argocd/argo-cd-argocd-redis-secret-init",
        vec![json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "argocd-redis", "namespace": "argocd"}, "data": {"auth": "eA=="}})],
    );
    let server = FakeKubeServer::start(kube).await;
    let i = installer(&server).await;
    let sets: Vec<BundleObjects> = [
        ("argo-cd", "argocd"),
        ("cert-manager", "cert-manager"),
        ("kube-prometheus-stack", "monitoring"),
    ]
    .iter()
    .map(|(b, ns)| {
        let text = repo.read(&format!("bundles/{b}/rendered/manifests.yaml"));
        let mut set = bundle(b, ns, &text);
        let fixtures =
            std::fs::read_to_string(repo.path().join(format!("e2e/{b}/fixtures.yaml"))).ok();
        set.fixtures = parse_fixtures(b, fixtures.as_deref()).unwrap();
        set
    })
    .collect();
    let out = install(&i, &sets, Duration::from_secs(30)).await;
    for o in &out {
        assert_eq!(o.problems, Vec::<String>::new(), "{}", o.bundle);
    }
    let log = server.state().log.clone();
    server.finish();
    let at = |x: &str| {
        log.iter()
            .position(|a| a == x)
            .unwrap_or_else(|| panic!("{x} not in the log"))
    };
    // Argo CD's pre-install hook, with its RBAC, before Argo CD's workloads.
    assert!(
        at("apply ServiceAccount argocd/argo-cd-argocd-redis-secret-init")
            < at("apply Job argocd/argo-cd-argocd-redis-secret-init")
    );
    assert!(
        at("apply Job argocd/argo-cd-argocd-redis-secret-init")
            < at("apply Deployment argocd/argo-cd-argocd-redis")
    );
    // kps-admission's RBAC is a pre- and a post-install hook: created, deleted, created again.
    assert!(
        at("delete ServiceAccount monitoring/kps-admission")
            < at("apply Job monitoring/kps-admission-patch")
    );
    assert!(
        !log.iter().any(|a| a.contains("-test")),
        "test hooks: {log:?}"
    );
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

/// Hooks as a chart renders them: a pre-install Job with its ServiceAccount (named to sort
/// after it), a lighter pre-install Job, a post-install certgen patch of the bundle's own
/// webhook configuration, a test hook and an upgrade-only hook.
const HOOKS: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: a-init
  annotations: {helm.sh/hook: "pre-install,pre-upgrade", helm.sh/hook-delete-policy: before-hook-creation}
spec:
  ttlSecondsAfterFinished: 60
  template:
    spec:
      serviceAccountName: z-init
      restartPolicy: Never
      containers: [{name: c, image: registry.example/init:1}]
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: z-init
  annotations: {helm.sh/hook: "pre-install,pre-upgrade", helm.sh/hook-delete-policy: "before-hook-creation,hook-succeeded"}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: zz-first
  annotations: {helm.sh/hook: pre-install, helm.sh/hook-weight: "-5", helm.sh/hook-delete-policy: hook-succeeded}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: registry.example/first:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: widget-controller}
spec:
  selector: {matchLabels: {app: w}}
  template:
    metadata: {labels: {app: w}}
    spec: {containers: [{name: c, image: registry.example/w:1}]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: widget-admission}
webhooks:
  - name: validate.example.com
    failurePolicy: Ignore
    rules: [{apiGroups: [example.com], apiVersions: ["*"], operations: ["*"], resources: ["*"]}]
    clientConfig: {service: {name: widget-controller, namespace: widgets}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: widget-admission-patch
  annotations: {helm.sh/hook: "post-install,post-upgrade", helm.sh/hook-delete-policy: "before-hook-creation,hook-succeeded"}
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: patch
          image: registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.5.3
          args: [patch, --webhook-name=widget-admission, --namespace=widgets, --secret-name=widget-admission]
---
apiVersion: v1
kind: Pod
metadata:
  name: widget-test
  annotations: {helm.sh/hook: test-success}
spec: {containers: [{name: c, image: registry.example/curl:1}]}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: widget-migrate
  annotations: {helm.sh/hook: pre-upgrade}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: registry.example/migrate:1}]
"#;

#[tokio::test]
async fn hooks_run_as_helm_install_runs_them() {
    let mut kube = FakeKube::new();
    // Left over from an earlier run: `before-hook-creation` deletes it first.
    kube.objects.insert(
        ("batch".into(), "jobs".into(), "widgets".into(), "a-init".into()),
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "a-init", "namespace": "widgets"}}),
    );
    let server = FakeKubeServer::start(kube).await;
    let i = installer(&server).await;
    let out = install(
        &i,
        &[bundle("widgets", "widgets", HOOKS)],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(out[0].problems, Vec::<String>::new());
    let log = server.state().log.clone();
    assert_eq!(
        log,
        [
            "apply Namespace widgets",
            // pre-install, by weight; at equal weight the ServiceAccount before its Job.
            "apply Job widgets/zz-first",
            "apply ServiceAccount widgets/z-init",
            "delete Job widgets/a-init",
            "apply Job widgets/a-init",
            // hook-succeeded, once every pre-install hook succeeded.
            "delete Job widgets/zz-first",
            "delete ServiceAccount widgets/z-init",
            "apply Deployment widgets/widget-controller",
            "apply ValidatingWebhookConfiguration widget-admission",
            // post-install: after the webhook configuration it patches exists.
            "apply Job widgets/widget-admission-patch",
            "delete Job widgets/widget-admission-patch",
        ],
        "never the test hook nor the upgrade-only hook"
    );
    server.finish();
}

#[tokio::test]
async fn the_fake_fails_hooks_run_out_of_order() {
    let server = FakeKubeServer::start(FakeKube::new()).await;
    let i = installer(&server).await;
    let objects = Manifests::parse(HOOKS).unwrap();
    let job = |name: &str| {
        objects
            .objects()
            .iter()
            .find(|o| o.key.name == name)
            .unwrap()
            .value
            .clone()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    // The certgen patch before its webhook configuration exists.
    let patch = target("batch/v1", "Job", Some("widgets"), "widget-admission-patch");
    i.apply(&patch, &job("widget-admission-patch"))
        .await
        .unwrap();
    let err = i
        .wait_ready(std::slice::from_ref(&patch), deadline, &by_kind)
        .await
        .unwrap_err();
    assert!(
        err[0].1.contains("BackoffLimitExceeded")
            && err[0]
                .1
                .contains("webhook configuration \"widget-admission\" not found"),
        "{err:?}"
    );
    // A Job before its ServiceAccount.
    let init = target("batch/v1", "Job", Some("widgets"), "a-init");
    i.apply(&init, &job("a-init")).await.unwrap();
    let err = i
        .wait_ready(std::slice::from_ref(&init), deadline, &by_kind)
        .await
        .unwrap_err();
    assert!(
        err[0].1.contains("serviceaccount \"z-init\" not found"),
        "{err:?}"
    );
    server.finish();
}

#[tokio::test]
async fn a_job_its_ttl_deleted_before_it_was_read_counts_as_complete() {
    let mut kube = FakeKube::new();
    kube.job_ttl_reads = 0;
    let server = FakeKubeServer::start(kube).await;
    let i = installer(&server).await;
    let out = install(
        &i,
        &[bundle("widgets", "widgets", HOOKS)],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(out[0].problems, Vec::<String>::new());
    assert!(server
        .state()
        .log
        .contains(&"ttl-deleted Job widgets/a-init".to_string()));
    assert!(i
        .progress_lines()
        .contains(&"Job widgets/a-init ready (complete, then deleted by its TTL)".to_string()));

    // A Job that is simply gone, with no Completed event, fails at once: no waiting it out.
    let started = Instant::now();
    let gone = target("batch/v1", "Job", Some("widgets"), "never-applied");
    let err = i
        .wait_ready(
            &[gone],
            tokio::time::Instant::now() + Duration::from_secs(30),
            &by_kind,
        )
        .await
        .unwrap_err();
    assert!(
        err[0].1.contains("deleted before it was seen complete"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    server.finish();
}

#[tokio::test]
async fn a_webhook_without_its_ca_yet_is_retried_until_cainjector_fills_it() {
    let server = FakeKubeServer::start(FakeKube::new()).await;
    let i = installer(&server).await;
    let hook = target(
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        None,
        "widget-webhook",
    );
    i.apply(
        &hook,
        &json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "widget-webhook", "annotations": {"cert-manager.io/inject-ca-from-secret": "widgets/ca"}},
            "webhooks": [{"name": "webhook.example.com", "failurePolicy": "Fail",
                "rules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"]}],
                "clientConfig": {"service": {"name": "w", "namespace": "widgets"}}}]}),
    )
    .await
    .unwrap();
    let d = target("apps/v1", "Deployment", Some("widgets"), "w");
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
        "spec": {"selector": {}, "template": {"spec": {"containers": []}}}});
    let err = i.apply(&d, &deployment).await.unwrap_err();
    assert!(err.contains("failed calling webhook"), "{err}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    i.apply_until(&d, &deployment, deadline).await.unwrap();
    server.finish();
}

/// The project's kube-prometheus-stack render, with or without its e2e fixtures.
fn kps(repo: &ConfigRepo, fixtures: bool) -> BundleObjects {
    let text = repo.read("bundles/kube-prometheus-stack/rendered/manifests.yaml");
    let mut b = bundle("kube-prometheus-stack", "monitoring", &text);
    if fixtures {
        let text = repo.read("e2e/kube-prometheus-stack/fixtures.yaml");
        b.fixtures = parse_fixtures("kube-prometheus-stack", Some(&text)).unwrap();
    }
    b
}

#[tokio::test]
async fn kube_prometheus_stack_needs_its_grafana_admin_fixture() {
    let repo = ConfigRepo::from_project();
    let server = FakeKubeServer::start(FakeKube::new()).await;
    let i = installer(&server).await;
    let out = install(&i, &[kps(&repo, false)], Duration::from_secs(2)).await;
    let p = out[0].problems.join("\n");
    assert!(
        p.contains("Deployment monitoring/kube-prometheus-stack-grafana not ready: 0 of 1 replicas available"),
        "{p}"
    );
    let d = i.diagnostics("monitoring").await.join("\n");
    assert!(d.contains("secret \"grafana-admin\" not found"), "{d}");
    server.finish();

    let server = FakeKubeServer::start(FakeKube::new()).await;
    let i = installer(&server).await;
    let kps_fixed = kps(&repo, true);
    assert_eq!(kps_fixed.fixtures.len(), 1);
    let out = install(&i, &[kps_fixed], Duration::from_secs(20)).await;
    assert_eq!(
        out[0].problems,
        Vec::<String>::new(),
        "{:?}",
        i.diagnostics("monitoring").await
    );
    let log = server.finish();
    let at = |x: &str| log.iter().position(|a| a == x).unwrap();
    assert!(at("Namespace monitoring") < at("Secret monitoring/grafana-admin"));
    assert!(
        at("Secret monitoring/grafana-admin")
            < at("Deployment monitoring/kube-prometheus-stack-grafana")
    );
    assert!(at("Job monitoring/kps-admission-create") < at("Deployment monitoring/kps-operator"));
    assert!(
        at("ValidatingWebhookConfiguration kps-admission")
            < at("Job monitoring/kps-admission-patch")
    );
    assert!(!log.iter().any(|a| a.contains("grafana-test")), "{log:?}");
}

#[tokio::test]
async fn bundles_install_concurrently_and_each_that_came_up_is_smoke_tested() {
    let broken = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: needs-secret}
spec:
  selector: {matchLabels: {app: b}}
  template:
    metadata: {labels: {app: b}}
    spec:
      containers:
        - name: c
          image: registry.example/b:1
          envFrom: [{secretRef: {name: not-there}}]
"#;
    let fine = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: fine}
spec:
  selector: {matchLabels: {app: f}}
  template:
    metadata: {labels: {app: f}}
    spec: {containers: [{name: c, image: registry.example/f:1}]}
"#;
    let smoke = |addon: &str| {
        Some(format!("checks:\n  - name: {addon} answers\n    apply: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {{name: smoke}}\n"))
    };
    let server = FakeKubeServer::start(FakeKube::new()).await;
    let i = installer(&server).await;
    let sets = [
        BundleObjects {
            smoke: smoke("broken"),
            ..bundle("broken", "broken", broken)
        },
        BundleObjects {
            smoke: smoke("fine"),
            ..bundle("fine", "fine", fine)
        },
    ];
    let started = Instant::now();
    let out = install(&i, &sets, Duration::from_secs(1)).await;
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "one deadline for all bundles, not one each"
    );
    assert!(!out[0].problems.is_empty());
    assert_eq!(out[1].problems, Vec::<String>::new());
    let smoke = run_smoke(&i, &sets, &out).await;
    assert_eq!(smoke.len(), 1, "{smoke:?}");
    assert!(smoke[0].ok && smoke[0].addon == "fine", "{smoke:?}");
    let progress = i.progress_lines();
    for want in [
        "Deployment fine/fine ready",
        "fine installed",
        "smoke fine passed: fine answers",
    ] {
        assert!(
            progress.iter().any(|p| p == want),
            "{want:?} in {progress:?}"
        );
    }
    // The failure is streamed as it happens, not only in the final report.
    assert!(
        progress
            .iter()
            .any(|p| p.starts_with("broken NOT READY: Deployment broken/needs-secret")),
        "{progress:?}"
    );
    server.finish();
}
