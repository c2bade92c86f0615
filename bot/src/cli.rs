//! Command-line arguments (clap derive only; no logic here).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keeps Kubernetes addons current on every release branch of a platform config repository.
///
/// ake-bot reads `branches.toml` (the release train) and `bundles/<addon>/` (one Helm chart
/// each) from the config repository, looks up upstream versions, renders each bundle per
/// branch with the real `helm`, and shows exactly what changes in the rendered manifests.
#[derive(Debug, Parser)]
#[command(
    name = "ake-bot",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = "Exit status: 0 done (updates found included); 1 done, but something needs a \
                  human (a config problem, a failed addon, a stale render); 2 could not run.\n\
                  helm is found through $HELM, else PATH."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The config repository (holds branches.toml and bundles/).
    #[arg(long, global = true, env = "AKE_BOT_REPO", default_value = ".")]
    pub repo: PathBuf,
    /// Where verified chart archives are cached [default: $XDG_CACHE_HOME/ake-bot or ~/.cache/ake-bot].
    #[arg(long, global = true, env = "AKE_BOT_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The size bound of the render cache in the cache directory (renders and planned PR
    /// bodies, reused while nothing they depend on changed), in MiB; least recently used first.
    #[arg(
        long,
        global = true,
        env = "AKE_BOT_RENDER_CACHE_MB",
        value_name = "MIB",
        default_value_t = 2048
    )]
    pub render_cache_mb: u64,
    /// Output format of the command's data on stdout (logs go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Kubernetes JSON schema sets in the kubeconform layout (v1.32.0-local-strict/…), e.g.
    /// kubernetes-validate's kubernetes_validate/kubernetes-json-schema. Used by `validate`
    /// and by the validation section of `sync` and `backport` PR bodies.
    #[arg(long, global = true, env = "AKE_BOT_SCHEMAS", value_name = "DIR")]
    pub schemas: Option<PathBuf>,
    /// The deadline of each request to an upstream chart repository or schema host, in seconds;
    /// with retries, a stalled upstream fails its addon within two and a half of these.
    #[arg(
        long,
        global = true,
        env = "AKE_BOT_UPSTREAM_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 20
    )]
    pub upstream_timeout: u64,
    /// The branch a pull request targets, as GitHub Actions sets it: in a PR's checkout, the
    /// work tree holds that train branch (unless the checked-out branch is one).
    #[arg(long, global = true, env = "GITHUB_BASE_REF", hide = true)]
    pub base_ref: Option<String>,
    /// More log output on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    /// Markdown (`diff`, `matrix`, `scan`); other commands print text.
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate branches.toml and every bundle; exit 1 on any problem.
    Check,
    /// One upgrade PR per (addon, branch): newest admissible upstream version, re-rendered, with
    /// the manifest diff; a release branch that takes main's version gets it by backport
    /// instead. Keeps the release-train dashboard issue. With --dry-run, the plan, the PR
    /// bodies and the dashboard's body.
    Sync(SyncArgs),
    /// Re-render the pinned version of each bundle for the checked-out branch and write
    /// bundles/<addon>/rendered/manifests.yaml.
    Render(RenderArgs),
    /// What a tenant gets by moving between two tags: addon versions and the manifest diff.
    /// Exit 1 when they differ.
    Diff(DiffArgs),
    /// Release each branch with changes since its last tag: annotated tag with the changelog
    /// and addon table, pushed (never moved), and a GitHub release with the same notes.
    Release(ReleaseArgs),
    /// Carry changes merged to main to every release branch they apply to, each as a PR onto
    /// that branch: source files cherry-picked, bundles re-rendered for the branch's minor.
    Backport(BackportArgs),
    /// Check that each branch's committed renders would install on its Kubernetes minor:
    /// schemas (strict), custom resources against their CRDs, removed and deprecated APIs,
    /// duplicates, namespaces, chart kubeVersion. Exit 1 on errors (warnings do not fail).
    Validate(ValidateArgs),
    /// Install a branch's bundles on a kind cluster with the branch's node image, wait until
    /// they run, run each addon's smoke checks (e2e/<addon>/smoke.yaml), report, and delete
    /// the cluster. Needs kind and a container engine; `validate` is the offline check.
    E2e(E2eArgs),
    /// The supported-versions matrix tenants read: for each addon (and where it is deployed) and
    /// each branch (its Kubernetes minor and latest tag), the chart version the branch pins and
    /// that chart's app version. As text, JSON, a Markdown table or one self-contained HTML page.
    Matrix(MatrixArgs),
    /// List the objects on a live cluster written with APIs that Kubernetes --target removes
    /// (or deprecates), before upgrading to it: per object, the apiVersion each field manager
    /// wrote with (managedFields: catches server-side apply), the last-applied-configuration
    /// annotation, and the latest revision of each Helm release. Read-only (get and list).
    /// Exit 1 when something the target removes is found; deprecations are warnings.
    Scan(ScanArgs),
    /// The other end of the tag: for each repository in tenants.toml, find how it pins this
    /// platform (Argo CD, Kustomize, Terraform/OpenTofu, Flux, .ake-version) and open PRs there:
    /// a bump to the newest tag of the pinned minor, with the tag-to-tag diff, and, when the
    /// pinned branch is frozen, eol or leaving the support window, an upgrade to the next
    /// minor with the readiness of the tenant's own manifests and lossless API fixes committed.
    /// With --dry-run, the plan and the PR bodies.
    Tenants(TenantsArgs),
    /// Manage the train's branches.
    #[command(subcommand)]
    Branch(BranchCommand),
    /// Gatekeeper policies (ConstraintTemplates in Rego, and their Constraints).
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run gator test Suites (test.gatekeeper.sh/v1alpha1) with gator verify's semantics: per
    /// test a template and a constraint, per case an object (or AdmissionReview) and
    /// assertions. Exit 1 when a suite, test or case fails.
    Verify(PolicyVerifyArgs),
}

