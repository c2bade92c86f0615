//! `ake-bot policy verify` on the real gatekeeper-library (its template, constraints and gator
//! test suites, copied to fixtures/gatekeeper-library), and on broken copies of it; and the
//! policy engine's public API on the same data.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};

use ake_bot::policy::{EnforcementAction, PolicySet};
use ake_bot_testkit::{fixtures_dir, Bot, Run};
use serde_json::{json, Value};

fn bin() -> Bot {
    Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
}

fn library() -> PathBuf {
    fixtures_dir().join("gatekeeper-library/library")
}

/// `policy verify` with JSON output: the run and the envelope's data.
fn verify(args: &[&Path]) -> (Run, Value) {
    let run = bin()
        .args(["--output", "json", "policy", "verify"])
        .args(args)
        .run();
    let json: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    assert_eq!(json["command"], "policy verify");
    assert_eq!(json["exit_code"].as_i64(), Some(i64::from(run.code)));
    (run, json["data"].clone())
}

/// Every failing (suite, test, case, reason) of a report.
fn failures(data: &Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for s in data["suites"].as_array().unwrap() {
        let path = s["path"].as_str().unwrap();
        let rel = path
            .split("gatekeeper-library/library/")
            .last()
            .unwrap_or(path)
            .to_string();
        if let Some(e) = s["error"].as_str() {
            out.push((rel.clone(), String::new(), String::new(), e.to_string()));
        }
        for t in s["tests"].as_array().unwrap() {
            let test = t["name"].as_str().unwrap().to_string();
            if let Some(e) = t["error"].as_str() {
                out.push((rel.clone(), test.clone(), String::new(), e.to_string()));
            }
            for c in t["cases"].as_array().unwrap() {
                if let Some(e) = c["error"].as_str() {
                    let case = c["name"].as_str().unwrap().to_string();
                    out.push((rel.clone(), test.clone(), case, e.to_string()));
                }
            }
        }
    }
    out
}

/// Suites of the library that do not pass, each with what the reason must say (README,
/// "Gatekeeper library suites that do not pass"): gator evaluates a template that carries CEL
/// with its CEL (engine K8sNativeValidation takes precedence); ake-bot evaluates the Rego, and
/// this template's Rego denies runAsGroup under rule RunAsAny (`params.ranges` is undefined, so
/// `not accept_value(…)` holds, in OPA as here).
const EXPECTED_FAILURES: &[(&str, &str, &str, &str)] = &[(
    "pod-security-policy/users/suite.yaml",
    "users-and-groups-together",
    "example-allowed",
    "disallowed group 1000. Allowed runAsGroup",
)];

