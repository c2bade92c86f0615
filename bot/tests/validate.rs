//! `ake-bot validate` against real Kubernetes schemas (kubernetes-validate's sets, installed by
//! scripts/with-schemas), the project's real renders, and a hand-written bundle that is wrong
//! in known ways; and side by side with kubernetes-validate on the same files.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;

use ake_bot_testkit::{fixtures_dir, kubernetes_validate, schemas_dir, Bot, ConfigRepo, Run};
use serde_json::Value;

/// The project's config with release branches cut, optionally plus the `tenant-extras` bundle
/// of bad manifests (committed before the cut, so every branch has it).
fn repo(with_extras: bool) -> ConfigRepo {
    let repo = ConfigRepo::from_project();
    if with_extras {
        let bundle = repo
            .read("bundles/cert-manager/bundle.yaml")
            .replace("namespace: cert-manager", "namespace: tenant-extras")
            .replace(
                "description: X.509 certificates for tenant workloads (ACME, CA and self-signed issuers).",
                "description: Tenant extras, hand-written for validate's tests.",
            );
        repo.write("bundles/tenant-extras/bundle.yaml", &bundle);
        repo.write(
            "bundles/tenant-extras/rendered/manifests.yaml",
            &std::fs::read_to_string(fixtures_dir().join("validate/tenant-extras.yaml")).unwrap(),
        );
    }
    repo.git_init();
    for minor in ["1.32", "1.31", "1.24"] {
        repo.cut_release_branch(minor);
    }
    repo
}

fn validate(repo: &ConfigRepo, args: &[&str]) -> (Run, Value) {
    json_run(
        bin()
            .arg("validate")
            .args(args)
            .args(["--output", "json", "--repo"])
            .arg(repo.path())
            .arg("--schemas")
            .arg(schemas_dir()),
    )
}

fn bin() -> Bot {
    Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
}

/// Run the binary; its stdout must be one JSON document, the output envelope. Returns its
/// `data`.
fn json_run(cmd: Bot) -> (Run, Value) {
    let run = cmd.run();
    let json: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    assert_eq!(json["exit_code"].as_i64(), Some(i64::from(run.code)));
    (run, json["data"].clone())
}

/// The findings of `branch` as `severity check object: message` lines.
fn findings(report: &Value, branch: &str) -> Vec<String> {
    let b = report
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["branch"] == branch)
        .unwrap_or_else(|| panic!("no report for {branch}: {report:#}"));
    b["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {}: {}",
                f["severity"].as_str().unwrap(),
                f["check"].as_str().unwrap(),
                f["object"].as_str().unwrap_or("-"),
                f["message"].as_str().unwrap()
            )
        })
        .collect()
}

fn has(list: &[String], needle: &str) -> bool {
    list.iter().any(|l| l.contains(needle))
}

#[test]
fn the_projects_real_renders_validate_on_every_branch_kubernetes_validate_covers() {
    let repo = repo(false);
    let (run, report) = validate(&repo, &["--all"]);
    for branch in ["main", "release-1.32", "release-1.31"] {
        let f = findings(&report, branch);
        assert!(f.is_empty(), "{branch}: {f:#?}");
        let b = report
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["branch"] == branch)
            .unwrap();
        assert_eq!(
            b["objects"], 242,
            "all four bundles' objects were checked on {branch}"
        );
    }
    // 1.24: no schema set for it, and Argo CD's chart refuses it: both said plainly.
    let f = findings(&report, "release-1.24");
    assert!(
        has(&f, "error schemas -: no Kubernetes 1.24 schemas in"),
        "{f:#?}"
    );
    assert!(has(&f, "(it has 1.25–1.37)"), "{f:#?}");
    assert!(
        has(&f, "error kube-version -: argo-cd 7.8.27: chart requires kubeVersion >=1.25.0-0, branch runs v1.24.0"),
        "{f:#?}"
    );
    assert_eq!(run.code, 1, "errors on release-1.24 fail the run");
}

