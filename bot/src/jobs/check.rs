//! `check`: every problem in `branches.toml` and every bundle, at once, with file, line and a
//! hint; and every values template rendered for every branch it will be rendered for.

use serde::Serialize;

use super::Problem;
use crate::config::{self, BranchStatus, ConfigError};
use crate::git::Tree;
use crate::render;
use crate::workspace::{blocking, Settings};

/// What `check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// `branches.toml: 4 branches (…)`, one line per bundle.
    pub summary: Vec<String>,
    #[serde(skip)]
    pub problems: Vec<Problem>,
    /// Allowed but unwise (a `kind_image` by tag without a digest): printed, annotated under
    /// GitHub Actions, never a failure.
    pub warnings: Vec<Problem>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Check the work tree's config. Never fails as a job: what it finds is its report.
pub async fn check(settings: &Settings) -> CheckReport {
    let repo = settings.repo.clone();
    let loaded = blocking(move || {
        let train = config::load_train(&repo);
        let bundles = config::load_bundles(&Tree::Dir(repo.clone()));
        Ok((train, bundles))
    })
    .await;
    let mut problems: Vec<ConfigError> = Vec::new();
    let mut summary = Vec::new();
    let (train, bundles) = match loaded {
        Ok(l) => l,
        Err(e) => {
            return CheckReport {
                summary,
                problems: vec![Problem::new(e.to_string())],
                warnings: Vec::new(),
            }
        }
    };
    match &train {
        Ok(train) => summary.push(format!(
            "{}: {} branches ({})",
            config::TRAIN_FILE,
            train.branches.len(),
            train
                .branches
                .iter()
                .map(|b| format!("{} → Kubernetes {}", b.name, b.kubernetes))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Err(e) => problems.extend(e.0.clone()),
    }
    match bundles {
        Ok(bundles) => {
            if let Ok(train) = &train {
                problems.extend(values_template_problems(train, &bundles));
            }
            for b in &bundles.loaded {
                summary.push(format!(
                    "{}: {} {} (allowed {})",
                    b.bundle.name,
                    b.bundle.chart(),
                    b.bundle.version,
                    b.bundle.allowed
                ));
            }
            for p in bundles.problems {
                problems.extend(p.errors);
            }
        }
        Err(e) => problems.push(ConfigError::new(config::BUNDLES_DIR, e.to_string())),
    }
    let warnings = train
        .as_ref()
        .map(|t| t.warnings.iter().map(Problem::from_config).collect())
        .unwrap_or_default();
    CheckReport {
        summary,
        problems: problems.iter().map(Problem::from_config).collect(),
        warnings,
    }
}

/// Render each values template for every branch it will be rendered for, with the pinned
/// chart version, so template mistakes show up here rather than in the next scheduled sync.
fn values_template_problems(train: &config::Train, bundles: &config::Bundles) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for lb in &bundles.loaded {
        let (Some(template), Some(path)) = (&lb.values_template, &lb.bundle.values) else {
            continue;
        };
        for branch in train
            .branches
            .iter()
            .filter(|b| b.status != BranchStatus::Eol)
        {
            let chart = render::ChartContext {
                name: lb.bundle.chart().to_string(),
                version: lb.bundle.version.to_string(),
                app_version: None,
            };
            let ctx = render::context_for(&lb.bundle, branch, chart);
            if let Err(message) = render::render_values(&path.display().to_string(), template, &ctx)
            {
                // minijinja says "line N: …": lift N into the position so editors can jump.
                let line = message
                    .strip_prefix("line ")
                    .and_then(|r| r.split_once(':'))
                    .and_then(|(n, _)| n.parse().ok());
                out.push(
                    ConfigError::new(path, format!("rendering for {}: {message}", branch.name))
                        .at(line, None),
                );
                // One branch is enough to show a syntax error; the next would repeat it.
                break;
            }
        }
    }
    out
}