#[derive(Debug, Args)]
pub struct PolicyVerifyArgs {
    /// Directories (searched recursively) or suite files [default: policies/ of --repo].
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Only tests and cases whose names match: REGEX, or TEST_REGEX//CASE_REGEX (as gator).
    #[arg(long, value_name = "REGEX")]
    pub run: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The cluster to scan: its kubeconfig (the current context is used).
    #[arg(long, env = "KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: PathBuf,
    /// The Kubernetes minor the cluster is about to be upgraded to (e.g. 1.25).
    #[arg(long, value_name = "MINOR")]
    pub target: crate::model::KubeMinor,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// How to render the matrix [default: text; markdown with --output markdown]. With
    /// --output json, stdout is the JSON envelope whatever the format (its data is the matrix).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<MatrixFormat>,
    /// Write the rendered matrix to FILE (atomically: a complete file or none) instead of
    /// stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Only this branch (repeatable) [default: every branch that is not eol].
    #[arg(long = "branch", value_name = "NAME")]
    pub branches: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatrixFormat {
    /// Aligned columns for a terminal.
    Text,
    /// The matrix as JSON (branches, then addons with their cells by branch).
    Json,
    /// A GitHub Markdown table (the one in release notes).
    Markdown,
    /// One self-contained HTML page: no scripts, no external styles or fonts; dark mode.
    Html,
}

#[derive(Debug, Subcommand)]
pub enum BranchCommand {
    /// Cut release-<MINOR> from main when a new Kubernetes minor ships: the branch is created
    /// from main's tip, and a PR moves main to the next minor in branches.toml (branches beyond
    /// `support_window` become eol).
    Cut(CutArgs),
}

#[derive(Debug, Args)]
pub struct CutArgs {
    /// The minor main targets now, which the new release branch will serve (e.g. 1.33).
    pub minor: String,
    /// The kind node image for main's new minor (e.g. kindest/node:v1.34.0).
    #[arg(long)]
    pub kind_image: String,
    /// Print the plan and the branches.toml change; create nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub github: GitHubArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Applies to: maintained branches; frozen ones only when the source PR is \
                  labelled backport/<branch>; none when it is labelled no-backport; never a \
                  branch whose caps or Kubernetes minor exclude a version the change moves to \
                  (the source PR gets a comment saying so)."
)]
pub struct BackportArgs {
    /// Carry this commit on main (repeatable) [default: main's tip].
    #[arg(long = "commit", value_name = "SHA", conflicts_with_all = ["pulls", "since"])]
    pub commits: Vec<String>,
    /// Carry what this merged pull request put on main (repeatable).
    #[arg(long = "pr", value_name = "NUMBER", conflicts_with = "since")]
    pub pulls: Vec<u64>,
    /// Carry every commit on main's first-parent line after SHA (a push event's `before`).
    #[arg(long, value_name = "SHA")]
    pub since: Option<String>,
    /// Only this release branch (repeatable) [default: every release branch].
    #[arg(long = "branch", value_name = "NAME")]
    pub branches: Vec<String>,
    /// Print what would be carried where, and the conflicts; push nothing, write nothing to
    /// GitHub (GitHub is read when a token is set).
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub github: GitHubArgs,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Only this branch (repeatable) [default: the checked-out branch, else main].
    #[arg(long = "branch", value_name = "NAME", conflicts_with = "all")]
    pub branches: Vec<String>,
    /// Every branch that is not eol (each read from its local or origin branch).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct E2eArgs {
    /// The train branch to install [default: the checked-out branch, else main].
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// The work tree holds --branch: install the work tree's renders as that branch, not the
    /// branch's local or origin commit (a pull request's merge checkout, tested as its base).
    #[arg(long, requires = "branch")]
    pub work_tree: bool,
    /// Print what would be installed (the branch, where its renders are read from, the node
    /// image, each bundle with its object count); create no cluster.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Keep the kind cluster afterwards; prints how to reach it and how to delete it.
    #[arg(long)]
    pub keep: bool,
    /// One deadline for the whole install (hooks, rollouts, custom resources: every bundle at
    /// once), in seconds. The default leaves room for cluster creation and smoke checks inside
    /// a 45-minute CI job.
    #[arg(long, value_name = "SECONDS", default_value_t = 1200)]
    pub timeout: u64,
    /// Install into this cluster instead of creating a kind cluster (nothing is deleted).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kind binary.
    #[arg(long, env = "KIND", default_value = "kind", value_name = "PATH")]
    pub kind: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// Print the release plan (tags and notes); create nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Only this branch (repeatable) [default: every branch that is not eol].
    #[arg(long = "branch", value_name = "NAME")]
    pub branches: Vec<String>,
    #[command(flatten)]
    pub github: GitHubArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The tag (or any git revision) the tenant runs now, e.g. v1.30.3.
    pub from: String,
    /// The tag to move to, e.g. v1.30.4.
    pub to: String,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Print the plan, the PR bodies and the dashboard for every branch; push nothing and
    /// write nothing to GitHub (with a token, PRs and the dashboard are read).
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Only this addon (repeatable).
    #[arg(long = "addon", value_name = "NAME")]
    pub addons: Vec<String>,
    /// Only this branch (repeatable) [default: every branch that is not eol].
    #[arg(long = "branch", value_name = "NAME")]
    pub branches: Vec<String>,
    /// Only the addons of shard I of N (a leg of a GitHub Actions matrix; README: "Sharding
    /// sync"). Never writes the dashboard: `--dashboard-only` does, after the legs.
    #[arg(long, value_name = "I/N", conflicts_with_all = ["addons", "shard_matrix", "dashboard_only"])]
    pub shard: Option<crate::jobs::sync::Shard>,
    /// Print the matrix of N shards as JSON (with `--output json`: `.data.shards`, one
    /// `{shard, addons}` per leg) and do nothing else. An addon's shard depends only on its name.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256), conflicts_with_all = ["addons", "branches", "dashboard_only", "dry_run"])]
    pub shard_matrix: Option<u16>,
    /// Plan the whole train and write only the dashboard issue (no branch, no PR): the final
    /// job after the shards' legs, fast when the cache directory holds their renders.
    #[arg(long, conflicts_with_all = ["addons", "branches", "dry_run"])]
    pub dashboard_only: bool,
    #[command(flatten)]
    pub github: GitHubArgs,
}

