//! The config repository: `branches.toml` (the train) and `bundles/<addon>/` (the addons).
//!
//! Loading is two-phase (parse with positions, then semantic checks) and reports every problem
//! it finds with file, line, column and a hint. A broken bundle does not stop the others: it is
//! returned as a [`BundleProblem`] next to the bundles that loaded.

mod branches;
mod bundle;
mod error;
mod schema;
mod tenants;
mod toml_doc;

use std::path::{Path, PathBuf};

pub use branches::{BranchStatus, Mirrors, Source, Train, TrainBranch, Updates};
pub use bundle::{
    parse as parse_bundle, set_digest, set_version, Bundle, DeployTarget, GithubReleaseSource,
    HelmSource, OciSource, UpstreamSource, BUNDLE_FILE, DEFAULT_VALUES, RENDERED_FILE,
};
pub use error::{ConfigError, ConfigErrors};
pub use schema::json_schemas;
pub use tenants::{parse as parse_tenants, Tenant, Tenants, TENANTS_FILE};

use crate::git::{Tree, TreeError};
use crate::model::AddonName;

/// The train file, at the repository root.
pub const TRAIN_FILE: &str = "branches.toml";
/// The directory holding one sub-directory per addon.
pub const BUNDLES_DIR: &str = "bundles";
/// Gatekeeper ConstraintTemplates and Constraints every branch's renders are checked against.
pub const POLICIES_DIR: &str = "policies";

/// A bundle with the files the jobs need, read from one tree.
#[derive(Debug, Clone)]
pub struct LoadedBundle {
    pub bundle: Bundle,
    /// The values template's text, if the bundle has one.
    pub values_template: Option<String>,
    /// The committed rendered manifests, if any.
    pub rendered: Option<String>,
    /// `e2e/<addon>/fixtures.yaml` of the same tree: objects a real platform provides beside
    /// the addon (e2e applies them; validate counts them as present).
    pub fixtures: Option<String>,
    /// `e2e/<addon>/smoke.yaml` of the same tree: the checks e2e runs once the addon is up.
    pub smoke: Option<String>,
}

/// Where an addon's e2e fixtures live.
pub fn fixtures_file(addon: &str) -> PathBuf {
    PathBuf::from("e2e").join(addon).join("fixtures.yaml")
}

/// Where an addon's smoke checks live.
pub fn smoke_file(addon: &str) -> PathBuf {
    PathBuf::from("e2e").join(addon).join("smoke.yaml")
}

/// A bundle directory that could not be loaded, and why.
#[derive(Debug, Clone)]
pub struct BundleProblem {
    /// The directory name under `bundles/` (it may not even be a valid addon name).
    pub dir: String,
    pub errors: Vec<ConfigError>,
}

/// All bundles of one tree, and the policies their renders must pass.
#[derive(Debug, Clone, Default)]
pub struct Bundles {
    pub loaded: Vec<LoadedBundle>,
    pub problems: Vec<BundleProblem>,
    /// The YAML files under `policies/` of the same tree (Gatekeeper ConstraintTemplates and
    /// Constraints), repo-relative: policies follow the train like bundles do.
    pub policies: Vec<(PathBuf, String)>,
}

impl Bundles {
    pub fn get(&self, name: &AddonName) -> Option<&LoadedBundle> {
        self.loaded.iter().find(|b| &b.bundle.name == name)
    }
    /// Addon names present in the tree, loaded or not.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .loaded
            .iter()
            .map(|b| b.bundle.name.to_string())
            .chain(self.problems.iter().map(|p| p.dir.clone()))
            .collect();
        v.sort();
        v
    }
}

/// Read every bundle under `bundles/` in `tree`.
pub fn load_bundles(tree: &Tree) -> Result<Bundles, TreeError> {
    let mut out = Bundles {
        policies: tree
            .files_under(Path::new(POLICIES_DIR))?
            .into_iter()
            // `samples/` hold the suites' test constraints and objects (gatekeeper-library's
            // layout): `policy verify` reads them, they are not enforced.
            .filter(|(p, _)| {
                p.extension().is_some_and(|e| e == "yaml" || e == "yml")
                    && !p.components().any(|c| c.as_os_str() == "samples")
            })
            .collect(),
        ..Bundles::default()
    };
    for dir_name in tree.subdirs(Path::new(BUNDLES_DIR))? {
        let dir = PathBuf::from(BUNDLES_DIR).join(&dir_name);
        let file = dir.join(BUNDLE_FILE);
        let Some(text) = tree.read(&file)? else {
            out.problems.push(BundleProblem {
                dir: dir_name,
                errors: vec![ConfigError::new(&file, "missing bundle manifest")
                    .hint("every directory under bundles/ needs a bundle.yaml; see README.md")],
            });
            continue;
        };
        match bundle::parse(&dir, &text, &|p| tree.exists(p)) {
            Ok(bundle) => {
                let values_template = match &bundle.values {
                    Some(p) => tree.read(p)?,
                    None => None,
                };
                let rendered = tree.read(&bundle.rendered_file())?;
                let fixtures = tree.read(&fixtures_file(bundle.name.as_str()))?;
                let smoke = tree.read(&smoke_file(bundle.name.as_str()))?;
                out.loaded.push(LoadedBundle {
                    bundle,
                    values_template,
                    rendered,
                    fixtures,
                    smoke,
                });
            }
            Err(errors) => out.problems.push(BundleProblem {
                dir: dir_name,
                errors,
            }),
        }
    }
    Ok(out)
}

/// Read and validate `branches.toml` from the work tree at `root`, checking caps against the
/// addons present under `bundles/`.
pub fn load_train(root: &Path) -> Result<Train, ConfigErrors> {
    load_train_from(&Tree::Dir(root.to_path_buf()), root)
}

/// Read and validate `branches.toml` from `tree` (a work tree or a commit). Relative mirror
/// paths resolve against `repo_root`, where the files are on disk.
pub fn load_train_from(tree: &Tree, repo_root: &Path) -> Result<Train, ConfigErrors> {
    let path = PathBuf::from(TRAIN_FILE);
    let shown = match tree {
        Tree::Dir(root) => root.join(&path),
        Tree::Commit { .. } => path.clone(),
    };
    let text = match tree.read(&path) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Err(ConfigErrors(vec![ConfigError::new(
                shown,
                format!("no branches.toml in {}", tree.label()),
            )
            .hint("run ake-bot in the config repository, or point --repo at it")]))
        }
        Err(e) => {
            return Err(ConfigErrors(vec![ConfigError::new(
                shown,
                format!("cannot read: {e}"),
            )]))
        }
    };
    let known: Vec<AddonName> = tree
        .subdirs(Path::new(BUNDLES_DIR))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|d| d.parse().ok())
        .collect();
    branches::parse(&path, &text, repo_root, &known).map_err(ConfigErrors)
}

/// Parse a train from text with no bundles known (tests of other modules).
#[cfg(test)]
pub(crate) fn branches_for_tests(text: &str) -> Train {
    branches::parse(Path::new(TRAIN_FILE), text, Path::new("/repo"), &[]).expect("valid test train")
}
