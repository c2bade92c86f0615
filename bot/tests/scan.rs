//! `ake-bot scan` against the test kit's fake Kubernetes API: objects in the shapes a real API
//! server returns (managedFields as server-side apply and controllers write them, the
//! last-applied annotation `kubectl apply` writes, Helm 3 release secrets byte for byte), read
//! through discovery and paged lists, never written to.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};

use ake_bot_testkit::kube::{helm_release_secret, FakeKube, FakeKubeServer};
use ake_bot_testkit::{Bot, Run};
use serde_json::{json, Value};

/// A kubeconfig for `server` (bearer token, as a ServiceAccount's would be).
fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\n\
             contexts:\n- name: scanner@fake\n  context:\n    cluster: fake\n    user: scanner\n\
             current-context: scanner@fake\nusers:\n- name: scanner\n  user:\n    token: fake-sa-token\n"
        ),
    )
    .unwrap();
    path
}

/// Run `ake-bot scan --target TARGET [extra]` against the fake; the run and the fake's state.
async fn scan(kube: FakeKube, target: &str, extra: &[&str]) -> (Run, FakeKube) {
    let server = FakeKubeServer::start(kube).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path(), &server.uri());
    let bot = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(["scan", "--target", target])
        .args(extra)
        .env("KUBECONFIG", &kc);
    let run = tokio::task::spawn_blocking(move || bot.run())
        .await
        .unwrap();
    let state = std::mem::take(&mut *server.state());
    assert!(
        state.violations.is_empty(),
        "the fake saw requests it does not serve: {:?}",
        state.violations
    );
    assert!(
        state.log.is_empty(),
        "scan wrote to the cluster: {:?}",
        state.log
    );
    (run, state)
}

fn field_manager(manager: &str, operation: &str, api_version: &str, fields: Value) -> Value {
    json!({"manager": manager, "operation": operation, "apiVersion": api_version,
        "time": "2022-06-01T09:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields})
}

/// What every cluster has: namespaces, a clean Deployment applied client-side with apps/v1.
fn baseline(k: &mut FakeKube) {
    for ns in ["default", "kube-system", "shop", "ops", "monitoring"] {
        k.seed(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns},
                "managedFields": [field_manager("kubectl-create", "Update", "v1",
                    json!({"f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}}))]},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}));
    }
    let last_applied = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"annotations": {}, "name": "web", "namespace": "shop"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"image": "nginx:1.25", "name": "web"}]}}}});
    k.seed(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "generation": 3,
            "annotations": {"deployment.kubernetes.io/revision": "3",
                "kubectl.kubernetes.io/last-applied-configuration": last_applied.to_string()},
            "managedFields": [
                field_manager("kubectl-client-side-apply", "Update", "apps/v1",
                    json!({"f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                        "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})),
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
                    "time": "2024-01-10T12:00:00Z", "fieldsType": "FieldsV1", "subresource": "status",
                    "fieldsV1": {"f:status": {"f:availableReplicas": {}, "f:readyReplicas": {}, "f:replicas": {}}}}
            ]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"image": "nginx:1.25", "name": "web"}]}}},
        "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2}}));
}

