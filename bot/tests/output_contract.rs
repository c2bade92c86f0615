//! The output contract, command by command: with `--output json`, stdout is exactly one JSON
//! document — the envelope — whether the command succeeded, found problems or could not run,
//! and also under GitHub Actions, where annotations must not end up after it.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use ake_bot_testkit::{Bot, ConfigRepo, Run};
use serde_json::Value;

/// A config repository with a tag and a release branch, as a CI checkout has it.
fn repo() -> ConfigRepo {
    let repo = ConfigRepo::from_project();
    repo.git_init();
    repo.git(&["tag", "-a", "v1.33.0", "-m", "## v1.33.0\n"]);
    repo.cut_release_branch("1.32");
    repo
}

fn json(repo: &ConfigRepo, cache: &std::path::Path, args: &[&str]) -> (Run, Value) {
    let run = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(args)
        .args(["--output", "json"])
        .repo(repo.path())
        .with_schemas()
        .env("AKE_BOT_CACHE_DIR", cache)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", cache.join("summary.md"))
        .run();
    let v: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        )
    });
    assert_eq!(
        v["exit_code"].as_i64(),
        Some(i64::from(run.code)),
        "{args:?}: the envelope says how the run ended"
    );
    assert!(v["problems"].is_array(), "{args:?}: {v}");
    assert!(v.get("data").is_some(), "{args:?}: {v}");
    (run, v)
}

#[test]
fn every_command_prints_one_json_document() {
    let repo = repo();
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path();
    let cases: &[(&[&str], &str, &str)] = &[
        (&["check"], "check", "report"),
        (&["sync", "--dry-run", "--addon", "argo-cd"], "sync", "plan"),
        (&["render", "--check"], "render", "report"),
        (&["validate", "--all"], "validate", "report"),
        (&["diff", "v1.33.0", "main"], "diff", "report"),
        (&["release", "--dry-run"], "release", "plan"),
        (&["backport", "--dry-run"], "backport", "plan"),
        (
            &[
                "branch",
                "cut",
                "1.33",
                "--kind-image",
                "kindest/node:v1.34.0",
                "--dry-run",
            ],
            "branch cut",
            "plan",
        ),
    ];
    for (args, command, kind) in cases {
        let (run, v) = json(&repo, c, args);
        assert!(run.code <= 1, "{args:?}: {}", run.stderr);
        assert_eq!(
            (v["command"].as_str(), v["type"].as_str()),
            (Some(*command), Some(*kind)),
            "{args:?}"
        );
    }
}

#[test]
fn a_command_that_cannot_run_still_prints_its_envelope() {
    let repo = repo();
    let cache = tempfile::tempdir().unwrap();
    let (run, v) = json(
        &repo,
        cache.path(),
        &["sync", "--dry-run", "--addon", "nope"],
    );
    assert_eq!(run.code, 2);
    assert_eq!(v["type"], "error");
    assert!(v["data"].is_null());
    assert!(
        v["problems"][0]["cause"]
            .as_str()
            .unwrap()
            .starts_with("unknown addon \"nope\""),
        "{v}"
    );
    // The same problem is on stderr for a person reading the CI log.
    assert!(
        run.stderr.contains("error: unknown addon \"nope\""),
        "{}",
        run.stderr
    );

    let (run, v) = json(&repo, cache.path(), &["e2e", "--kind", "/nonexistent/kind"]);
    assert_eq!((run.code, v["type"].as_str()), (2, Some("error")));

    // A broken branches.toml: every problem with its file and position.
    repo.edit("branches.toml", "kind_image = ", "kind_imag = ");
    let (run, v) = json(&repo, cache.path(), &["validate"]);
    assert_eq!(run.code, 2);
    let p = &v["problems"][0];
    assert_eq!(
        p["file"].as_str().map(|f| f.ends_with("branches.toml")),
        Some(true),
        "{v}"
    );
    assert!(p["line"].as_u64().is_some(), "{v}");
    assert!(p["cause"].as_str().unwrap().contains("kind_imag"), "{v}");
}