#[test]
fn the_gatekeeper_library_suites_pass() {
    let (run, data) = verify(&[&library()]);
    let t = &data["totals"];
    assert_eq!(
        t["suites"],
        json!({"run": 37, "passed": 36, "failed": 1, "skipped": 0}),
        "{}",
        run.stdout
    );
    assert_eq!(
        t["tests"],
        json!({"run": 53, "passed": 52, "failed": 1, "skipped": 0})
    );
    assert_eq!(
        t["cases"],
        json!({"run": 205, "passed": 204, "failed": 1, "skipped": 0})
    );
    let got = failures(&data);
    assert_eq!(got.len(), EXPECTED_FAILURES.len(), "{got:#?}");
    for ((suite, test, case, reason), (want_suite, want_test, want_case, want_reason)) in
        got.iter().zip(EXPECTED_FAILURES)
    {
        assert_eq!(
            (suite.as_str(), test.as_str(), case.as_str()),
            (*want_suite, *want_test, *want_case)
        );
        assert!(reason.contains(want_reason), "{reason}");
    }
    // Only the expected failures: exit 1.
    assert_eq!(run.code, 1, "{}", run.stderr);

    // Suites with an AdmissionReview (UPDATE), an inventory, and a message assertion ran.
    let suite = |name: &str| {
        data["suites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    let volumes = suite("volumes");
    let update = volumes["tests"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "update")
        .unwrap();
    assert_eq!(update["error"], Value::Null);
    let storage = suite("storageclass");
    assert!(storage["tests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["error"].is_null()));
    // The HPA template's format has a verb more than its arguments: Go's `%!v(MISSING)`.
    let hpa = suite("horizontalpodautoscaler");
    let replicas = hpa["tests"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "example-disallowed-hpa-replicas")
        .unwrap();
    assert!(
        replicas["violations"][0]
            .as_str()
            .unwrap()
            .ends_with("Allowed ranges: %!v(MISSING)"),
        "{replicas}"
    );
}

#[test]
fn text_output_says_ok_or_fail_per_suite_test_and_case() {
    let run = bin()
        .args(["policy", "verify"])
        .arg(library().join("general/requiredlabels"))
        .run();
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let dir = library().join("general/requiredlabels/suite.yaml");
    assert!(run
        .stdout
        .starts_with(&format!("ok   {} (requiredlabels)\n", dir.display())));
    assert!(run.stdout.contains("\n  ok   must-have-owner\n"));
    assert!(run
        .stdout
        .contains("\n    ok   example-disallowed-label-value\n"));
    assert!(run.stdout.ends_with(
        "suites: 1 passed, 0 failed; tests: 2 passed, 0 failed; cases: 5 passed, 0 failed\n"
    ));
}

/// A scratch copy of one library policy directory.
fn copy_policy(rel: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join(Path::new(rel).file_name().unwrap());
    copy_dir(&library().join(rel), &to);
    (tmp, to)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_wrong_assertion_fails_and_names_suite_test_and_case() {
    let (_tmp, dir) = copy_policy("general/requiredlabels");
    let suite = dir.join("suite.yaml");
    edit(
        &suite,
        "  - name: example-allowed\n    object: samples/all-must-have-owner/example_allowed.yaml\n    assertions:\n    - violations: no",
        "  - name: example-allowed\n    object: samples/all-must-have-owner/example_allowed.yaml\n    assertions:\n    - violations: yes",
    );
    let run = bin().args(["policy", "verify"]).arg(&dir).run();
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run
        .stdout
        .contains(&format!("FAIL {} (requiredlabels)\n", suite.display())));
    assert!(run.stdout.contains("\n  FAIL must-have-owner\n"));
    assert!(
        run.stdout.contains(
            "\n    FAIL example-allowed: unexpected number of violations: got 0 violations but \
             want at least 1: got messages []\n"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\n  ok   must-have-key\n"));

    // A message assertion counts only the violations whose message matches.
    let (_tmp, dir) = copy_policy("general/requiredlabels");
    edit(
        &dir.join("suite.yaml"),
        "  - name: example-disallowed\n    object: samples/all-must-have-owner/example_disallowed.yaml\n    assertions:\n    - violations: yes",
        "  - name: example-disallowed\n    object: samples/all-must-have-owner/example_disallowed.yaml\n    assertions:\n    - violations: 1\n      message: nothing-says-this",
    );
    let (run, data) = verify(&[&dir]);
    assert_eq!(run.code, 1);
    let f = failures(&data);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].2, "example-disallowed");
    assert!(
        f[0].3
            .contains(r#"got 0 violations containing "nothing-says-this" but want exactly 1"#),
        "{}",
        f[0].3
    );
}

#[test]
fn a_broken_template_fails_its_tests_only() {
    let (tmp, good) = copy_policy("general/requiredlabels");
    let broken = tmp.path().join("broken");
    copy_dir(&library().join("general/allowedrepos"), &broken);
    edit(
        &broken.join("template.yaml"),
        "violation[{\"msg\": msg}] {",
        "violation[{\"msg\": msg}] { {",
    );
    let (run, data) = verify(&[tmp.path()]);
    assert_eq!(run.code, 1);
    let f = failures(&data);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].2, "", "a test-level failure");
    assert!(f[0]
        .3
        .contains("ConstraintTemplate k8sallowedrepos: rego does not parse"));
    assert!(f[0]
        .3
        .contains(&format!("{}", broken.join("template.yaml").display())));
    assert_eq!(data["totals"]["suites"]["passed"], 1);
    assert!(good.exists());
}

/// The requiredlabels template less its Rego: only the CEL (K8sNativeValidation) code.
fn cel_only_template() -> String {
    let text =
        std::fs::read_to_string(library().join("general/requiredlabels/template.yaml")).unwrap();
    let mut doc: Value = ake_bot::yaml::from_str(&text).unwrap();
    let code = doc["spec"]["targets"][0]["code"].as_array_mut().unwrap();
    code.retain(|c| c["engine"] != "Rego");
    assert_eq!(code.len(), 1);
    ake_bot::yaml::to_string(&doc).unwrap()
}

#[test]
fn a_cel_only_template_is_not_evaluated_and_says_so() {
    let (_tmp, dir) = copy_policy("general/requiredlabels");
    std::fs::write(dir.join("template.yaml"), cel_only_template()).unwrap();
    let (run, data) = verify(&[&dir]);
    assert_eq!(run.code, 1);
    let f = failures(&data);
    assert_eq!(f.len(), 2, "both tests: {f:#?}");
    for (_, _, _, reason) in &f {
        assert_eq!(
            reason,
            "template k8srequiredlabels not evaluated: CEL-only (engine K8sNativeValidation)"
        );
    }

    // The library API says the same, and evaluates nothing for it.
    let constraint = std::fs::read_to_string(
        library().join("general/requiredlabels/samples/all-must-have-owner/constraint.yaml"),
    )
    .unwrap();
    let (set, problems) = PolicySet::load(&[
        ("policies/cel.yaml".into(), cel_only_template()),
        ("policies/owner.yaml".into(), constraint),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    let info = set.constraints();
    assert_eq!(info.len(), 1);
    assert!(!info[0].evaluated);
    assert_eq!(
        info[0].not_evaluated.as_deref(),
        Some("CEL-only (engine K8sNativeValidation)")
    );
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
    assert!(set.evaluate(&[ns], &[]).is_empty());
}

#[test]
fn policies_of_the_repo_by_default_and_nothing_to_run_is_an_error() {
    let repo = tempfile::tempdir().unwrap();
    copy_dir(
        &library().join("general/requiredlabels"),
        &repo.path().join("policies/requiredlabels"),
    );
    let run = bin()
        .repo(repo.path())
        .args(["policy", "verify", "--run", "must-have-key"])
        .run();
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("\n  skip must-have-owner\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\n    ok   label-missing\n"));

    let empty = tempfile::tempdir().unwrap();
    let run = bin().args(["policy", "verify"]).arg(empty.path()).run();
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no Suite"), "{}", run.stderr);
    let run = bin()
        .args(["policy", "verify", "--run", "("])
        .arg(library())
        .run();
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("invalid --run filter"),
        "{}",
        run.stderr
    );
}

/// Every template and sample constraint of the library, as a repository's policies/ would hold
/// them.
fn library_policies() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut stack = vec![library()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() == "template.yaml"
                || p.file_name().unwrap() == "constraint.yaml"
            {
                let rel = p.strip_prefix(library()).unwrap().to_path_buf();
                files.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_whole_library_loads_and_evaluates_objects() {
    let (set, problems) = PolicySet::load(&library_policies());
    assert!(problems.is_empty(), "{problems:#?}");
    let constraints = set.constraints();
    assert!(constraints.len() > 37, "{}", constraints.len());
    assert!(constraints.iter().all(|c| c.evaluated), "{constraints:#?}");

    let pod = |name: &str, ns: &str, image: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": ns},
               "spec": {"containers": [{"name": "c", "image": image}]}})
    };
    let objects = vec![
        pod("a", "default", "nginx"),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
    ];
    let v = set.evaluate(&objects, &[]);
    let of = |kind: &str| v.iter().filter(|x| x.constraint_kind == kind).count();
    // allowedrepos (repo-is-openpolicyagent) denies images outside openpolicyagent/.
    assert!(of("K8sAllowedRepos") >= 1, "{v:#?}");
    let repo = v
        .iter()
        .find(|x| x.constraint_kind == "K8sAllowedRepos")
        .unwrap();
    assert_eq!(repo.object, "Pod default/a");
    assert_eq!(repo.object_index, 0);
    assert_eq!(repo.template, "k8sallowedrepos");
    // requiredlabels (all-must-have-owner) matches Namespaces: the one without an owner.
    let owner: Vec<_> = v
        .iter()
        .filter(|x| x.constraint == "all-must-have-owner")
        .collect();
    assert_eq!(owner.len(), 1, "{owner:#?}");
    assert_eq!(owner[0].object, "Namespace default");
    assert_eq!(owner[0].action, EnforcementAction::Deny);
}