/// A 1.24 cluster about to go to 1.25, where each source names a removed API:
/// - PodDisruptionBudget shop/web: read back as policy/v1, but `kubectl apply --server-side`
///   applied it as policy/v1beta1: only its managedFields say so (pluto and kubent miss it);
/// - CronJob ops/backup: created with client-side `kubectl apply` as batch/v1beta1 before
///   managedFields existed (1.17); since then only the CronJob controller wrote it, as batch/v1;
/// - Helm release monitoring/prometheus: revision 2's manifest has a policy/v1beta1 PDB (the
///   live object's managedFields say so too); revision 1's extensions/v1beta1 Ingress is history.
fn cluster_124() -> FakeKube {
    let mut k = FakeKube::at_minor(24);
    baseline(&mut k);
    k.seed(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "shop", "generation": 1,
            "creationTimestamp": "2022-06-01T09:00:00Z",
            "managedFields": [
                field_manager("kubectl", "Apply", "policy/v1beta1",
                    json!({"f:spec": {"f:minAvailable": {}, "f:selector": {}}})),
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "policy/v1",
                    "time": "2024-01-10T12:00:00Z", "fieldsType": "FieldsV1", "subresource": "status",
                    "fieldsV1": {"f:status": {"f:conditions": {".": {}, "k:{\"type\":\"DisruptionAllowed\"}": {".": {}, "f:status": {}, "f:type": {}}},
                        "f:currentHealthy": {}, "f:desiredHealthy": {}, "f:disruptionsAllowed": {}, "f:expectedPods": {}, "f:observedGeneration": {}}}}
            ]},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"currentHealthy": 2, "desiredHealthy": 1, "disruptionsAllowed": 1, "expectedPods": 2, "observedGeneration": 1}}));
    let backup = json!({"apiVersion": "batch/v1beta1", "kind": "CronJob",
        "metadata": {"annotations": {}, "name": "backup", "namespace": "ops"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "backup", "image": "restic/restic:0.16.4"}], "restartPolicy": "OnFailure"}}}}}});
    k.seed(json!({"apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "backup", "namespace": "ops",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": format!("{backup}\n")},
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "batch/v1",
                "time": "2024-02-01T03:00:00Z", "fieldsType": "FieldsV1", "subresource": "status",
                "fieldsV1": {"f:status": {"f:lastScheduleTime": {}, "f:lastSuccessfulTime": {}}}}]},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "backup", "image": "restic/restic:0.16.4"}], "restartPolicy": "OnFailure"}}}}}}));
    k.seed(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "prometheus", "namespace": "monitoring",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": "prometheus", "meta.helm.sh/release-namespace": "monitoring"},
            "managedFields": [field_manager("helm", "Update", "policy/v1beta1",
                json!({"f:metadata": {"f:annotations": {".": {}, "f:meta.helm.sh/release-name": {}, "f:meta.helm.sh/release-namespace": {}},
                    "f:labels": {".": {}, "f:app.kubernetes.io/managed-by": {}}}, "f:spec": {"f:maxUnavailable": {}, "f:selector": {}}}))]},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "prometheus"}}}}));
    k.seed(helm_release_secret(
        "prometheus",
        "monitoring",
        1,
        "superseded",
        ("prometheus", "15.0.0"),
        "---\n# Source: prometheus/templates/ingress.yaml\napiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: prometheus\n  labels:\n    app: prometheus\nspec:\n  rules:\n  - host: prometheus.example.com\n",
    ));
    k.seed(helm_release_secret(
        "prometheus",
        "monitoring",
        2,
        "deployed",
        ("prometheus", "15.18.0"),
        "---\n# Source: prometheus/templates/pdb.yaml\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: prometheus\n  labels:\n    app: prometheus\nspec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app: prometheus\n---\n# Source: prometheus/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: prometheus\nspec:\n  selector:\n    matchLabels:\n      app: prometheus\n  template:\n    metadata:\n      labels:\n        app: prometheus\n    spec:\n      containers:\n      - name: prometheus\n        image: quay.io/prometheus/prometheus:v2.45.0\n",
    ));
    k
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_written_with_a_removed_api_is_found_through_every_source() {
    let (run, state) = scan(cluster_124(), "1.25", &[]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    // The must-have: known only from managedFields (it reads back as policy/v1).
    assert!(
        out.contains("PodDisruptionBudget shop/web\n      policy/v1beta1 managedFields: manager kubectl (Apply): removed in 1.25; use policy/v1 PodDisruptionBudget"),
        "{out}"
    );
    assert!(
        out.contains(
            "CronJob ops/backup\n      batch/v1beta1 last-applied-configuration: removed in 1.25"
        ),
        "{out}"
    );
    assert!(
        out.contains("Helm release monitoring/prometheus revision 2: removed in 1.25"),
        "{out}"
    );
    // One entry for the Helm-managed PDB, with both of its sources.
    assert_eq!(
        out.matches("PodDisruptionBudget monitoring/prometheus")
            .count(),
        1,
        "{out}"
    );
    assert!(
        out.contains("managedFields: manager helm (Update)"),
        "{out}"
    );
    // Only a release's latest revision counts.
    assert!(!out.contains("extensions/v1beta1"), "{out}");
    assert!(!out.contains("Deployment shop/web"), "{out}");
    assert!(out.starts_with("Kubernetes v1.24.7 → 1.25:"), "{out}");
    assert!(out.contains("1 Helm release(s)"), "{out}");
    // Discovery and lists only; every list spans all namespaces.
    assert!(
        state
            .lists
            .iter()
            .any(|l| l.starts_with("/api/v1/secrets?")),
        "{:?}",
        state.lists
    );
    assert!(
        state
            .lists
            .iter()
            .all(|l| !l.contains("/namespaces/") && l.contains("limit=")),
        "{:?}",
        state.lists
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_is_the_output_contracts_envelope() {
    let (run, _) = scan(cluster_124(), "1.25", &["--output", "json"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["command"], "scan");
    assert_eq!(v["type"], "report");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["data"]["removed"], 3);
    assert_eq!(v["data"]["target"], "1.25");
    insta::assert_snapshot!("scan-json", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn markdown_is_one_table_row_per_source() {
    let (run, _) = scan(cluster_124(), "1.25", &["--output", "markdown"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    insta::assert_snapshot!("scan-markdown", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clean_cluster_exits_0_and_large_lists_are_paged() {
    let mut k = FakeKube::at_minor(30);
    baseline(&mut k);
    for i in 0..600 {
        k.seed(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i:03}"), "namespace": "shop",
                "managedFields": [field_manager("kubectl", "Apply", "v1", json!({"f:data": {"f:k": {}}}))]},
            "data": {"k": "v"}}));
    }
    let (run, state) = scan(k, "1.31", &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("No object was written with an API that 1.31 removes or deprecates."),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(" 606 objects in "), "{}", run.stdout);
    let pages: Vec<&String> = state
        .lists
        .iter()
        .filter(|l| l.starts_with("/api/v1/configmaps?"))
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages[1].contains("continue=fake-continue-"), "{pages:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deprecated_api_is_a_warning_and_exits_0() {
    let mut k = FakeKube::at_minor(24);
    baseline(&mut k);
    k.seed(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop",
            "managedFields": [field_manager("kubectl", "Apply", "autoscaling/v2beta2",
                json!({"f:spec": {"f:maxReplicas": {}, "f:minReplicas": {}, "f:scaleTargetRef": {}, "f:metrics": {}}}))]},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}}));
    let (run, _) = scan(k, "1.25", &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("Deprecated: removed within 3 minors after 1.25 (1):"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("HorizontalPodAutoscaler shop/web\n      autoscaling/v2beta2 managedFields: manager kubectl (Apply): deprecated, removed in 1.26; use autoscaling/v2 HorizontalPodAutoscaler"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Removed in"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forbidden_resource_type_is_a_note_and_the_rest_is_scanned() {
    let mut k = cluster_124();
    k.forbidden.push("secrets".into());
    let (run, state) = scan(k, "1.25", &[]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(out.contains("PodDisruptionBudget shop/web"), "{out}");
    assert!(out.contains("CronJob ops/backup"), "{out}");
    assert!(!out.contains("Helm release monitoring/prometheus"), "{out}");
    assert!(out.contains("Helm releases not checked"), "{out}");
    assert!(
        out.contains("Notes:\n  could not list secrets: forbidden\n"),
        "{out}"
    );
    assert!(state
        .lists
        .iter()
        .any(|l| l.starts_with("/apis/apps/v1/deployments?")));
}

#[test]
fn an_unreachable_cluster_is_exit_2_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path(), "http://127.0.0.1:9");
    let run = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(["scan", "--target", "1.25", "--kubeconfig"])
        .arg(&kc)
        .run();
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("cannot reach the cluster"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&*kc.to_string_lossy()),
        "{}",
        run.stderr
    );
}