#[test]
fn each_bad_manifest_is_caught_with_a_precise_message() {
    let repo = repo(true);
    let (run, report) = validate(&repo, &["--branch", "main"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let f = findings(&report, "main");
    let expect = [
        "error removed-api PodSecurityPolicy tenant-restricted: policy/v1beta1 PodSecurityPolicy was removed in Kubernetes 1.25; use Pod Security Admission",
        "error removed-api FlowSchema tenant-batch: flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema was removed in Kubernetes 1.32; use flowcontrol.apiserver.k8s.io/v1 FlowSchema",
        "error custom-resource Certificate.cert-manager.io tenant-extras/web: /spec: Additional properties are not allowed ('renewBeforeExpiry' was unexpected) (CRD certificates.cert-manager.io)",
        "error unknown-kind Widget.widgets.example.com tenant-extras/sprocket: no Kubernetes 1.33 schema for widgets.example.com/v1 Widget, and no bundle of the branch ships a CustomResourceDefinition for Widget in group \"widgets.example.com\"",
        "error schema Deployment tenant-extras/web: /spec/replicas: \"three\" is not of type",
        "error schema Deployment tenant-extras/web: /spec/template/spec/containers/0/readinessProbe: Additional properties are not allowed ('initialDelaySecond' was unexpected)",
        "error namespace ConfigMap nowhere/web-config: namespace \"nowhere\" is created by no bundle of main",
        "error duplicate ServiceAccount cert-manager/cert-manager: also defined by bundle cert-manager",
    ];
    for e in expect {
        assert!(has(&f, e), "missing {e:?} in {f:#?}");
    }
    assert!(
        !has(&f, "web-settings"),
        "the good object is not flagged: {f:#?}"
    );
    // Located: the file and the document each object is in.
    let cert = report[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["check"] == "custom-resource")
        .unwrap();
    assert_eq!(
        cert["file"],
        "bundles/tenant-extras/rendered/manifests.yaml"
    );
    assert_eq!(cert["doc"], 3);
    assert_eq!(cert["line"], 34, "its apiVersion line");
}

#[test]
fn the_same_manifest_passes_on_one_branch_and_fails_on_another() {
    let repo = repo(true);
    let (_, report) = validate(
        &repo,
        &["--branch", "release-1.31", "--branch", "release-1.32"],
    );
    let (f31, f32) = (
        findings(&report, "release-1.31"),
        findings(&report, "release-1.32"),
    );
    assert!(
        has(&f31, "warning deprecated-api FlowSchema tenant-batch: flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema is deprecated and goes away in Kubernetes 1.32"),
        "{f31:#?}"
    );
    assert!(!has(&f31, "error removed-api FlowSchema"), "{f31:#?}");
    assert!(
        has(&f32, "error removed-api FlowSchema tenant-batch"),
        "{f32:#?}"
    );
}

#[test]
fn github_actions_get_annotations_and_a_step_summary() {
    let repo = repo(true);
    let summary = tempfile::NamedTempFile::new().unwrap();
    let run: Run = bin()
        .args(["validate"])
        .repo(repo.path())
        .arg("--schemas")
        .arg(schemas_dir())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.path())
        .run();
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains(
            "::error file=bundles/tenant-extras/rendered/manifests.yaml,line=57,title=ake-bot validate%3A main::Deployment tenant-extras/web: /spec/replicas: "
        ),
        "{}",
        run.stdout
    );
    let table = std::fs::read_to_string(summary.path()).unwrap();
    assert!(table.contains("| `main` | 1.33 | 5 | 250 |"), "{table}");

    // With JSON output, stdout stays one document: the annotations go to stderr.
    let summary = tempfile::NamedTempFile::new().unwrap();
    let run: Run = bin()
        .args(["validate", "--output", "json"])
        .repo(repo.path())
        .arg("--schemas")
        .arg(schemas_dir())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.path())
        .run();
    assert_eq!(run.code, 1);
    let doc: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(
        (doc["command"].as_str(), doc["exit_code"].as_i64()),
        (Some("validate"), Some(1))
    );
    assert!(
        run.stderr
            .contains("::error file=bundles/tenant-extras/rendered/manifests.yaml,line=57,"),
        "{}",
        run.stderr
    );
}

