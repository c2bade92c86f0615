//! Upgrade readiness of a tenant's own manifests (`tenant::readiness`) on a fixture tenant
//! repository, with the real helm and kustomize (`scripts/with-helm`), the real Kubernetes
//! 1.31 schemas (`scripts/with-schemas`) and the CRDs of the project's own bundles.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};

use ake_bot::manifest::{crd, CrdChange, Manifests};
use ake_bot::model::KubeMinor;
use ake_bot::render::{Helm, Kubectl};
use ake_bot::tenant::readiness::{check, Fix, Inputs, Item, Readiness, Via};
use ake_bot::validate::{Check, Crds, SchemaStore, Severity};
use ake_bot_testkit::{fixtures_dir, schemas_dir, workspace_root};

fn tenant() -> PathBuf {
    fixtures_dir().join("tenants/readiness/tenant")
}

fn expected(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join("tenants/readiness/expected").join(name)).unwrap()
}

/// The platform's bundles, rendered: their CRDs check the tenant's custom resources.
fn platform() -> Vec<Manifests> {
    let bundles = workspace_root().join("bundles");
    let mut out = Vec::new();
    for e in std::fs::read_dir(bundles).unwrap() {
        let f = e.unwrap().path().join("rendered/manifests.yaml");
        if f.exists() {
            out.push(Manifests::parse(&std::fs::read_to_string(f).unwrap()).unwrap());
        }
    }
    out
}

async fn run(dir: &Path, paths: &[PathBuf], kubectl: Option<&Path>) -> Readiness {
    run_with_changes(dir, paths, kubectl, &[]).await
}

/// As [`run`], with how the platform's CRDs changed since the tenant's tag.
async fn run_with_changes(
    dir: &Path,
    paths: &[PathBuf],
    kubectl: Option<&Path>,
    crd_changes: &[CrdChange],
) -> Readiness {
    let rendered = platform();
    let crds = Crds::collect(
        rendered
            .iter()
            .flat_map(|m| m.objects().iter().map(|o| ("platform", o))),
    );
    let schemas = SchemaStore::new(schemas_dir());
    let helm = Helm::locate().unwrap();
    check(Inputs {
        dir,
        paths,
        target: "1.31".parse::<KubeMinor>().unwrap(),
        schemas: Some(&schemas),
        crds: &crds,
        crd_changes,
        helm: Some(&helm),
        kubectl,
    })
    .await
}

fn find<'a>(r: &'a Readiness, file: &str, object: &str, check: Check) -> &'a Item {
    r.items
        .iter()
        .find(|i| i.file == Path::new(file) && i.object == object && i.check == check)
        .unwrap_or_else(|| panic!("no {check:?} item for {object} in {file}: {r:#?}"))
}

fn fix_of<'a>(r: &'a Readiness, file: &str) -> &'a str {
    let f = r
        .fixes
        .iter()
        .find(|f| f.path == Path::new(file))
        .unwrap_or_else(|| panic!("no rewrite of {file}"));
    std::str::from_utf8(f.content.as_deref().unwrap()).unwrap()
}

