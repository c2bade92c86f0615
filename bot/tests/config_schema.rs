//! The JSON Schemas for `branches.toml` and `bundle.yaml` (`schema/`): committed copies match
//! the generated ones, the repository's own config passes them, and they reject unknown keys
//! as the loader does, and numbers where a version string belongs.

use std::path::{Component, Path, PathBuf};

use ake_bot::config::{json_schemas, load_bundles, load_train};
use ake_bot::git::Tree;
use ake_bot::model::{AddonName, BranchName, KubeMinor};
use ake_bot_testkit::workspace_root;
use serde_json::{json, Value};

const BLESS_VAR: &str = "AKE_BOT_BLESS_SCHEMAS";
const BRANCHES: &str = "branches.schema.json";
const BUNDLE: &str = "bundle.schema.json";
const TOML_DIRECTIVE: &str = "#:schema ./schema/branches.schema.json";
const YAML_MODELINE: &str = "# yaml-language-server: $schema=../../schema/bundle.schema.json";

fn schema(name: &str) -> Value {
    json_schemas()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("json_schemas() has no {name}"))
}

/// Every violation as `<instance path>: <message>`; empty when `instance` is valid.
fn violations(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("the schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn assert_valid(schema_name: &str, instance: &Value, what: &str) {
    let v = violations(&schema(schema_name), instance);
    assert!(
        v.is_empty(),
        "{what} fails {schema_name}:\n{}",
        v.join("\n")
    );
}

/// `instance` is rejected, with a violation at `path` (a JSON pointer) mentioning `needle`.
fn assert_rejected_at(schema_name: &str, instance: &Value, path: &str, needle: &str) {
    let v = violations(&schema(schema_name), instance);
    assert!(
        v.iter()
            .any(|e| e.starts_with(&format!("{path}: ")) && e.contains(needle)),
        "{schema_name} should reject {instance} at {path:?} ({needle:?}); violations: {v:#?}"
    );
}

/// A file of the repository, by path relative to the workspace root.
fn read(rel: &str) -> String {
    std::fs::read_to_string(workspace_root().join(rel))
        .unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

fn repo_branches() -> Value {
    toml::from_str(&read("branches.toml")).expect("branches.toml is TOML")
}

fn repo_bundle(addon: &str) -> Value {
    ake_bot::yaml::from_str(&read(&format!("bundles/{addon}/bundle.yaml"))).expect("YAML")
}

/// Every object schema with `properties` under `schema`, with its JSON pointer.
fn object_schemas<'a>(at: String, schema: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    match schema {
        Value::Object(fields) => {
            if fields.contains_key("properties") {
                out.push((at.clone(), schema));
            }
            for (k, v) in fields {
                object_schemas(format!("{at}/{k}"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                object_schemas(format!("{at}/{i}"), v, out);
            }
        }
        _ => {}
    }
}

/// `target` relative to the directory `from` (both relative to the workspace root), resolved
/// without the file system: `schemas_are_up_to_date` may be writing the schemas meanwhile.
fn resolve(from: &Path, target: &str) -> PathBuf {
    let mut out = from.to_path_buf();
    for c in Path::new(target).components() {
        match c {
            Component::ParentDir => assert!(out.pop(), "{target} leaves the workspace"),
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

fn bundle_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(workspace_root().join("bundles"))
        .expect("list bundles/")
        .map(|e| e.expect("bundles/ entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "the repository has bundles");
    dirs
}

#[test]
fn schemas_are_up_to_date() {
    let dir = workspace_root().join("schema");
    let bless = std::env::var(BLESS_VAR).is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    let generated = json_schemas();
    for (name, schema) in &generated {
        let path = dir.join(name);
        let want = serde_json::to_string_pretty(schema).expect("serialise") + "\n";
        let have = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => panic!("read {}: {e}", path.display()),
        };
        if have == want {
            continue;
        }
        if bless {
            std::fs::create_dir_all(&dir).expect("create schema/");
            std::fs::write(&path, &want)
                .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            eprintln!("rewrote schema/{name}");
        } else {
            let diff = similar::TextDiff::from_lines(&have, &want)
                .unified_diff()
                .context_radius(2)
                .header(&format!("schema/{name} (committed)"), "generated")
                .to_string();
            stale.push(diff);
        }
    }
    // A schema nothing generates any more would mislead editors.
    for entry in std::fs::read_dir(&dir).into_iter().flatten() {
        let name = entry.expect("schema/ entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".schema.json") && !generated.iter().any(|(n, _)| *n == name) {
            stale.push(format!(
                "schema/{name} is not generated by json_schemas(): delete it\n"
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "the committed JSON Schemas differ from the config types:\n\n{}\n\
         If the change to the config types is intended, regenerate them with\n\
         \n    {BLESS_VAR}=1 cargo test --test config_schema\n\n\
         and commit schema/.",
        stale.join("\n")
    );
}

#[test]
fn schemas_are_valid_draft_07_with_ids_and_no_unknown_keys() {
    for (name, s) in json_schemas() {
        if let Err(e) = jsonschema::meta::validate(&s) {
            panic!("{name} is not a valid JSON Schema: {e}");
        }
        assert_eq!(
            s["$schema"], "http://json-schema.org/draft-07/schema#",
            "{name}"
        );
        assert!(
            s["$id"]
                .as_str()
                .is_some_and(|id| id.starts_with("urn:ake-bot:")),
            "{name}"
        );
        assert!(
            s["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("ake-bot ")),
            "{name}"
        );
        // Every table and mapping the loader reads rejects keys it does not know, like the
        // loader (serde's deny_unknown_fields).
        let mut objects = Vec::new();
        object_schemas(String::new(), &s, &mut objects);
        assert!(objects.len() >= 3, "{name}: {objects:?}");
        for (at, o) in objects {
            assert_eq!(o["additionalProperties"], json!(false), "{name} at {at:?}");
        }
    }
}

#[test]
fn the_repositorys_branches_toml_passes_its_schema() {
    let text = read("branches.toml");
    assert_eq!(
        text.lines().next(),
        Some(TOML_DIRECTIVE),
        "taplo's directive comes first"
    );
    let target = TOML_DIRECTIVE.trim_start_matches("#:schema ");
    assert_eq!(
        resolve(Path::new(""), target),
        Path::new("schema").join(BRANCHES)
    );
    assert_valid(BRANCHES, &repo_branches(), "branches.toml");
}

#[test]
fn every_bundle_of_the_repository_passes_its_schema() {
    for dir in bundle_dirs() {
        let file = dir.join("bundle.yaml");
        let text = std::fs::read_to_string(&file).expect("read bundle.yaml");
        assert_eq!(
            text.lines().next(),
            Some(YAML_MODELINE),
            "{}: yaml-language-server's modeline comes first",
            file.display()
        );
        let target = YAML_MODELINE.split_once("$schema=").expect("modeline").1;
        let rel = dir.strip_prefix(workspace_root()).expect("under the root");
        assert_eq!(resolve(rel, target), Path::new("schema").join(BUNDLE));
        let value: Value = ake_bot::yaml::from_str(&text).expect("bundle.yaml is YAML");
        assert_valid(BUNDLE, &value, &file.display().to_string());
    }
}

#[test]
fn the_loader_reads_the_files_with_their_editor_lines() {
    let root = workspace_root();
    let train = load_train(&root).unwrap_or_else(|e| panic!("branches.toml does not load: {e}"));
    assert_eq!(train.main().kubernetes, KubeMinor::new(1, 33));
    let bundles = load_bundles(&Tree::Dir(root)).expect("read bundles/");
    assert!(bundles.problems.is_empty(), "{:#?}", bundles.problems);
    assert_eq!(bundles.loaded.len(), bundle_dirs().len());
}

#[test]
fn minimal_and_complete_files_pass() {
    let branches = json!({
        "main": {"kubernetes": "1.33", "kind_image": "kindest/node:v1.33.1"}
    });
    assert_valid(BRANCHES, &branches, "a train with only main");
    let branches = json!({
        "tag_format": "v{minor}.{n}",
        "support_window": 3,
        "schemas": "schemas",
        "schema_url": "https://example.com/{version}/{file}",
        "main": {"kubernetes": "v1.33", "kind_image": "k", "caps": {"cert-manager": "<1.17"}},
        "release": [{
            "name": "release-1.32", "kubernetes": "1.32", "kind_image": "k",
            "status": "frozen", "caps": {"argo-cd": ">=7.0.0, <8.0.0"}
        }],
        "mirrors": {"https://charts.jetstack.io": "mirror/jetstack"}
    });
    assert_valid(BRANCHES, &branches, "a train with every key");

    let bundle = json!({
        "source": {"helm": {"repo": "https://charts.jetstack.io", "chart": "cert-manager"}},
        "version": "v1.14.7", "allowed": ">=1.14.0, <2.0.0",
        "namespace": "cert-manager", "deploy_to": "tenant"
    });
    assert_valid(BUNDLE, &bundle, "a bundle with the required keys");
    let mut all = bundle;
    all["description"] = json!("TLS");
    all["prerelease"] = json!(true);
    all["release"] = json!("cm");
    all["values"] = json!("values.yaml.j2");
    all["include_crds"] = json!(false);
    assert_valid(BUNDLE, &all, "a bundle with every key");
}

#[test]
fn unknown_keys_are_rejected_at_top_level_and_nested() {
    let not_allowed = "not allowed";
    let mut t = repo_branches();
    t["tag_formt"] = json!("v{minor}.{n}");
    assert_rejected_at(BRANCHES, &t, "", not_allowed);
    let mut t = repo_branches();
    t["main"]["kind_imag"] = json!("kindest/node:v1.33.1");
    assert_rejected_at(BRANCHES, &t, "/main", not_allowed);
    let mut t = repo_branches();
    t["release"][1]["stauts"] = json!("frozen");
    assert_rejected_at(BRANCHES, &t, "/release/1", not_allowed);

    let mut b = repo_bundle("cert-manager");
    b["allowd"] = json!(">=1.14.0");
    assert_rejected_at(BUNDLE, &b, "", not_allowed);
    let mut b = repo_bundle("argo-cd");
    b["source"]["helm"]["charts"] = json!("argo-cd");
    assert_rejected_at(BUNDLE, &b, "/source/helm", not_allowed);
    // Exactly one kind under source: no unknown kind, not two, and not nothing.
    let mut b = repo_bundle("cert-manager");
    b["source"] = json!({"ocl": "oci://quay.io/jetstack/charts/cert-manager"});
    assert_rejected_at(BUNDLE, &b, "/source", not_allowed);
    let mut b = repo_bundle("cert-manager");
    b["source"]["helm"] = json!({"repo": "https://charts.jetstack.io", "chart": "cert-manager"});
    assert_rejected_at(BUNDLE, &b, "/source", "oneOf");
    b["source"] = json!({});
    assert_rejected_at(BUNDLE, &b, "/source", "oneOf");
    let mut b = repo_bundle("cert-manager");
    b["source"] = json!({"github_release": {"repo": "kubernetes-sigs/gateway-api", "assets": "x"}});
    assert_rejected_at(BUNDLE, &b, "/source/github_release", not_allowed);
}

#[test]
fn versions_and_minors_must_be_strings() {
    // `version: 1.16` is the YAML float 1.16 (`1.10` becomes 1.1): editors ask for quotes, and
    // the loader refuses it with the same hint (config::bundle's tests).
    let text =
        read("bundles/cert-manager/bundle.yaml").replacen("version: v1.14.7", "version: 1.16", 1);
    let b: Value = ake_bot::yaml::from_str(&text).expect("YAML");
    assert_eq!(b["version"], json!(1.16));
    assert_rejected_at(BUNDLE, &b, "/version", "is not of type \"string\"");

    let mut b = repo_bundle("cert-manager");
    b["allowed"] = json!(2);
    assert_rejected_at(BUNDLE, &b, "/allowed", "is not of type \"string\"");

    // `kubernetes = 1.30` is the TOML float 1.3; the loader rejects it too.
    let text = read("branches.toml").replacen("kubernetes = \"1.33\"", "kubernetes = 1.30", 1);
    let t: Value = toml::from_str(&text).expect("TOML");
    assert_rejected_at(
        BRANCHES,
        &t,
        "/main/kubernetes",
        "is not of type \"string\"",
    );

    let mut t = repo_branches();
    t["release"][1]["caps"]["cert-manager"] = json!(1.16);
    assert_rejected_at(
        BRANCHES,
        &t,
        "/release/1/caps/cert-manager",
        "is not of type \"string\"",
    );
}

#[test]
fn enums_and_cap_names_are_checked() {
    let mut t = repo_branches();
    t["release"][0]["status"] = json!("retired");
    assert_rejected_at(BRANCHES, &t, "/release/0/status", "retired");
    let mut t = repo_branches();
    t["main"]["caps"] = json!({"Cert_Manager": "<1.16"});
    assert_rejected_at(BRANCHES, &t, "/main/caps", "Cert_Manager");

    let mut b = repo_bundle("cert-manager");
    b["deploy_to"] = json!("everywhere");
    assert_rejected_at(BUNDLE, &b, "/deploy_to", "everywhere");
}

#[test]
fn defaults_and_descriptions_are_shown() {
    let s = schema(BRANCHES);
    let p = &s["properties"];
    assert_eq!(p["tag_format"]["default"], "v{minor}.{n}");
    assert_eq!(p["release"]["default"], json!([]));
    assert_eq!(p["mirrors"]["default"], json!({}));
    let release = &s["definitions"]["Release"]["properties"];
    assert_eq!(release["status"]["default"], "maintained");
    assert_eq!(release["caps"]["default"], json!({}));
    assert!(release["kubernetes"]["description"]
        .as_str()
        .is_some_and(|d| d.contains("Required")));

    let s = schema(BUNDLE);
    let p = &s["properties"];
    assert_eq!(p["include_crds"]["default"], true);
    assert_eq!(p["prerelease"]["default"], false);
    assert_eq!(p["description"]["default"], "");
    assert!(p["version"]["description"]
        .as_str()
        .is_some_and(|d| d.starts_with("The pinned chart version")));
}

/// The name patterns accept what the parsers accept. `BranchName`'s is looser (the sequence
/// rules need look-arounds) but never stricter.
#[test]
fn name_patterns_agree_with_the_parsers() {
    let defs = schema(BRANCHES)["definitions"].clone();
    let valid = |def: &str, s: &str| violations(&defs[def], &json!(s)).is_empty();

    let minors = [
        "1.30", "1.9", "1.0", "v1.33", "1", "1.", "1.x", "2.1", "1.030", "01.30", "1.30.1", "",
        "v", "V1.30", " 1.30", "1.30 ", "1.30\n", "1.+1", "1.-1", "1.3a",
    ];
    for m in minors {
        let parses = m.parse::<KubeMinor>().is_ok();
        assert_eq!(
            valid("KubeMinor", m),
            parses,
            "KubeMinor {m:?}: parser says {parses}"
        );
    }

    let long = "a".repeat(53);
    let too_long = "a".repeat(54);
    let addons = [
        "cert-manager",
        "a",
        "0",
        "a-b-c",
        "kube-prometheus-stack",
        &long,
        &too_long,
        "",
        "Cert-Manager",
        "-x",
        "x-",
        "a_b",
        "a.b",
        "a b",
        "é",
        "a--b",
    ];
    for a in addons {
        let parses = a.parse::<AddonName>().is_ok();
        assert_eq!(
            valid("AddonName", a),
            parses,
            "AddonName {a:?}: parser says {parses}"
        );
    }

    let branches = [
        "main",
        "release-1.31",
        "feature/x",
        "a.b",
        "é",
        "a-",
        "",
        "a b",
        "-x",
        ".x",
        "/x",
        "x/",
        "x.",
        "a~1",
        "a^1",
        "a:b",
        "a?b",
        "a*b",
        "a[b",
        "a\\b",
        "a\u{7f}b",
        "a\tb",
        "a..b",
        "x.lock",
        "a//b",
        "a@{b",
    ];
    for b in branches {
        let parses = b.parse::<BranchName>().is_ok();
        let schema_ok = valid("BranchName", b);
        assert!(
            !parses || schema_ok,
            "BranchName {b:?} parses but the schema rejects it"
        );
        let sequence_rule =
            ["..", "//", "@{"].iter().any(|s| b.contains(s)) || b.ends_with(".lock");
        if !parses && !sequence_rule {
            assert!(
                !schema_ok,
                "BranchName {b:?} is rejected by the parser, not by the schema"
            );
        }
    }
}
