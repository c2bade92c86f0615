//! The Renovate preset for tenants (`renovate/ake-tenant.json`, README: "Tenants who run
//! Renovate"), checked with Renovate's own tools: its config validator accepts the preset with
//! the arguments substituted as Renovate substitutes them and a tenant `renovate.json` that
//! extends it; Renovate itself (`--platform=local --dry-run=extract`) finds every kind of pin in
//! a tenant repository; and the rules say what the README promises: only the tenant's minor,
//! one grouped PR, the tag diff linked.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ake_bot_testkit::{git, workspace_root};
use serde_json::Value;

const MINOR: &str = "1.31";
const PLATFORM: &str = "acme/platform-config";
const GROUP: &str = "AKE platform";

fn preset_text() -> String {
    let path = workspace_root().join("renovate/ake-tenant.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The preset as Renovate applies `ake-tenant(1.31, acme/platform-config)`: every string's
/// `{{argN}}` replaced by the Nth parameter (renovate lib/config/presets/index.ts, replaceArgs).
fn substituted() -> Value {
    let text = preset_text()
        .replace("{{arg0}}", MINOR)
        .replace("{{arg1}}", PLATFORM);
    assert!(
        !text.contains("{{arg"),
        "the preset uses an argument beyond arg0 (minor) and arg1 (platform repository)"
    );
    serde_json::from_str(&text).unwrap()
}

/// `$RENOVATE_CONFIG_VALIDATOR` (scripts/with-renovate sets it). Missing: in CI (`CI=true`) the
/// test fails; locally it is skipped with a message.
fn validator() -> Option<PathBuf> {
    let found = std::env::var_os("RENOVATE_CONFIG_VALIDATOR")
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "no $RENOVATE_CONFIG_VALIDATOR: CI must check the tenant preset with Renovate's own \
             validator (.ci/run runs the tests under scripts/with-renovate, which installs it)"
        );
        eprintln!(
            "SKIPPED: no $RENOVATE_CONFIG_VALIDATOR; run under scripts/with-renovate to check \
             renovate/ake-tenant.json with Renovate's validator"
        );
    }
    found
}

fn run(cmd: &mut Command) -> Output {
    // Renovate falls back to JavaScript regular expressions without its optional RE2 binding
    // (scripts/with-renovate installs no native code); say so quietly.
    cmd.env("RENOVATE_X_IGNORE_RE2", "true")
        .stdin(Stdio::null())
        .output()
        .expect("renovate runs")
}

fn validate(validator: &Path, file: &Path) {
    let out = run(Command::new(validator)
        .args(["--strict", "--no-global"])
        .arg(file)
        .current_dir(file.parent().unwrap()));
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && log.contains("Config validated successfully"),
        "renovate-config-validator --strict rejects {}:\n{log}",
        file.display()
    );
}