#[tokio::test]
async fn a_tenant_repository_is_checked_for_1_31() {
    let kubectl = Kubectl::locate().unwrap();
    let r = run(&tenant(), &[], Some(kubectl.path())).await;
    assert_eq!(r.target, "1.31");

    // policy/v1beta1 PDB with a selector: fixed by rewriting only its apiVersion line.
    let pdb = find(
        &r,
        "apps/payments/pdb.yaml",
        "PodDisruptionBudget payments/api",
        Check::RemovedApi,
    );
    assert_eq!(pdb.severity, Severity::Error);
    assert_eq!(pdb.line, Some(15));
    assert_eq!(pdb.via, Via::File);
    assert_eq!(
        pdb.fix,
        Fix::Committed {
            to: "policy/v1 PodDisruptionBudget".into(),
            note: None
        }
    );
    assert_eq!(fix_of(&r, "apps/payments/pdb.yaml"), expected("pdb.yaml"));

    // Empty selector: v1 would select every pod, so it is left to a person.
    let empty = find(
        &r,
        "apps/payments/pdb-empty.yaml",
        "PodDisruptionBudget payments/batch",
        Check::RemovedApi,
    );
    match &empty.fix {
        Fix::Manual { what } => assert!(what.contains("selects every pod"), "{what}"),
        other => panic!("{other:?}"),
    }
    assert!(!r.fixes.iter().any(|f| f.path.ends_with("pdb-empty.yaml")));

    // autoscaling/v2beta2 HPA: apiVersion only.
    let hpa = find(
        &r,
        "apps/payments/hpa.yaml",
        "HorizontalPodAutoscaler payments/api",
        Check::RemovedApi,
    );
    assert!(
        matches!(&hpa.fix, Fix::Committed { to, note: None } if to == "autoscaling/v2 HorizontalPodAutoscaler")
    );
    assert_eq!(
        fix_of(&r, "apps/payments/hpa.yaml"),
        std::fs::read_to_string(tenant().join("apps/payments/hpa.yaml"))
            .unwrap()
            .replace("autoscaling/v2beta2", "autoscaling/v2")
    );

    // extensions/v1beta1 Ingress: restructured, re-serialised, the ConfigMap before it kept.
    let ing = find(
        &r,
        "apps/web/ingress.yaml",
        "Ingress web/web",
        Check::RemovedApi,
    );
    match &ing.fix {
        Fix::Committed { to, note } => {
            assert_eq!(to, "networking.k8s.io/v1 Ingress");
            assert!(note.as_deref().unwrap().contains("comments"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fix_of(&r, "apps/web/ingress.yaml"),
        expected("ingress.yaml")
    );

    // The rewritten files pass the same engine for 1.31: nothing left on them.
    let fixed = tempfile::tempdir().unwrap();
    for f in &r.fixes {
        let p = fixed.path().join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, f.content.as_deref().unwrap()).unwrap();
    }
    let again = run(fixed.path(), &[], None).await;
    assert!(again.items.is_empty(), "{:#?}", again.items);
    assert_eq!(again.objects, 5);

    // PodSecurityPolicy: nothing to convert to.
    let psp = find(
        &r,
        "cluster/psp.yaml",
        "PodSecurityPolicy restricted",
        Check::RemovedApi,
    );
    assert_eq!(
        psp.fix,
        Fix::Manual {
            what: "PodSecurityPolicy was removed in 1.25 with no replacement API; move to Pod Security Admission".into()
        }
    );

    // Strict schema: an unknown field of a Deployment.
    let dep = find(
        &r,
        "apps/web/deployment.yaml",
        "Deployment web/web",
        Check::Schema,
    );
    assert!(dep.message.contains("imagePullPolicyy"), "{}", dep.message);
    assert_eq!(dep.fix, Fix::None);

    // Custom resources against the platform's CRDs: a typo is an error, the valid one is not.
    let cert = find(
        &r,
        "apps/certs/certificate.yaml",
        "Certificate.cert-manager.io web/typo",
        Check::CustomResource,
    );
    assert!(cert.message.contains("dnsNamez"), "{}", cert.message);
    assert!(!r
        .items
        .iter()
        .any(|i| i.object == "Certificate.cert-manager.io web/web"));

    // Broken YAML: one item for the broken document; the good one in the same file is fine.
    let broken: Vec<&Item> = r
        .items
        .iter()
        .filter(|i| i.file == Path::new("broken/bad.yaml"))
        .collect();
    assert_eq!(broken.len(), 1, "{broken:#?}");
    assert_eq!(broken[0].check, Check::Render);
    assert_eq!(broken[0].object, "document 2");
    assert!(
        broken[0].message.contains("invalid YAML"),
        "{}",
        broken[0].message
    );

    // Flux's Kustomization has no schema and no platform CRD: a note, not an error.
    assert!(
        r.notes.iter().any(|n| n.starts_with("flux/sync.yaml")
            && n.contains("Kustomization.kustomize.toolkit.fluxcd.io flux-system/apps")
            && n.contains("not checked")),
        "{:#?}",
        r.notes
    );
    assert!(!r.items.iter().any(|i| i.file.starts_with("flux")));

    // Kustomize: the leaf overlay only, rendered offline with its base; the remote platform
    // resource dropped and said so; the removed API found in the render, fix suggested.
    let k = find(
        &r,
        "deploy/overlays/prod/kustomization.yaml",
        "PodDisruptionBudget worker-prod/worker",
        Check::RemovedApi,
    );
    assert_eq!(
        k.via,
        Via::Kustomize {
            dir: "deploy/overlays/prod".into()
        }
    );
    match &k.fix {
        Fix::Suggested { to, yaml } => {
            assert_eq!(to, "policy/v1 PodDisruptionBudget");
            assert!(
                yaml.starts_with("apiVersion: policy/v1\nkind: PodDisruptionBudget\n"),
                "{yaml}"
            );
            assert!(yaml.contains("namespace: worker-prod"), "{yaml}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        r.notes.iter().any(|n| n.starts_with("deploy/overlays/prod (kustomize): remote resource https://github.com/acme/platform//bundles/cert-manager/rendered?ref=v1.31.0")),
        "{:#?}",
        r.notes
    );
    assert!(!r.items.iter().any(|i| i.via
        == Via::Kustomize {
            dir: "deploy/base".into()
        }));
    assert!(!r.items.iter().any(|i| i.file.starts_with("deploy/base")));
    assert!(!r.fixes.iter().any(|f| f.path.starts_with("deploy")));

    // Helm: the chart rendered for 1.31 with its default values; its CronJob found.
    let cron = find(
        &r,
        "charts/reports/templates/cronjob.yaml",
        "CronJob reports-nightly",
        Check::RemovedApi,
    );
    assert_eq!(
        cron.via,
        Via::Helm {
            chart: "charts/reports".into()
        }
    );
    assert!(
        matches!(&cron.fix, Fix::Suggested { to, yaml } if to == "batch/v1 CronJob" && yaml.contains("schedule: 0 3 * * *") || yaml.contains("schedule: '0 3 * * *'") || yaml.contains("schedule: \"0 3 * * *\""))
    );
    // A chart whose dependencies are not vendored: a note.
    assert!(
        r.notes
            .iter()
            .any(|n| n.starts_with("charts/needs-deps (helm): not checked") && n.contains("redis")),
        "{:#?}",
        r.notes
    );

    // Found: 2 + 1 + 1 + 2 (ingress.yaml) + 1 + 1 (psp) + 1 (good ConfigMap of bad.yaml) + 1
    // (flux) + 2 (certificates) + 3 (overlay) + 1 (chart).
    assert_eq!(r.objects, 16, "{r:#?}");
    assert!(r.blocking());
    assert_eq!(
        r.errors(),
        r.items
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .count()
    );
    // The report serialises (what a PR body or --output json shows).
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["items"][0]["via"]["kind"], "file");
}

#[tokio::test]
async fn without_kubectl_overlays_are_a_note_and_the_rest_goes_on() {
    let r = run(
        &tenant(),
        &[PathBuf::from("deploy"), PathBuf::from("cluster")],
        None,
    )
    .await;
    assert!(
        r.notes.iter().any(|n| n
            == "deploy/overlays/prod (kustomize): not checked: kubectl not found (set $KUBECTL)"),
        "{:#?}",
        r.notes
    );
    // Only the given paths: the PSP, nothing from apps/ or charts/.
    assert_eq!(r.items.len(), 1, "{:#?}", r.items);
    assert_eq!(r.items[0].object, "PodSecurityPolicy restricted");
    assert!(r.blocking());
}

/// The move's CRD changes reach the tenant's own custom resources: a Certificate that sets a
/// field whose pattern tightens, and one that leaves out a field that becomes required, are
/// each a warning naming the path and the change (they are not errors: the objects are still
/// accepted by the CRD of today, and Kubernetes ratchets unchanged fields).
#[tokio::test]
async fn breaking_crd_changes_name_the_tenants_custom_resources_they_touch() {
    let platform = platform();
    let old = platform
        .iter()
        .flat_map(|m| m.objects())
        .find(|o| {
            o.key.kind == "CustomResourceDefinition" && o.key.name == "certificates.cert-manager.io"
        })
        .unwrap();
    // The same CRD, as if the next tag tightened `secretName` and required `commonName`.
    let mut new = old.clone();
    let versions = new.value["spec"]["versions"].as_array_mut().unwrap();
    let v1 = versions.iter_mut().find(|v| v["name"] == "v1").unwrap();
    let spec = &mut v1["schema"]["openAPIV3Schema"]["properties"]["spec"];
    spec["properties"]["secretName"]["pattern"] = serde_json::json!("^[a-z]+$");
    spec["required"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!("commonName"));
    let change = crd::classify(Some(old), Some(&new)).unwrap();
    assert!(change.is_breaking());

    let r = run_with_changes(&tenant(), &[PathBuf::from("apps/certs")], None, &[change]).await;
    let touched: Vec<String> = r
        .items
        .iter()
        .filter(|i| i.check == Check::CrdChange)
        .map(|i| format!("{:?} {}: {}", i.severity, i.object, i.message))
        .collect();
    assert_eq!(
        touched,
        [
            "Warning Certificate.cert-manager.io web/web: it does not set `spec.commonName`, which is now required",
            "Warning Certificate.cert-manager.io web/web: it sets `spec.secretName`, which must now match the pattern ^[a-z]+$",
            "Warning Certificate.cert-manager.io web/typo: it does not set `spec.commonName`, which is now required",
            "Warning Certificate.cert-manager.io web/typo: it sets `spec.secretName`, which must now match the pattern ^[a-z]+$",
        ],
        "{:#?}",
        r.items
    );
}
