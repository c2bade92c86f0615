//! The workflows that run the bot (`sync.yml`, `backport.yml`, `release.yml`) act with a GitHub
//! App's installation token when the App is configured, because what GITHUB_TOKEN pushes or
//! opens starts no workflow: without it, pr.yml never checks a bot PR. Without the App they
//! fall back to GITHUB_TOKEN and say so in the job summary. README: "Checks on bot PRs: a
//! GitHub App". Also: every action in every workflow is pinned by commit SHA.

use std::path::PathBuf;

use ake_bot_testkit::workspace_root;
use serde_yaml_ng::Value;

const BOT_WORKFLOWS: [&str; 3] = ["sync.yml", "backport.yml", "release.yml"];
const APP_ACTION: &str = "actions/create-github-app-token";
const APP_ID_VAR: &str = "vars.AKE_BOT_APP_ID";
const APP_KEY_SECRET: &str = "secrets.AKE_BOT_APP_PRIVATE_KEY";
const README_SECTION: &str = "Checks on bot PRs: a GitHub App";

fn workflows_dir() -> PathBuf {
    workspace_root().join(".github/workflows")
}

fn read(name: &str) -> (String, Value) {
    let path = workflows_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let yaml =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"));
    (text, yaml)
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An expression without its `${{ }}` wrapper and with single spaces.
fn expr(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix("${{")
        .and_then(|s| s.strip_suffix("}}"))
        .unwrap_or(s);
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_sha(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Every job's steps, as (job, steps).
fn jobs(name: &str, yaml: &Value) -> Vec<(String, Vec<Value>)> {
    let jobs = yaml
        .get("jobs")
        .and_then(Value::as_mapping)
        .unwrap_or_else(|| panic!("{name} has no jobs"));
    jobs.iter()
        .map(|(k, job)| {
            let steps = job
                .get("steps")
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default();
            (k.as_str().unwrap_or_default().to_string(), steps)
        })
        .collect()
}

#[test]
fn every_action_is_pinned_by_commit_sha_with_its_version() {
    let mut names: Vec<_> = std::fs::read_dir(workflows_dir())
        .expect("the workflows directory")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(
        names.len() >= BOT_WORKFLOWS.len(),
        "workflows found: {names:?}"
    );
    for name in &names {
        let (text, _) = read(name);
        for line in text.lines().filter(|l| l.contains("uses:")) {
            let rest = line
                .split_once("uses:")
                .map(|(_, r)| r.trim())
                .unwrap_or_default();
            if rest.starts_with("./") {
                continue; // a local action: the repository's own commit pins it.
            }
            let (uses, comment) = rest.split_once('#').unwrap_or((rest, ""));
            let (action, pin) = uses
                .trim()
                .split_once('@')
                .unwrap_or_else(|| panic!("{name}: `{line}` has no @<ref>"));
            assert!(
                is_sha(pin),
                "{name}: {action} is pinned by `{pin}`, not a full commit SHA"
            );
            assert!(
                comment.trim().starts_with('v'),
                "{name}: {action}@{pin} has no `# vX.Y.Z` comment saying which release it is"
            );
        }
    }
}

#[test]
fn bot_workflows_act_with_the_app_token_and_fall_back_to_github_token() {
    for name in BOT_WORKFLOWS {
        let (_, yaml) = read(name);
        let mut bot_steps = 0;
        for (job, steps) in jobs(name, &yaml) {
            let at = |i: usize| format!("{name}: job {job}, step {}", i + 1);
            let app: Vec<(usize, &Value)> = steps
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    str_at(s, "uses").is_some_and(|u| u.starts_with(&format!("{APP_ACTION}@")))
                })
                .collect();
            let bot: Vec<(usize, &Value)> = steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.get("env").and_then(|e| e.get("GITHUB_TOKEN")).is_some())
                .collect();
            if bot.is_empty() {
                continue;
            }
            bot_steps += bot.len();

            // One App token step, pinned, conditioned on the variable, given the key secret.
            assert_eq!(
                app.len(),
                1,
                "{name}: job {job} needs one {APP_ACTION} step"
            );
            let (app_at, app) = app[0];
            let uses = str_at(app, "uses").unwrap_or_default();
            let pin = uses.split_once('@').map(|(_, p)| p).unwrap_or_default();
            assert!(
                is_sha(pin),
                "{}: {uses} is not pinned by a commit SHA",
                at(app_at)
            );
            assert_eq!(
                str_at(app, "if").map(expr),
                Some(format!("{APP_ID_VAR} != ''")),
                "{}: the App token step runs exactly when the App is configured",
                at(app_at)
            );
            let with = app.get("with").unwrap_or(&Value::Null);
            let id_input = str_at(with, "client-id").or_else(|| str_at(with, "app-id"));
            assert_eq!(
                id_input.map(expr).as_deref(),
                Some(APP_ID_VAR),
                "{}",
                at(app_at)
            );
            assert_eq!(
                str_at(with, "private-key").map(expr).as_deref(),
                Some(APP_KEY_SECRET),
                "{}",
                at(app_at)
            );
            let id = str_at(app, "id")
                .unwrap_or_else(|| panic!("{}: the App token step needs an id", at(app_at)));

            // Every step that hands the bot a token hands it the App's, else GITHUB_TOKEN's.
            for (i, step) in &bot {
                assert!(*i > app_at, "{}: runs before the App token exists", at(*i));
                let token = step
                    .get("env")
                    .and_then(|e| e.get("GITHUB_TOKEN"))
                    .and_then(Value::as_str)
                    .map(expr);
                assert_eq!(
                    token,
                    Some(format!("steps.{id}.outputs.token || secrets.GITHUB_TOKEN")),
                    "{}: the bot's token",
                    at(*i)
                );
            }

            // The bot pushes with its own token: a credential persisted by the checkout (always
            // GITHUB_TOKEN's) would be sent too, and pushes made with it start no workflow.
            for (i, step) in steps.iter().enumerate() {
                if str_at(step, "uses").is_some_and(|u| u.starts_with("actions/checkout@")) {
                    assert_eq!(
                        step.get("with").and_then(|w| w.get("persist-credentials")),
                        Some(&Value::Bool(false)),
                        "{}: checkout must not persist credentials",
                        at(i)
                    );
                }
            }

            // Without the App: a job summary line says the checks will not run, and the fix.
            let note = steps
                .iter()
                .enumerate()
                .find(|(_, s)| str_at(s, "if").map(expr) == Some(format!("{APP_ID_VAR} == ''")));
            let (note_at, note) =
                note.unwrap_or_else(|| panic!("{name}: job {job} has no step for the no-App case"));
            let run = str_at(note, "run").unwrap_or_default();
            assert!(
                run.contains("$GITHUB_STEP_SUMMARY"),
                "{}: writes to the job summary",
                at(note_at)
            );
            assert!(
                run.contains("GITHUB_TOKEN") && run.contains(README_SECTION),
                "{}: says the run acts with GITHUB_TOKEN and points to README's \"{README_SECTION}\"",
                at(note_at)
            );
            assert!(
                bot.iter().all(|(i, _)| note_at < *i),
                "{}: the summary line is written before the bot runs (and fails, perhaps)",
                at(note_at)
            );
        }
        assert!(
            bot_steps > 0,
            "{name}: no step passes GITHUB_TOKEN to the bot"
        );
        // The command the workflow exists for runs in one of those steps (so with that token),
        // not in a step that passes it none or another one.
        let command = format!("-- {}", name.trim_end_matches(".yml"));
        assert!(
            jobs(name, &yaml)
                .iter()
                .flat_map(|(_, steps)| steps)
                .any(|s| {
                    str_at(s, "run").is_some_and(|r| r.contains(&command))
                        && s.get("env").and_then(|e| e.get("GITHUB_TOKEN")).is_some()
                }),
            "{name}: no step runs `{command}` with GITHUB_TOKEN set"
        );
    }
}

