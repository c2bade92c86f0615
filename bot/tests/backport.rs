//! `ake-bot backport` for real: a config repo with four release branches (maintained, capped,
//! frozen, eol) on a bare origin, changes merged to main through the fake GitHub (validated
//! against GitHub's REST description), the real helm re-rendering each branch.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};

use ake_bot_testkit::github::{FakeGitHub, FakeGitHubServer};
use ake_bot_testkit::{git, Bot, ConfigRepo, Run};

const TOKEN: &str = "ghs_backportTOKEN0123456789abc";
const RELEASES: &[&str] = &["1.32", "1.31", "1.24", "1.23"];

struct Env {
    repo: ConfigRepo,
    _origin_dir: tempfile::TempDir,
    origin: PathBuf,
    cache: tempfile::TempDir,
}

/// The project's train plus an eol branch: release-1.32 (maintained), release-1.31
/// (maintained, cert-manager capped below 1.16), release-1.24 (frozen), release-1.23 (eol),
/// each cut from main with its own renders, all on origin.
fn train() -> Env {
    let repo = ConfigRepo::from_project();
    let toml = repo.read("branches.toml");
    repo.write(
        "branches.toml",
        &toml.replace(
            "[mirrors]",
            "[[release]]\nkubernetes = \"1.23\"\nkind_image = \"kindest/node:v1.23.17\"\nstatus = \"eol\"\n\n[mirrors]",
        ),
    );
    repo.git_init();
    for minor in RELEASES {
        repo.cut_release_branch(minor);
    }
    let (origin_dir, origin) = repo.with_bare_origin();
    let mut push = vec!["push", "-q", "origin"];
    let names: Vec<String> = RELEASES.iter().map(|m| format!("release-{m}")).collect();
    push.extend(names.iter().map(String::as_str));
    repo.git(&push);
    Env {
        repo,
        _origin_dir: origin_dir,
        origin,
        cache: tempfile::tempdir().unwrap(),
    }
}

