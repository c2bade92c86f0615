//! The templates, compiled once: one environment, strict about undefined values, so a
//! missing field is an error instead of an empty string in a PR.

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Every text the bot writes to GitHub (and the matrix page), by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("sync-pr.md", include_str!("../../templates/sync-pr.md.j2")),
    (
        "sync-close.md",
        include_str!("../../templates/sync-close.md.j2"),
    ),
    (
        "backport-pr.md",
        include_str!("../../templates/backport-pr.md.j2"),
    ),
    (
        "backport-conflict.md",
        include_str!("../../templates/backport-conflict.md.j2"),
    ),
    (
        "backport-summary.md",
        include_str!("../../templates/backport-summary.md.j2"),
    ),
    (
        "branch-cut-pr.md",
        include_str!("../../templates/branch-cut-pr.md.j2"),
    ),
    (
        "release-notes.md",
        include_str!("../../templates/release-notes.md.j2"),
    ),
    (
        "dashboard.md",
        include_str!("../../templates/dashboard.md.j2"),
    ),
    ("matrix.md", include_str!("../../templates/matrix.md.j2")),
    (
        "tenant-pr.md",
        include_str!("../../templates/tenant-pr.md.j2"),
    ),
    // `.html`: minijinja escapes every value for HTML.
    (
        "matrix.html",
        include_str!("../../templates/matrix.html.j2"),
    ),
];

/// A template that would not render: a bug in the template or its context, never user input.
#[derive(Debug, thiserror::Error)]
#[error("template {name}: {source}")]
pub struct TemplateError {
    pub name: String,
    #[source]
    pub source: minijinja::Error,
}

fn env() -> &'static Result<Environment<'static>, TemplateError> {
    static ENV: OnceLock<Result<Environment<'static>, TemplateError>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        // Markdown tables: a `|` inside a cell would end it.
        env.add_filter("cell", |s: String| s.replace('|', "\\|"));
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|source| TemplateError {
                    name: name.to_string(),
                    source,
                })?;
        }
        Ok(env)
    })
}

/// Render template `name` (e.g. `backport-pr.md`) with `ctx`.
pub fn render<S: Serialize>(name: &str, ctx: &S) -> Result<String, TemplateError> {
    let err = |source| TemplateError {
        name: name.to_string(),
        source,
    };
    let env = env().as_ref().map_err(|e| TemplateError {
        name: e.name.clone(),
        source: minijinja::Error::new(e.source.kind(), e.source.to_string()),
    })?;
    env.get_template(name)
        .map_err(err)?
        .render(ctx)
        .map_err(err)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        if let Err(e) = super::env() {
            panic!("{e}");
        }
    }
}
