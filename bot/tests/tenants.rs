//! `ake-bot tenants` end to end: a config repository whose tags are cut by `release` in the
//! same scenario, two tenant repositories (real bare git origins) and the fake GitHub. One
//! tenant pins `v1.31.0` in an Argo CD Application and gets a bump to `v1.31.1` with the tag
//! diff; the other pins the frozen release-1.24 by a Kustomize `?ref=` and gets an upgrade
//! to Kubernetes 1.31 whose readiness report lists its removed-API PodDisruptionBudget, fixed
//! in the same PR. A second run writes nothing; a declined proposal is not reopened; a tenant
//! the token cannot reach is one problem while the others go on.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use ake_bot_testkit::github::{FakeGitHub, FakeGitHubServer};
use ake_bot_testkit::{Bot, ConfigRepo, Run, TenantRepo};

const TOKEN: &str = "ghs_tenantsTOKEN0123456789";

const ARGO_APP: &str = "\
# The platform's addons for the payments clusters.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: platform-addons
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://github.com/acme/platform-config.git
    path: bundles
    targetRevision: v1.31.0 # bumped by ake-bot
  destination:
    server: https://kubernetes.default.svc
";

const PAYMENTS_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: payments
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: ghcr.io/acme/payments-api:2.4.1
";

const LEGACY_KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - https://github.com/acme/platform-config//bundles/cert-manager/rendered?ref=v1.24.0
";

const LEGACY_PDB: &str = "\
# Keep two API pods during node drains.
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata:
  name: api
  namespace: legacy
spec:
  minAvailable: 2
  selector:
    matchLabels:
      app: api
";

struct Scenario {
    repo: ConfigRepo,
    _origin: (tempfile::TempDir, std::path::PathBuf),
    payments: TenantRepo,
    legacy: TenantRepo,
    server: FakeGitHubServer,
}

impl Scenario {
    /// The train on origin with tenants.toml on main; `release` tags every branch, then
    /// release-1.31 takes cert-manager v1.15.5 and `release` tags it v1.31.1.
    async fn new() -> Scenario {
        Scenario::with_more_tenants("").await
    }