#[derive(Debug, Args)]
pub struct TenantsArgs {
    /// Print what would be proposed to each tenant (pins, PR bodies, readiness); push nothing
    /// and write nothing to GitHub (GitHub is read when a token is set).
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Only this tenant (repeatable), by its name in tenants.toml.
    #[arg(long = "tenant", value_name = "NAME")]
    pub tenants: Vec<String>,
    /// A token that reaches the tenant repositories: a GitHub App installation token or a
    /// fine-grained token with Contents and Pull requests read/write on them (the workflow's
    /// GITHUB_TOKEN reaches only this repository) [default: --github-token].
    #[arg(long, env = "AKE_BOT_TENANTS_TOKEN", hide_env_values = true, value_parser = parse_secret, value_name = "TOKEN")]
    pub tenants_token: Option<secrecy::SecretString>,
    /// Where `owner/repo` tenants are cloned from (GitHub Enterprise: https://HOST).
    #[arg(long, env = "GITHUB_SERVER_URL", default_value = "https://github.com")]
    pub github_server_url: String,
    #[command(flatten)]
    pub github: GitHubArgs,
}

/// Where pull requests go. Defaults follow GitHub Actions' environment.
#[derive(Debug, Args)]
pub struct GitHubArgs {
    /// GitHub API base URL (GitHub Enterprise: https://HOST/api/v3).
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    pub github_api_url: String,
    /// The repository pull requests are opened in, as owner/repo.
    #[arg(long, env = "GITHUB_REPOSITORY", value_name = "OWNER/REPO")]
    pub github_repository: Option<String>,
    /// Token for pushes and API calls. Prefer the environment: command lines are visible to
    /// other users of the machine.
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true, value_parser = parse_secret, value_name = "TOKEN")]
    pub github_token: Option<secrecy::SecretString>,
    /// Bot branches are named <prefix><addon> (main) and <prefix><branch>/<addon>.
    #[arg(long, default_value = "ake-bot/")]
    pub branch_prefix: String,
    /// The git remote that is the GitHub repository.
    #[arg(long, default_value = "origin")]
    pub remote: String,
    /// Commit author name for bot commits.
    #[arg(long, env = "AKE_BOT_AUTHOR_NAME", default_value = "ake-bot")]
    pub author_name: String,
    /// Commit author email for bot commits.
    #[arg(
        long,
        env = "AKE_BOT_AUTHOR_EMAIL",
        default_value = "ake-bot@users.noreply.github.com"
    )]
    pub author_email: String,
}

fn parse_secret(s: &str) -> Result<secrecy::SecretString, String> {
    if s.trim().is_empty() {
        return Err("the token is empty".into());
    }
    Ok(secrecy::SecretString::from(s.to_string()))
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Only this addon (repeatable).
    #[arg(long = "addon", value_name = "NAME")]
    pub addons: Vec<String>,
    /// The train branch the work tree holds [default: the checked-out git branch, else main].
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// Write nothing; exit 1 if a committed render is not what rendering produces.
    #[arg(long)]
    pub check: bool,
}