/// kubernetes-validate (the reference) and ake-bot agree on which built-in objects fail, for
/// every minor both know, on the real renders and the bad manifests alike.
#[test]
fn agrees_with_kubernetes_validate_on_the_same_files() {
    let repo = repo(true);
    let files: Vec<String> = [
        "argo-cd",
        "cert-manager",
        "kube-prometheus-stack",
        "tenant-extras",
    ]
    .iter()
    .map(|b| {
        repo.path()
            .join(format!("bundles/{b}/rendered/manifests.yaml"))
            .display()
            .to_string()
    })
    .collect();
    for (branch, minor) in [
        ("main", "1.33"),
        ("release-1.32", "1.32"),
        ("release-1.31", "1.31"),
    ] {
        let out = std::process::Command::new(kubernetes_validate())
            .args(["--strict", "-k", &format!("{minor}.0")])
            .args(&files)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // "ERROR <file> did not validate for resource deployment/web against version 1.32: …"
        let reference: BTreeSet<String> = text
            .lines()
            .filter(|l| l.starts_with("ERROR "))
            .filter_map(|l| l.split(" for resource ").nth(1))
            .filter_map(|r| r.split_whitespace().next())
            .map(str::to_string)
            .collect();
        let checked = text
            .lines()
            .filter(|l| l.starts_with("INFO ") || l.starts_with("ERROR "))
            .count();
        assert!(
            checked > 150,
            "kubernetes-validate checked {checked} objects on {minor}:\n{text}"
        );

        let (_, report) = validate(&repo, &["--branch", branch]);
        let ours: BTreeSet<String> = report[0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check"] == "schema")
            .map(|f| {
                // "Deployment tenant-extras/web" → "deployment/web"
                let o = f["object"].as_str().unwrap();
                let (kind, rest) = o.split_once(' ').unwrap();
                let name = rest.rsplit('/').next().unwrap();
                format!("{}/{name}", kind.to_lowercase())
            })
            .collect();
        assert_eq!(ours, reference, "Kubernetes {minor}");
        assert!(ours.contains("deployment/web"), "{ours:?}");
    }
}

/// `sync --dry-run` of `addon` on main with the schemas, from an empty cache.
fn sync_main(repo: &ConfigRepo, addon: &str) -> (Run, Value) {
    let cache = tempfile::tempdir().unwrap();
    json_run(
        bin()
            .args(["sync", "--dry-run", "--output", "json"])
            .args(["--addon", addon, "--branch", "main", "--repo"])
            .arg(repo.path())
            .arg("--schemas")
            .arg(schemas_dir())
            .env("AKE_BOT_CACHE_DIR", cache.path()),
    )
}

/// `sync` validates what it proposes, in the context of the branch's other bundles: a second
/// copy of cert-manager would redefine cert-manager's CRDs.
#[test]
fn a_sync_pr_body_carries_the_validation_of_its_branch() {
    let repo = repo(true);
    // The same values as cert-manager's bundle: CRDs included.
    repo.write(
        "bundles/tenant-extras/values.yaml.j2",
        &repo.read("bundles/cert-manager/values.yaml.j2"),
    );
    let (run, plan) = sync_main(&repo, "tenant-extras");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let e = &plan["entries"][0];
    let labels: Vec<&str> = e["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(labels.contains(&"validation-failed"), "{labels:?}");
    let body = e["body"].as_str().unwrap();
    assert!(
        body.contains("### Validation on `main` (Kubernetes 1.33)"),
        "{body}"
    );
    assert!(
        body.contains(
            "**error** `CustomResourceDefinition certificates.cert-manager.io` (document "
        ),
        "{body}"
    );
    assert!(
        body.contains("also defined by bundle cert-manager"),
        "{body}"
    );
}

/// Point `schema_url` at a host and run validate with no schema directory: the cache fills
/// with just the files the objects need (a missing one remembered), then serves later runs.
fn with_schema_url(repo: &ConfigRepo, host: &str, mirror_to: Option<&std::path::Path>) {
    let toml = repo.read("branches.toml").replacen(
        "tag_format = ",
        &format!("schema_url = \"{host}/{{version}}-local-strict/{{file}}\"\ntag_format = "),
        1,
    );
    let toml = match mirror_to {
        Some(dir) => toml.replace(
            "[mirrors]\n",
            &format!("[mirrors]\n\"{host}\" = \"{}\"\n", dir.display()),
        ),
        None => toml,
    };
    repo.write("branches.toml", &toml);
}

fn validate_cached(repo: &std::path::Path, cache: &std::path::Path) -> (Run, Value) {
    json_run(
        bin()
            .args(["validate", "--branch", "main", "--output", "json", "--repo"])
            .arg(repo)
            .env("AKE_BOT_CACHE_DIR", cache),
    )
}

#[test]
fn schemas_come_from_a_url_template_through_a_mirror_into_the_cache() {
    let repo = repo(true);
    with_schema_url(&repo, "https://schemas.example", Some(&schemas_dir()));
    let cache = tempfile::tempdir().unwrap();
    let (run, report) = validate_cached(repo.path(), cache.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let f = findings(&report, "main");
    assert!(
        has(
            &f,
            "error schema Deployment tenant-extras/web: /spec/replicas"
        ),
        "{f:#?}"
    );
    assert!(
        has(&f, "error unknown-kind Widget.widgets.example.com"),
        "{f:#?}"
    );
    let dir = cache.path().join("schemas/v1.33.0-local-strict");
    assert!(dir.join("deployment-apps-v1.json").exists());
    assert!(dir.join("_definitions.json").exists());
    assert!(
        dir.join("widget-widgets-v1.json.missing").exists(),
        "a missing schema is remembered"
    );
    assert!(
        !dir.join("cronjob-batch-v1.json").exists(),
        "only what the objects need"
    );
}

/// `sync` honours `schema_url` as `validate` does: with no schema directory anywhere, the PR
/// body's validation checks built-in kinds against the schemas fetched into the cache.
#[test]
fn a_sync_pr_body_uses_schemas_from_the_url_template() {
    let repo = repo(false);
    with_schema_url(&repo, "https://schemas.example", Some(&schemas_dir()));
    let cache = tempfile::tempdir().unwrap();
    let (run, plan) = json_run(
        bin()
            .args(["sync", "--dry-run", "--output", "json"])
            .args(["--addon", "cert-manager", "--branch", "main"])
            .repo(repo.path())
            .env("AKE_BOT_CACHE_DIR", cache.path()),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let body = plan["entries"][0]["body"].as_str().unwrap();
    assert!(
        body.contains("No problems: Kubernetes 1.33 schemas (strict),"),
        "{body}"
    );
    assert!(!body.contains("Built-in kinds were not checked"), "{body}");
    let dir = cache.path().join("schemas/v1.33.0-local-strict");
    assert!(
        dir.join("deployment-apps-v1.json").exists(),
        "the schemas the proposed render needs were fetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_fetched_over_http_are_cached_for_the_next_run() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    struct Files {
        root: std::path::PathBuf,
        hits: Arc<AtomicUsize>,
    }
    impl wiremock::Respond for Files {
        fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
            self.hits.fetch_add(1, Ordering::SeqCst);
            match std::fs::read(self.root.join(req.url.path().trim_start_matches('/'))) {
                Ok(b) => wiremock::ResponseTemplate::new(200).set_body_bytes(b),
                Err(_) => wiremock::ResponseTemplate::new(404),
            }
        }
    }
    let server = wiremock::MockServer::start().await;
    let hits = Arc::new(AtomicUsize::new(0));
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(Files {
            root: schemas_dir(),
            hits: hits.clone(),
        })
        .mount(&server)
        .await;
    let repo = repo(false);
    with_schema_url(&repo, &server.uri(), None);
    repo.git(&["commit", "-q", "-am", "schema_url"]);
    let cache = tempfile::tempdir().unwrap();
    let (r, c) = (repo.path().to_path_buf(), cache.path().to_path_buf());
    let run = move || {
        let (r, c) = (r.clone(), c.clone());
        tokio::task::spawn_blocking(move || validate_cached(&r, &c))
    };
    let (first, report) = run().await.unwrap();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(findings(&report, "main").is_empty(), "{report:#}");
    let fetched = hits.load(Ordering::SeqCst);
    assert!(fetched > 10, "{fetched} schema files fetched");
    let (second, _) = run().await.unwrap();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        fetched,
        "the second run fetched nothing"
    );
}

/// The removed-API table against the real schema sets: every removal kubernetes-validate's
/// sets cover (1.26–1.37) is confirmed by the schema being there the minor before and gone in
/// the minor of removal.
#[test]
fn the_removed_api_table_agrees_with_the_schema_sets() {
    let root = schemas_dir();
    let mut confirmed = 0;
    for api in ake_bot::apis::API_KINDS {
        let Some(removed) = api.removed else { continue };
        if removed.minor < 26 || removed.minor > 37 {
            continue;
        }
        let file = ake_bot::validate::file_name(api.group_version, api.kind);
        let set = |minor: u32| root.join(format!("v1.{minor}.0-local-strict")).join(&file);
        assert!(
            set(removed.minor - 1).exists(),
            "{} {} should still be served in 1.{}",
            api.group_version,
            api.kind,
            removed.minor - 1
        );
        assert!(
            !set(removed.minor).exists(),
            "{} {} should be gone in {removed}",
            api.group_version,
            api.kind
        );
        confirmed += 1;
    }
    assert!(confirmed >= 4, "only {confirmed} removals checked");
}

#[test]
fn a_secret_a_workload_needs_must_be_rendered_created_by_a_hook_or_a_fixture() {
    let repo = repo(false);
    // As committed: grafana-admin comes from kube-prometheus-stack's e2e fixture; certgen's
    // kps-admission and Argo CD's argocd-redis are created by hook Jobs at install time.
    let (run, report) = validate(&repo, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!has(&findings(&report, "main"), "reference"), "{report:#}");

    std::fs::remove_file(repo.path().join("e2e/kube-prometheus-stack/fixtures.yaml")).unwrap();
    let (run, report) = validate(&repo, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let f = findings(&report, "main");
    assert_eq!(
        f.iter().filter(|l| l.contains(" reference ")).count(),
        1,
        "{f:#?}"
    );
    assert!(
        has(
            &f,
            "error reference Deployment monitoring/kube-prometheus-stack-grafana: needs Secret monitoring/grafana-admin, which no bundle of main renders, no hook creates and no e2e fixture provides (e2e/kube-prometheus-stack/fixtures.yaml)"
        ),
        "{f:#?}"
    );
}

/// A PR's custom resources are checked against the CRDs the *other* bundles of its branch
/// ship, which planning keeps in compact form: cert-manager's ServiceMonitor against
/// kube-prometheus-stack's CRD, with an interval the CRD's pattern refuses.
#[test]
fn a_sync_pr_checks_its_custom_resources_against_crds_of_other_bundles() {
    let repo = repo(false);
    repo.edit(
        "bundles/cert-manager/values.yaml.j2",
        "prometheus:\n  enabled: true\n",
        "prometheus:\n  enabled: true\n  servicemonitor:\n    enabled: true\n    interval: soon\n",
    );
    let (run, plan) = sync_main(&repo, "cert-manager");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let e = &plan["entries"][0];
    let body = e["body"].as_str().unwrap();
    let line = body
        .lines()
        .find(|l| l.contains("`ServiceMonitor.monitoring.coreos.com cert-manager/"))
        .unwrap_or_else(|| panic!("no ServiceMonitor finding in:\n{body}"));
    assert!(line.starts_with("- **error**"), "{line}");
    assert!(line.contains("\"soon\" does not match"), "{line}");
    assert!(
        line.contains("(CRD servicemonitors.monitoring.coreos.com)"),
        "{line}"
    );
}

/// `validate` checks a branch one bundle at a time, that bundle whole among the others held
/// without their CRDs (kept compact): what it finds is what checking every render whole at
/// once finds, bad manifests, duplicates, custom resources and policy violations alike.
#[test]
fn checking_a_branch_bundle_by_bundle_finds_what_checking_it_whole_finds() {
    use ake_bot::config::{load_bundles, load_train};
    use ake_bot::git::Tree;
    use ake_bot::validate::{
        check_branch, check_bundle, check_policies, parse_committed, parse_renders, parse_siblings,
        BundleRender, Check, Policies, SchemaStore,
    };
    let repo = repo(true).with_policies();
    let bundles = load_bundles(&Tree::Dir(repo.path().to_path_buf())).unwrap();
    let train = load_train(repo.path()).unwrap();
    let store = SchemaStore::new(schemas_dir());
    let policies = Policies::load(&bundles.policies);
    for branch in &train.branches {
        let parsed = parse_renders(&bundles.loaded);
        let renders: Vec<BundleRender<'_>> = parsed
            .iter()
            .map(|(b, m)| BundleRender {
                bundle: b,
                manifests: m.as_ref().map_err(Clone::clone),
                crds: &[],
            })
            .collect();
        let mut whole = check_branch(branch, &renders, Some(&store));
        let (mut violations, mut whole_exempt) = check_policies(&policies, &renders);
        whole.append(&mut violations);
        whole.sort();
        whole_exempt.sort();

        let siblings = parse_siblings(&bundles.loaded);
        let (mut each, mut each_exempt) = (Vec::new(), Vec::new());
        for (i, lb) in bundles.loaded.iter().enumerate() {
            let own = parse_committed(lb);
            let (mut f, mut e) = check_bundle(
                branch,
                &siblings,
                lb.bundle.name.as_str(),
                own.as_ref().map_err(Clone::clone),
                Some(&store),
                &policies,
                i == 0,
            );
            each.append(&mut f);
            each_exempt.append(&mut e);
        }
        each.sort();
        each_exempt.sort();

        // Not vacuous: the extras bundle is wrong in known ways, and the policies object.
        let checks: BTreeSet<String> = whole.iter().map(|f| format!("{:?}", f.check)).collect();
        for check in [Check::Duplicate, Check::Policy] {
            assert!(
                checks.contains(&format!("{check:?}")),
                "{}: no {check:?} finding to compare among {checks:?}",
                branch.name
            );
        }
        if branch.name.as_str() == "main" {
            assert!(checks.contains("Schema"), "{checks:?}");
        }
        assert_eq!(each, whole, "{}", branch.name);
        assert_eq!(each_exempt, whole_exempt, "{}", branch.name);
    }
}