#[test]
fn the_readme_explains_the_app_the_workflows_point_to() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let heading = format!("## {README_SECTION}");
    let section = readme
        .split_once(&format!("\n{heading}\n"))
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
        .unwrap_or_else(|| panic!("README has no `{heading}` section"));
    for needle in [
        "AKE_BOT_APP_ID",
        "AKE_BOT_APP_PRIVATE_KEY",
        "Contents",
        "Pull requests",
        "Issues",
    ] {
        assert!(
            section.contains(needle),
            "README's section does not mention {needle}"
        );
    }
}

/// The steps of one job of a workflow.
fn job_steps(name: &str, yaml: &Value, job: &str) -> Vec<Value> {
    jobs(name, yaml)
        .into_iter()
        .find(|(j, _)| j == job)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("{name} has no job {job}"))
}

fn position(steps: &[Value], what: &str, pred: impl Fn(&Value) -> bool) -> usize {
    steps
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("pr.yml: no step that {what}"))
}

fn runs(step: &Value, needle: &str) -> bool {
    str_at(step, "run").is_some_and(|r| r.contains(needle))
}

fn uses(step: &Value, action: &str) -> bool {
    str_at(step, "uses").is_some_and(|u| u.starts_with(&format!("{action}@")))
}

/// pr.yml (issue #12, points 4 and 6): one e2e leg for the branch the PR targets, run on the
/// merge checkout; one release build shared as an artifact; inotify limits raised before kind
/// creates a cluster; kind's logs exported and uploaded when the leg fails.
#[test]
fn pr_e2e_installs_the_merge_checkout_as_its_base_with_one_shared_build() {
    let name = "pr.yml";
    let (_, yaml) = read(name);
    let job = |j: &str| yaml["jobs"].get(j).unwrap_or(&Value::Null).clone();

    // The target branch comes from github.base_ref, through the validate job.
    let validate = job_steps(name, &yaml, "validate");
    let target = &validate[position(&validate, "finds the PR's target branch", |s| {
        s.get("env")
            .and_then(|e| e.get("BASE_REF"))
            .and_then(Value::as_str)
            .map(expr)
            .as_deref()
            == Some("github.base_ref")
    })];
    let target_id = str_at(target, "id").expect("the target step has an id");
    assert_eq!(
        job("validate")["outputs"]["branch"].as_str().map(expr),
        Some(format!("steps.{target_id}.outputs.branch"))
    );

    // One build, uploaded.
    let build = job_steps(name, &yaml, "build");
    let b = position(&build, "builds the release binary", |s| {
        runs(s, "cargo build --locked --release")
    });
    let up = position(&build, "uploads the binary", |s| {
        uses(s, "actions/upload-artifact")
    });
    assert!(b < up);
    let artifact = str_at(&build[up]["with"], "name").expect("artifact name");
    assert_eq!(
        str_at(&build[up]["with"], "path"),
        Some("target/release/ake-bot")
    );

    // The e2e job: one leg (no matrix), after both, only when there is a target branch.
    let e2e = job("e2e");
    assert!(
        e2e.get("strategy").is_none(),
        "pr.yml: e2e needs no matrix: {e2e:?}"
    );
    let needs: Vec<&str> = e2e["needs"]
        .as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        needs.contains(&"build") && needs.contains(&"validate"),
        "{needs:?}"
    );
    assert_eq!(
        str_at(&e2e, "if").map(expr),
        Some("needs.validate.outputs.branch != ''".to_string())
    );
    assert_eq!(
        str_at(&e2e["env"], "BRANCH").map(expr),
        Some("needs.validate.outputs.branch".to_string())
    );
    let steps = job_steps(name, &yaml, "e2e");
    assert!(
        !steps.iter().any(|s| runs(s, "cargo ")),
        "pr.yml: the e2e job runs the shared binary, it does not compile"
    );
    let down = position(&steps, "downloads the binary", |s| {
        uses(s, "actions/download-artifact")
    });
    assert_eq!(str_at(&steps[down]["with"], "name"), Some(artifact));
    let chmod = position(&steps, "makes it executable", |s| runs(s, "chmod +x"));
    let inotify = position(&steps, "raises the inotify limits", |s| {
        runs(s, "sysctl")
            && runs(s, "fs.inotify.max_user_watches=524288")
            && runs(s, "fs.inotify.max_user_instances=512")
    });
    let run = position(&steps, "runs e2e", |s| {
        runs(s, "ake-bot e2e") && !runs(s, "--dry-run")
    });
    let e2e_run = str_at(&steps[run], "run").unwrap_or_default();
    for flag in ["--branch \"$BRANCH\"", "--work-tree", "--keep"] {
        assert!(
            e2e_run.contains(flag),
            "pr.yml: e2e runs with {flag}: {e2e_run}"
        );
    }
    assert!(down < chmod && chmod < run, "download, chmod, then run");
    assert!(
        inotify < run,
        "pr.yml: inotify limits are raised before kind creates the cluster"
    );

    // On failure: kind's logs exported (the cluster is kept for it), then uploaded.
    let export = position(&steps, "exports kind logs", |s| runs(s, "kind export logs"));
    assert_eq!(
        str_at(&steps[export], "if").map(expr).as_deref(),
        Some("failure()")
    );
    let upload = position(&steps, "uploads the kind logs", |s| {
        uses(s, "actions/upload-artifact")
            && str_at(&s["with"], "path").is_some_and(|p| p.starts_with("kind-logs"))
    });
    assert_eq!(
        str_at(&steps[upload], "if").map(expr).as_deref(),
        Some("failure()")
    );
    assert!(run < export && export < upload);
}

/// The node images in branches.toml are pinned by digest for the kind version pr.yml installs
/// (issue #12, point 5): branches.toml names that version, and every kind_image has a digest.
#[test]
fn node_images_are_pinned_for_the_kind_pr_yml_installs() {
    let (text, _) = read("pr.yml");
    let kind = text
        .split("sigs.k8s.io/kind@")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("pr.yml installs kind with `go install sigs.k8s.io/kind@vX.Y.Z`");
    let train =
        std::fs::read_to_string(workspace_root().join("branches.toml")).expect("branches.toml");
    assert!(
        train.contains(&format!("kind {kind},")) || train.contains(&format!("kind {kind} ")),
        "branches.toml says which kind release its digests are for; pr.yml installs {kind}"
    );
    let images: Vec<&str> = train
        .lines()
        .filter(|l| l.starts_with("kind_image"))
        .collect();
    assert!(!images.is_empty());
    for l in images {
        assert!(
            l.contains("@sha256:"),
            "branches.toml: {l} is not pinned by digest"
        );
    }
}