    /// [`Scenario::new`] with more `[[tenant]]` tables in tenants.toml.
    async fn with_more_tenants(more: &str) -> Scenario {
        let payments = TenantRepo::new(&[
            ("deploy/platform.yaml", ARGO_APP),
            ("deploy/api.yaml", PAYMENTS_DEPLOYMENT),
        ]);
        let legacy = TenantRepo::new(&[
            ("platform/kustomization.yaml", LEGACY_KUSTOMIZATION),
            ("apps/api/pdb.yaml", LEGACY_PDB),
        ]);
        let repo = ConfigRepo::from_project();
        repo.write(
            "tenants.toml",
            &format!(
                "[[tenant]]\nname = \"payments\"\nrepo = \"{}\"\ngithub = \"acme/payments\"\n\n\
                 [[tenant]]\nname = \"legacy\"\nrepo = \"{}\"\ngithub = \"acme/legacy\"\n{more}",
                payments.url(),
                legacy.url()
            ),
        );
        let origin = repo.train_on_origin(&["1.32", "1.31", "1.24"]);
        let mut world =
            FakeGitHub::new("acme", "platform-config", origin.1.clone()).with_token(TOKEN);
        world.add_repo("acme/payments", payments.origin.clone());
        world.add_repo("acme/legacy", legacy.origin.clone());
        let server = FakeGitHubServer::start(world).await;
        let s = Scenario {
            repo,
            _origin: origin,
            payments,
            legacy,
            server,
        };
        let run = s.bot(&["release"]).await;
        assert_eq!(run.code, 0, "release: {}\n{}", run.stdout, run.stderr);

        // A fix reaches release-1.31: cert-manager v1.15.5 (its cap is <1.16), re-rendered.
        s.repo.git(&["checkout", "-q", "release-1.31"]);
        s.repo.pin("cert-manager", "v1.15.5");
        let digest = s
            .repo
            .layout_digest("mirror/oci/jetstack/cert-manager", "v1.15.5");
        s.repo.edit(
            "bundles/cert-manager/bundle.yaml",
            "version: v1.15.5\n",
            &format!("version: v1.15.5\ndigest: {digest}\n"),
        );
        let run = s
            .bot(&[
                "render",
                "--branch",
                "release-1.31",
                "--addon",
                "cert-manager",
            ])
            .await;
        assert_eq!(run.code, 0, "render: {}", run.stderr);
        s.repo.git(&[
            "commit",
            "-q",
            "-am",
            "chore(cert-manager): bump v1.14.7 → v1.15.5",
        ]);
        s.repo.git(&["push", "-q", "origin", "release-1.31"]);
        s.repo.git(&["checkout", "-q", "main"]);
        let run = s.bot(&["release", "--branch", "release-1.31"]).await;
        assert_eq!(run.code, 0, "release: {}\n{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("v1.31.1"), "{}", run.stdout);
        s
    }

    async fn bot(&self, args: &[&str]) -> Run {
        let (repo, api) = (self.repo.path().to_path_buf(), self.server.uri());
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
                .args(&args)
                .repo(&repo)
                .github(&api, "acme/platform-config", TOKEN)
                .with_schemas()
                .run()
        })
        .await
        .unwrap()
    }

    fn tenant_writes(&self) -> usize {
        self.server
            .world()
            .writes()
            .iter()
            .filter(|r| !r.path.contains("/platform-config"))
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_get_a_bump_and_an_upgrade_with_its_readiness_and_a_second_run_writes_nothing() {
    let s = Scenario::new().await;

    let run = s.bot(&["tenants"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    // payments: the Argo CD pin moves within 1.31, and the PR shows what the move changes.
    let world = s.server.world().clone();
    let payments = world.repo("acme/payments");
    let [bump] = &payments.open_pulls()[..] else {
        panic!("one PR in payments: {:#?}", payments.pulls)
    };
    assert_eq!(bump.head, "ake-bot/platform/1.31");
    assert_eq!(bump.base, "main");
    assert_eq!(bump.title, "Platform v1.31.0 → v1.31.1");
    for expected in [
        "| `deploy/platform.yaml` | 12 | Argo CD Application `Application argocd/platform-addons` | `v1.31.0` | `v1.31.1` |",
        "## Moving from `v1.31.0` to `v1.31.1`",
        "| cert-manager | v1.14.7 → v1.15.5 |",
        "quay.io/jetstack/cert-manager-controller:v1.15.5",
    ] {
        assert!(bump.body.contains(expected), "missing {expected:?} in:\n{}", bump.body);
    }
    // cert-manager v1.14.7 → v1.15.5 only adds to its CRDs: the PR says so and is not
    // labelled crd-breaking.
    assert!(
        bump.body
            .contains("- `certificates.cert-manager.io`: additive only"),
        "{}",
        bump.body
    );
    assert!(
        !bump.labels.contains(&"crd-breaking".to_string()),
        "{:?}",
        bump.labels
    );
    assert_eq!(
        s.payments
            .show("ake-bot/platform/1.31", "deploy/platform.yaml"),
        ARGO_APP.replace("targetRevision: v1.31.0", "targetRevision: v1.31.1"),
        "only the revision moves; the comment stays"
    );
    assert_eq!(
        s.payments.show("ake-bot/platform/1.31", "deploy/api.yaml"),
        PAYMENTS_DEPLOYMENT
    );

    // legacy: release-1.24 is frozen, so the proposal is Kubernetes 1.31, with the removed
    // PodDisruptionBudget API found in the tenant's own manifest and fixed in the same commit.
    let legacy = world.repo("acme/legacy");
    let [upgrade] = &legacy.open_pulls()[..] else {
        panic!("one PR in legacy: {:#?}", legacy.pulls)
    };
    assert_eq!(upgrade.head, "ake-bot/platform-upgrade/1.31");
    assert_eq!(
        upgrade.title,
        "Upgrade to Kubernetes 1.31: platform v1.24.0 → v1.31.1"
    );
    assert!(upgrade.labels.contains(&"kubernetes-upgrade".to_string()));
    assert!(!upgrade.draft, "every finding has a fix: not a draft");
    for expected in [
        "release-1.24 is frozen",
        "### Upgrade readiness on Kubernetes 1.31",
        "`PodDisruptionBudget legacy/api`",
        "policy/v1beta1 PodDisruptionBudget was removed in Kubernetes 1.25",
        "fixed in this PR: `policy/v1 PodDisruptionBudget`",
        "## Moving from `v1.24.0` to `v1.31.1`",
    ] {
        assert!(
            upgrade.body.contains(expected),
            "missing {expected:?} in:\n{}",
            upgrade.body
        );
    }
    assert_eq!(
        s.legacy
            .show("ake-bot/platform-upgrade/1.31", "apps/api/pdb.yaml"),
        LEGACY_PDB.replace("policy/v1beta1", "policy/v1")
    );
    assert_eq!(
        s.legacy.show(
            "ake-bot/platform-upgrade/1.31",
            "platform/kustomization.yaml"
        ),
        LEGACY_KUSTOMIZATION.replace("?ref=v1.24.0", "?ref=v1.31.1")
    );

    // A second run: every PR already says what it should, every branch holds its tree.
    let (writes, payments_refs, legacy_refs) =
        (s.tenant_writes(), s.payments.refs(), s.legacy.refs());
    let again = s.bot(&["tenants"]).await;
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(
        s.tenant_writes(),
        writes,
        "{:#?}",
        s.server.world().requests
    );
    assert_eq!(s.payments.refs(), payments_refs);
    assert_eq!(s.legacy.refs(), legacy_refs);

    // The legacy team declines 1.31 for now: the proposal is not reopened.
    let number = upgrade.number;
    s.server.world().repo_mut("acme/legacy").close_pull(number);
    let declined = s.bot(&["tenants"]).await;
    assert_eq!(declined.code, 0, "{}\n{}", declined.stdout, declined.stderr);
    assert!(s.server.world().repo("acme/legacy").open_pulls().is_empty());
    assert_eq!(s.tenant_writes(), writes);
    assert!(
        declined
            .stdout
            .contains("closed without merging; not reopened"),
        "{}",
        declined.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_cannot_be_reached_is_one_problem_and_the_others_go_on() {
    let s = Scenario::with_more_tenants(
        "\n# Not given to the GitHub App: GitHub answers 404.\n[[tenant]]\nrepo = \"acme/ghost\"\n\n\
         # On GitHub, but its git remote is gone.\n[[tenant]]\nname = \"moved\"\nrepo = \"file:///nonexistent/moved.git\"\ngithub = \"acme/moved\"\n",
    )
    .await;
    s.server
        .world()
        .add_repo("acme/moved", "/nonexistent/moved.git".into());

    // The plan, as JSON: every tenant is there, the two unreachable ones with their cause.
    let plan = s.bot(&["tenants", "--dry-run", "--output", "json"]).await;
    assert_eq!(plan.code, 1, "{}\n{}", plan.stdout, plan.stderr);
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let tenants = v["data"]["tenants"].as_array().unwrap();
    let by_name = |n: &str| {
        tenants
            .iter()
            .find(|t| t["tenant"] == n)
            .unwrap_or_else(|| panic!("no {n} in {tenants:#?}"))
    };
    assert_eq!(by_name("payments")["proposals"][0]["pr"]["kind"], "open");
    assert_eq!(by_name("legacy")["proposals"][0]["kind"], "upgrade");
    let ghost = by_name("acme/ghost")["error"].as_str().unwrap();
    assert!(
        ghost.contains("the token cannot reach acme/ghost on GitHub (404"),
        "{ghost}"
    );
    let moved = by_name("moved")["error"].as_str().unwrap();
    assert!(
        moved.contains("cannot fetch branch main of file:///nonexistent/moved.git"),
        "{moved}"
    );
    let problems: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["cause"].as_str())
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("tenant acme/ghost: "),
        "{problems:?}"
    );
    assert_eq!(s.tenant_writes(), 0, "a dry run writes nothing");

    // For real: the reachable tenants get their PRs; the run says what it could not do.
    let run = s.bot(&["tenants"]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("tenant acme/ghost: the token cannot reach acme/ghost"),
        "{}",
        run.stderr
    );
    let w = s.server.world();
    assert_eq!(w.repo("acme/payments").open_pulls().len(), 1);
    assert_eq!(w.repo("acme/legacy").open_pulls().len(), 1);
    assert!(w.repo("acme/moved").pulls.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_tag_supersedes_the_open_bump_and_a_tenant_that_moved_on_gets_it_closed() {
    let s = Scenario::new().await;
    let run = s.bot(&["tenants", "--tenant", "payments"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let number = s.server.world().repo("acme/payments").open_pulls()[0].number;

    // release-1.31 moves on to v1.31.2 before the tenant merged: the same PR now proposes it.
    s.repo.git(&["checkout", "-q", "release-1.31"]);
    s.repo.write("NOTES.md", "A note for the 1.31 line.\n");
    s.repo.git(&["add", "NOTES.md"]);
    s.repo
        .git(&["commit", "-q", "-m", "docs: a note for the 1.31 line"]);
    s.repo.git(&["push", "-q", "origin", "release-1.31"]);
    s.repo.git(&["checkout", "-q", "main"]);
    let release = s.bot(&["release", "--branch", "release-1.31"]).await;
    assert_eq!(release.code, 0, "{}\n{}", release.stdout, release.stderr);
    let run = s.bot(&["tenants", "--tenant", "payments"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    {
        let w = s.server.world();
        let open = w.repo("acme/payments").open_pulls();
        assert_eq!(open.len(), 1, "superseded in place, not a second PR");
        assert_eq!(open[0].number, number);
        assert_eq!(open[0].title, "Platform v1.31.0 → v1.31.2");
        assert!(open[0]
            .body
            .contains("## Moving from `v1.31.0` to `v1.31.2`"));
    }
    assert!(s
        .payments
        .show("ake-bot/platform/1.31", "deploy/platform.yaml")
        .contains("targetRevision: v1.31.2 # bumped by ake-bot"));

    // The team moves the pin by hand: the bot's PR has nothing left to do and is closed, once.
    s.payments.commit(
        "deploy/platform.yaml",
        &ARGO_APP.replace("v1.31.0", "v1.31.2"),
        "move to v1.31.2",
    );
    let run = s.bot(&["tenants", "--tenant", "payments"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let writes = s.tenant_writes();
    {
        let w = s.server.world();
        let payments = w.repo("acme/payments");
        assert!(payments.open_pulls().is_empty(), "{:#?}", payments.pulls);
        let comments = payments.comments_on(number);
        assert_eq!(comments.len(), 1);
        assert!(
            comments[0].body.contains("Closing: "),
            "{}",
            comments[0].body
        );
    }
    assert!(
        !s.payments.refs().contains("ake-bot/platform/1.31"),
        "the bot branch is deleted: {}",
        s.payments.refs()
    );
    let again = s.bot(&["tenants", "--tenant", "payments"]).await;
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(s.tenant_writes(), writes);
}
