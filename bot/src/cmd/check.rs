//! `ake-bot check`: validate all config.

use crate::cli::{GlobalArgs, OutputFormat};
use crate::config::{self, ConfigError};
use crate::git::Tree;
use crate::output::Printer;
use crate::render;
use crate::ExitStatus;

pub async fn run(global: &GlobalArgs, out: &mut Printer) -> ExitStatus {
    let repo = global.repo.clone();
    let result = tokio::task::spawn_blocking(move || {
        let train = config::load_train(&repo);
        let bundles = config::load_bundles(&Tree::Dir(repo.clone()));
        (train, bundles)
    })
    .await
    .expect("config loading does not panic");

    let mut problems: Vec<ConfigError> = Vec::new();
    let mut summary = Vec::new();
    match &result.0 {
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
    match result.1 {
        Ok(bundles) => {
            if let Ok(train) = &result.0 {
                problems.extend(values_template_problems(train, &bundles));
            }
            for b in &bundles.loaded {
                summary.push(format!(
                    "{}: {} {} (allowed {})",
                    b.bundle.name,
                    b.bundle.helm().chart,
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

    if global.output == OutputFormat::Json {
        let json: Vec<_> = problems
            .iter()
            .map(|p| {
                serde_json::json!({
                    "file": p.file, "line": p.line, "column": p.column,
                    "message": p.message, "hint": p.hint,
                })
            })
            .collect();
        out.json(&serde_json::json!({ "ok": problems.is_empty(), "problems": json }));
    } else {
        for p in &problems {
            out.error(&p.to_string());
        }
        if problems.is_empty() {
            for line in &summary {
                out.line(line);
            }
            out.line("config ok");
        }
    }
    if problems.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
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
            .filter(|b| b.status != config::BranchStatus::Eol)
        {
            let chart = render::ChartContext {
                name: lb.bundle.helm().chart.clone(),
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