impl Env {
    /// Commit what the work tree holds on main, re-rendering `addon` for main with the real
    /// binary first (as the sync PR that proposed it did), and push: the merge of a PR.
    fn merge_on_main(&self, addon: &str, message: &str) -> String {
        let run = bot(&self.repo, &self.cache, &["render", "--addon", addon], None);
        assert_eq!(run.code, 0, "render: {}", run.stderr);
        self.repo.git(&["commit", "-q", "-am", message]);
        self.repo.git(&["push", "-q", "origin", "main"]);
        self.repo.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// The file `rel` on origin's branch `branch`.
    fn show(&self, branch: &str, rel: &str) -> String {
        git(&self.origin, &["show", &format!("{branch}:{rel}")])
    }

    fn refs(&self) -> String {
        git(
            &self.origin,
            &["for-each-ref", "--format=%(refname) %(objectname)"],
        )
    }

    async fn backport(&self, api: &str, args: &[&str]) -> Run {
        let (repo, cache) = (
            self.repo.path().to_path_buf(),
            self.cache.path().to_path_buf(),
        );
        let (api, args) = (
            api.to_string(),
            args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
        tokio::task::spawn_blocking(move || {
            let mut full = vec!["backport".to_string()];
            full.extend(args);
            let strs: Vec<&str> = full.iter().map(String::as_str).collect();
            bot_at(&repo, &cache, &strs, Some(&api))
        })
        .await
        .unwrap()
    }
}

fn bot(repo: &ConfigRepo, cache: &tempfile::TempDir, args: &[&str], api: Option<&str>) -> Run {
    bot_at(repo.path(), cache.path(), args, api)
}

fn bot_at(repo: &Path, cache: &Path, args: &[&str], api: Option<&str>) -> Run {
    let mut cmd = Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(args)
        .repo(repo)
        .arg("--schemas")
        .arg(ake_bot_testkit::schemas_dir())
        .env("AKE_BOT_CACHE_DIR", cache);
    if let Some(api) = api {
        cmd = cmd.github(api, "acme/platform-config", TOKEN);
    }
    cmd.run()
}

async fn github(env: &Env) -> FakeGitHubServer {
    FakeGitHubServer::start(
        FakeGitHub::new("acme", "platform-config", env.origin.clone()).with_token(TOKEN),
    )
    .await
}

fn head(branch: &str, sha: &str) -> String {
    format!("ake-bot/backport/{branch}/{}", &sha[..12])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bump_merged_to_main_fans_out_to_exactly_the_branches_that_can_take_it() {
    let env = train();
    env.repo.pin("cert-manager", "v1.16.5");
    let sha = env.merge_on_main(
        "cert-manager",
        "chore(cert-manager): bump v1.14.7 → v1.16.5",
    );
    let server = github(&env).await;
    let source = server.world().merged_pull(
        "ake-bot/cert-manager",
        "main",
        "chore(cert-manager): bump v1.14.7 → v1.16.5",
        &sha,
        &[],
    );

    let run = env.backport(&server.uri(), &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    // release-1.32: one PR, the bump cherry-picked and re-rendered for 1.32. The rendered file
    // conflicted (its header names the branch) and re-rendering resolved it: no conflict label.
    let h = head("release-1.32", &sha);
    {
        let w = server.world();
        let open = w.open_pulls();
        assert_eq!(open.len(), 1, "{open:#?}\n{}", run.stdout);
        let pr = open[0];
        assert_eq!(
            (pr.base.as_str(), pr.head.as_str()),
            ("release-1.32", h.as_str())
        );
        assert_eq!(
            pr.title,
            "[release-1.32] chore(cert-manager): bump v1.14.7 → v1.16.5"
        );
        assert!(!pr.draft);
        assert!(
            pr.labels.contains(&"backport".to_string()),
            "{:?}",
            pr.labels
        );
        assert!(!pr.labels.contains(&"backport-conflict".to_string()));
        assert!(
            pr.body.contains(&format!("Backport of #{source}")),
            "{}",
            pr.body
        );
        assert!(
            pr.body.contains("**cert-manager** v1.14.7 → v1.16.5"),
            "{}",
            pr.body
        );
        // The branch's own re-render is classified as the sync PR's is: cert-manager's CRDs
        // only gain fields, so nothing is listed as breaking and the label stays off.
        assert!(
            pr.body
                .contains("CRD `certificates.cert-manager.io`: additive only"),
            "{}",
            pr.body
        );
        assert!(!pr.body.contains(" breaking "), "{}", pr.body);
        assert!(!pr.labels.contains(&"crd-breaking".to_string()));
    }
    assert!(env
        .show(&h, "bundles/cert-manager/bundle.yaml")
        .contains("version: v1.16.5"));
    let rendered = env.show(&h, "bundles/cert-manager/rendered/manifests.yaml");
    assert_eq!(
        rendered.lines().nth(1).unwrap(),
        "# chart cert-manager v1.16.5, Kubernetes 1.32, branch release-1.32"
    );
    assert!(rendered.contains("image: quay.io/jetstack/cert-manager-controller:v1.16.5"));
    assert!(!rendered.contains("<<<<<<<"));
    assert_eq!(
        git(&env.origin, &["rev-parse", &format!("{h}^")]),
        git(&env.origin, &["rev-parse", "release-1.32"]),
        "one commit on top of the release branch"
    );
    // Plain git would have stopped here: the render conflicts (each branch's header names the
    // branch). Re-rendering resolved it.
    let scratch = tempfile::tempdir().unwrap();
    git(
        scratch.path(),
        &[
            "clone",
            "-q",
            "-b",
            "release-1.32",
            env.origin.to_str().unwrap(),
            "c",
        ],
    );
    let plain = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "cherry-pick",
            &sha,
        ])
        .current_dir(scratch.path().join("c"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(!plain.status.success());
    let plain = format!(
        "{}{}",
        String::from_utf8_lossy(&plain.stdout),
        String::from_utf8_lossy(&plain.stderr)
    );
    assert!(
        plain.contains(
            "CONFLICT (content): Merge conflict in bundles/cert-manager/rendered/manifests.yaml"
        ),
        "{plain}"
    );
    // Other addons' renders on the branch are untouched.
    assert_eq!(
        env.show(&h, "bundles/argo-cd/rendered/manifests.yaml"),
        env.show("release-1.32", "bundles/argo-cd/rendered/manifests.yaml")
    );

    // Nothing anywhere else: capped, frozen, eol.
    let refs = env.refs();
    for b in ["release-1.31", "release-1.24", "release-1.23"] {
        assert!(!refs.contains(&head(b, &sha)), "{b} got a branch:\n{refs}");
    }
    let comments: Vec<String> = server
        .world()
        .comments_on(source)
        .iter()
        .map(|c| c.body.clone())
        .collect();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let c = &comments[0];
    assert!(c.contains("| `release-1.32` | #"), "{c}");
    assert!(
        c.contains(
            "| `release-1.31` | skipped: cannot take cert-manager v1.16.5: branch cap \"<1.16\" |"
        ),
        "{c}"
    );
    assert!(
        c.contains("`release-1.24` is frozen; label the source PR `backport/release-1.24`"),
        "{c}"
    );
    assert!(c.contains("`release-1.23` is end of life"), "{c}");
    assert!(
        run.stdout.contains("release-1.32     opened #"),
        "{}",
        run.stdout
    );

    // A re-run converges: no new branch, PR, comment or push.
    let (refs_before, writes) = (env.refs(), server.world().writes().len());
    let again = env
        .backport(&server.uri(), &["--pr", &source.to_string()])
        .await;
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("is up to date"), "{}", again.stdout);
    assert!(
        again.stdout.contains("summary comment on #1: unchanged"),
        "{}",
        again.stdout
    );
    assert_eq!(env.refs(), refs_before);
    assert_eq!(
        server.world().writes().len(),
        writes,
        "{:#?}",
        server.world().writes()
    );
    server.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_in_source_files_gives_a_draft_pr_with_the_steps_and_a_clean_one_elsewhere() {
    let env = train();
    // release-1.32 tuned cert-manager's values on its own; main then changes the same line.
    env.repo.git(&["checkout", "-q", "release-1.32"]);
    env.repo.edit(
        "bundles/cert-manager/values.yaml.j2",
        "prometheus:\n  enabled: true",
        "prometheus:\n  enabled: false # 1.32 tenants scrape elsewhere",
    );
    env.repo
        .git(&["commit", "-q", "-am", "cert-manager: no metrics on 1.32"]);
    env.repo.git(&["push", "-q", "origin", "release-1.32"]);
    env.repo.git(&["checkout", "-q", "main"]);
    env.repo.edit(
        "bundles/cert-manager/values.yaml.j2",
        "prometheus:\n  enabled: true",
        "prometheus:\n  enabled: true\n  servicemonitor:\n    enabled: false",
    );
    let sha = env.merge_on_main(
        "cert-manager",
        "cert-manager: explicit servicemonitor setting",
    );
    let server = github(&env).await;
    let source = server.world().merged_pull(
        "tune-cert-manager",
        "main",
        "cert-manager: explicit servicemonitor setting",
        &sha,
        &["backport/release-1.24"],
    );

    let run = env.backport(&server.uri(), &["--commit", &sha]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("release-1.32     CONFLICT in bundles/cert-manager/values.yaml.j2: draft #"),
        "{}",
        run.stdout
    );

    let conflict_head = head("release-1.32", &sha);
    {
        let w = server.world();
        let draft = w.pulls.iter().find(|p| p.head == conflict_head).unwrap();
        assert!(draft.draft);
        assert!(draft.labels.contains(&"backport-conflict".to_string()));
        assert!(
            draft
                .body
                .contains("- `bundles/cert-manager/values.yaml.j2`"),
            "{}",
            draft.body
        );
        assert!(
            draft.body.contains(&format!("git cherry-pick -x {sha}")),
            "{}",
            draft.body
        );
        assert!(draft.body.contains("ake-bot render --branch release-1.32"));
        // The clean branches (1.31 maintained, 1.24 opted in by label) get ordinary PRs.
        for b in ["release-1.31", "release-1.24"] {
            let pr = w.pulls.iter().find(|p| p.head == head(b, &sha)).unwrap();
            assert!(!pr.draft && !pr.labels.contains(&"backport-conflict".to_string()));
            assert_eq!(pr.base, b);
        }
        let comments = w.comments_on(source);
        assert_eq!(comments.len(), 1);
        assert!(comments[0]
            .body
            .contains("conflicts in `bundles/cert-manager/values.yaml.j2`"));
        // What reviewers read, with commit ids (which move with the fixtures) masked.
        insta::with_settings!({filters => vec![(r"[0-9a-f]{40}", "[SHA]"), (r"[0-9a-f]{12}", "[SHA12]")]}, {
            insta::assert_snapshot!("backport-conflict-body", draft.body);
            insta::assert_snapshot!("backport-summary-comment", comments[0].body);
        });
    }
    let values = env.show(&conflict_head, "bundles/cert-manager/values.yaml.j2");
    assert!(
        values.contains("<<<<<<<") && values.contains(">>>>>>>"),
        "{values}"
    );
    // The clean backports are re-rendered for their minor with the new values.
    let r131 = env.show(
        &head("release-1.31", &sha),
        "bundles/cert-manager/rendered/manifests.yaml",
    );
    assert!(r131
        .lines()
        .nth(1)
        .unwrap()
        .ends_with("Kubernetes 1.31, branch release-1.31"));

    // A person finishes the conflict on the branch; the bot leaves their work alone.
    let work = env.repo.path();
    git(work, &["fetch", "-q", "origin", &conflict_head]);
    git(
        work,
        &[
            "checkout",
            "-q",
            "-b",
            "fix",
            &format!("origin/{conflict_head}"),
        ],
    );
    env.repo.write(
        "bundles/cert-manager/values.yaml.j2",
        &env.show("release-1.32", "bundles/cert-manager/values.yaml.j2"),
    );
    git(work, &["commit", "-q", "-am", "resolve"]);
    git(
        work,
        &["push", "-q", "origin", &format!("fix:{conflict_head}")],
    );
    git(work, &["checkout", "-q", "main"]);
    let (refs_before, writes) = (env.refs(), server.world().writes().len());
    let again = env.backport(&server.uri(), &["--commit", &sha]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("a person pushed to it; left alone"),
        "{}",
        again.stdout
    );
    assert_eq!(
        env.refs(),
        refs_before,
        "nothing pushed over the person's work"
    );
    let w = server.finish();
    // Only the summary comment changed (conflict → being finished by hand), in place.
    let new_writes: Vec<_> = w.writes().into_iter().skip(writes).collect();
    assert_eq!(new_writes.len(), 1, "{new_writes:#?}");
    assert_eq!(new_writes[0].operation, "issues/update-comment");
    assert_eq!(w.comments_on(source).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_the_chart_forbids_on_a_minor_is_not_carried_there_even_when_asked() {
    let env = train();
    env.repo.edit(
        "bundles/argo-cd/bundle.yaml",
        "version: 7.8.27",
        "version: 7.8.28",
    );
    let sha = env.merge_on_main("argo-cd", "chore(argo-cd): bump 7.8.27 → 7.8.28");
    let server = github(&env).await;
    let source = server.world().merged_pull(
        "ake-bot/argo-cd",
        "main",
        "chore(argo-cd): bump 7.8.27 → 7.8.28",
        &sha,
        &["backport/release-1.24"],
    );

    // The dry run predicts, reading GitHub, writing nothing.
    let before = env.refs();
    let plan = env
        .backport(&server.uri(), &["--dry-run", "--output", "json"])
        .await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(
        (v["command"].as_str(), v["type"].as_str()),
        (Some("backport"), Some("plan"))
    );
    let outcome = |b: &str| {
        v["data"]["changes"][0]["branches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["branch"] == b)
            .unwrap()["step"]
            .clone()
    };
    assert_eq!(outcome("release-1.32")["kind"], "carry");
    assert_eq!(outcome("release-1.31")["kind"], "carry");
    let files = outcome("release-1.31")["files"].to_string();
    assert!(
        files.contains("bundles/argo-cd/rendered/manifests.yaml"),
        "{files}"
    );
    assert_eq!(outcome("release-1.24")["kind"], "skip");
    assert!(
        outcome("release-1.24")["reason"]
            .as_str()
            .unwrap()
            .contains("chart requires kubeVersion >=1.25.0-0, branch runs v1.24.0"),
        "{}",
        outcome("release-1.24")
    );
    assert_eq!(env.refs(), before);
    assert!(server.world().writes().is_empty());

    let run = env.backport(&server.uri(), &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let w = server.finish();
    let bases: Vec<&str> = w.open_pulls().iter().map(|p| p.base.as_str()).collect();
    assert_eq!(bases.len(), 2, "{bases:?}");
    assert!(bases.contains(&"release-1.32") && bases.contains(&"release-1.31"));
    let c = &w.comments_on(source)[0].body;
    assert!(
        c.contains(
            "| `release-1.24` | skipped: cannot take argo-cd 7.8.28: chart requires kubeVersion"
        ),
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_backport_keeps_a_change_on_main_and_generated_only_changes_carry_nothing() {
    let env = train();
    env.repo.edit(
        "bundles/cert-manager/values.yaml.j2",
        "prometheus:\n  enabled: true",
        "prometheus:\n  enabled: true # main only",
    );
    let sha = env.merge_on_main("cert-manager", "cert-manager: a main-only note");
    let server = github(&env).await;
    let source = server.world().merged_pull(
        "note",
        "main",
        "cert-manager: a main-only note",
        &sha,
        &["no-backport"],
    );
    let run = env.backport(&server.uri(), &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout
            .matches("the source PR is labelled `no-backport`")
            .count(),
        3,
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("release-1.23     skipped: `release-1.23` is end of life"));

    // A commit that only re-renders main carries nothing (each branch renders itself).
    let toml = env
        .repo
        .read("bundles/cert-manager/rendered/manifests.yaml");
    env.repo.write(
        "bundles/cert-manager/rendered/manifests.yaml",
        &toml.replacen("# Generated", "# Regenerated", 1),
    );
    env.repo.git(&["commit", "-q", "-am", "re-render"]);
    env.repo.git(&["push", "-q", "origin", "main"]);
    // `--since` is what the workflow passes on a push: commits after `before`, here just one.
    let only_generated = env.backport(&server.uri(), &["--since", &sha]).await;
    assert_eq!(only_generated.code, 0, "{}", only_generated.stderr);
    assert!(
        only_generated
            .stdout
            .contains("nothing to carry: the change touches only generated files"),
        "{}",
        only_generated.stdout
    );
    let changes = only_generated
        .stdout
        .lines()
        .filter(|l| l.starts_with("━━━━"))
        .count();
    assert_eq!(
        changes, 1,
        "only the commit after --since: {}",
        only_generated.stdout
    );
    let w = server.finish();
    assert!(w.open_pulls().is_empty());
    assert_eq!(w.comments_on(source).len(), 1);
}