#[test]
fn renovate_validator_accepts_the_preset_and_a_tenant_config() {
    let Some(validator) = validator() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The preset file as committed: its {{argN}} placeholders are plain strings to Renovate.
    validate(
        &validator,
        &workspace_root().join("renovate/ake-tenant.json"),
    );
    // The preset with the tenant's arguments in place: regexes compiled, rules checked.
    let preset = dir.path().join("ake-tenant.json");
    std::fs::write(
        &preset,
        serde_json::to_string_pretty(&substituted()).unwrap(),
    )
    .unwrap();
    validate(&validator, &preset);
    // A tenant's renovate.json extending it as README says.
    let tenant = dir.path().join("renovate.json");
    let extends = format!("github>{PLATFORM}//renovate/ake-tenant({MINOR}, {PLATFORM})");
    let config = serde_json::json!({
        "$schema": "https://docs.renovatebot.com/renovate-schema.json",
        "extends": ["config:recommended", extends],
    });
    std::fs::write(&tenant, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    validate(&validator, &tenant);
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    assert!(
        readme.contains("## Tenants who run Renovate") && readme.contains("ake-tenant(1.31, "),
        "README documents the preset and how to extend it"
    );
}

/// A tenant repository with one pin of each kind, each on its own tag.
const PINS: [(&str, &str, &str); 5] = [
    (".ake-version", "v1.31.0\n", "v1.31.0"),
    (
        "argocd/platform.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: platform\nspec:\n  \
         project: default\n  source:\n    repoURL: https://github.com/acme/platform-config.git\n    \
         path: bundles\n    targetRevision: v1.31.1\n  destination:\n    namespace: platform\n---\n\
         apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: other\nspec:\n  \
         source:\n    repoURL: https://github.com/acme/other\n    targetRevision: v9.9.9\n",
        "v1.31.1",
    ),
    (
        "flux/platform.yaml",
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: platform\n\
         spec:\n  interval: 5m\n  url: https://github.com/acme/platform-config\n  ref:\n    \
         tag: \"v1.31.2\"\n",
        "v1.31.2",
    ),
    (
        "cluster/kustomization.yaml",
        "resources:\n  - https://github.com/acme/platform-config//bundles/cert-manager?ref=v1.31.3\n",
        "v1.31.3",
    ),
    (
        "infra/main.tf",
        "module \"x\" {\n  source = \"git::https://github.com/acme/platform-config.git//modules/x?ref=v1.31.4\"\n}\n",
        "v1.31.4",
    ),
];

#[test]
fn renovate_finds_every_kind_of_pin() {
    if validator().is_none() {
        return;
    }
    let Some(renovate) = std::env::var_os("RENOVATE")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
    else {
        eprintln!("SKIPPED: no $RENOVATE (the validator came from PATH without renovate)");
        return;
    };
    let repo = tempfile::tempdir().unwrap();
    for (path, text, _) in PINS {
        let file = repo.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    // The preset as the repository config: Renovate cannot fetch github> presets offline.
    std::fs::write(
        repo.path().join("renovate.json"),
        serde_json::to_string_pretty(&substituted()).unwrap(),
    )
    .unwrap();
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "-A"]);
    let global = repo.path().join(".global.json");
    std::fs::write(&global, "{}").unwrap();
    let out = run(Command::new(&renovate)
        .args([
            "--platform=local",
            "--dry-run=extract",
            "--onboarding=false",
            "--require-config=optional",
        ])
        .current_dir(repo.path())
        .env("RENOVATE_CONFIG_FILE", &global)
        .env("LOG_LEVEL", "info")
        .env("LOG_FORMAT", "json"));
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "renovate failed:\n{log}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let extracted: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["msg"] == "Extracted dependencies")
        .unwrap_or_else(|| panic!("no extraction in renovate's log:\n{log}"));
    let mut found = Vec::new();
    for (manager, files) in extracted["packageFiles"].as_object().unwrap() {
        for file in files.as_array().unwrap() {
            for dep in file["deps"].as_array().unwrap() {
                found.push((
                    file["packageFile"].as_str().unwrap().to_string(),
                    dep["packageName"].as_str().unwrap_or_default().to_string(),
                    dep["datasource"].as_str().unwrap_or_default().to_string(),
                    dep["currentValue"].as_str().unwrap_or_default().to_string(),
                    manager.clone(),
                ));
            }
        }
    }
    found.sort();
    let mut want: Vec<_> = PINS
        .iter()
        .map(|(path, _, tag)| (path.to_string(), tag.to_string()))
        .collect();
    want.sort();
    let got: Vec<_> = found
        .iter()
        .map(|(f, _, _, v, _)| (f.clone(), v.clone()))
        .collect();
    assert_eq!(got, want, "renovate's extraction: {found:#?}");
    for (file, package, datasource, _, manager) in &found {
        assert_eq!(
            (package.as_str(), datasource.as_str()),
            (PLATFORM, "github-tags"),
            "{file} ({manager}): the pin must be looked up as the platform's GitHub tags"
        );
    }
}

/// Whether JavaScript's `new RegExp(source, "u")` (the engine Renovate falls back to; the
/// pattern stays within RE2's syntax) matches `text`.
fn js_regex_matches(source: &str, text: &str) -> bool {
    let out = Command::new("node")
        .args([
            "-e",
            "process.stdout.write(String(new RegExp(process.argv[1], 'u').test(process.argv[2])))",
            source,
            text,
        ])
        .output()
        .expect("node runs (scripts/with-renovate needs it too)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout) == "true"
}

#[test]
fn only_the_tenants_minor_in_one_pr_with_the_tag_diff_linked() {
    if validator().is_none() {
        return; // node comes with the validator
    }
    let preset = substituted();
    let rules = preset["packageRules"].as_array().unwrap();
    let rule = rules
        .iter()
        .find(|r| {
            r["matchPackageNames"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n == PLATFORM))
        })
        .expect("a packageRule for the platform repository");
    let allowed = rule["allowedVersions"].as_str().unwrap();
    let source = allowed
        .strip_prefix('/')
        .and_then(|s| s.strip_suffix('/'))
        .unwrap_or_else(|| panic!("allowedVersions is a /regex/: {allowed}"));
    for (tag, ok) in [
        ("v1.31.0", true),
        ("v1.31.4", true),
        ("v1.31.12", true),
        ("v1.32.0", false),
        ("v1.3.10", false),
        ("v1.310.1", false),
        ("v1.31.4-rc.1", false),
        ("v2.31.0", false),
    ] {
        assert_eq!(
            js_regex_matches(source, tag),
            ok,
            "allowedVersions {allowed} on {tag}"
        );
    }
    assert_eq!(rule["groupName"], GROUP);
    assert!(rule["matchDatasources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d == "github-tags"));
    let notes = rule["prBodyNotes"].to_string();
    for link in [
        "https://github.com/acme/platform-config/compare/{{currentValue}}...{{newValue}}",
        "https://github.com/acme/platform-config/releases/tag/{{newValue}}",
    ] {
        assert!(notes.contains(link), "prBodyNotes link {link}: {notes}");
    }
    // Every custom manager looks the pin up as the platform's tags.
    for manager in preset["customManagers"].as_array().unwrap() {
        assert_eq!(manager["datasourceTemplate"], "github-tags");
        assert_eq!(manager["packageNameTemplate"], PLATFORM);
    }
}
