//! A bundle's values template, rendered per branch with minijinja.
//!
//! Strict undefined: a misspelt variable is an error, never an empty string.

use serde::Serialize;

use crate::version::Version;

/// What a values template sees. Documented in README ("Values templates").
#[derive(Debug, Clone, Serialize)]
pub struct ValuesContext {
    /// The branch being rendered: `main` or `release-1.NN`.
    pub branch: String,
    pub kube: KubeContext,
    pub addon: String,
    pub namespace: String,
    pub release: String,
    /// `management` or `tenant`.
    pub deploy_to: String,
    pub chart: ChartContext,
}

#[derive(Debug, Clone, Serialize)]
pub struct KubeContext {
    /// `1.30`
    pub minor: String,
    /// `1.30.0`, the version passed to `helm template --kube-version`.
    pub version: String,
    /// 1
    pub major_number: u32,
    /// 30, for comparisons: `{% if kube.minor_number < 25 %}`.
    pub minor_number: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChartContext {
    pub name: String,
    /// As upstream writes it (`v1.16.5`).
    pub version: String,
    pub app_version: Option<String>,
}

/// Render `template` (named `name` in messages). The result must be a YAML mapping (or empty).
pub fn render_values(name: &str, template: &str, ctx: &ValuesContext) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    // `{% if chart.version is version_at_least("1.15.0") %}`: charts rename values across
    // versions (cert-manager `installCRDs` → `crds.enabled`), so templates need semver tests.
    env.add_test(
        "version_at_least",
        |value: &str, min: &str| -> Result<bool, minijinja::Error> {
            let parse = |s: &str| {
                Version::parse(s).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
                })
            };
            Ok(parse(value)? >= parse(min)?)
        },
    );
    env.add_template(name, template).map_err(describe)?;
    let out = env
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(describe)?;
    match crate::yaml::from_str::<serde_json::Value>(&out) {
        Ok(serde_json::Value::Object(_) | serde_json::Value::Null) => Ok(out),
        Ok(other) => Err(format!(
            "{name} renders to a YAML {}, but Helm values must be a mapping",
            kind_of(&other)
        )),
        Err(e) => Err(format!(
            "{name} renders to invalid YAML{}: {}",
            e.line
                .map(|l| format!(" (rendered line {l})"))
                .unwrap_or_default(),
            e.message
        )),
    }
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Array(_) => "list",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "boolean",
        _ => "value",
    }
}

/// minijinja errors: message plus line, without the debug dump.
fn describe(e: minijinja::Error) -> String {
    let mut s = match e.line() {
        Some(line) => format!("line {line}: {}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(detail) = e.detail() {
        s.push_str(": ");
        s.push_str(detail);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ValuesContext {
        ValuesContext {
            branch: "release-1.30".into(),
            kube: KubeContext {
                minor: "1.30".into(),
                version: "1.30.0".into(),
                major_number: 1,
                minor_number: 30,
            },
            addon: "cert-manager".into(),
            namespace: "cert-manager".into(),
            release: "cert-manager".into(),
            deploy_to: "tenant".into(),
            chart: ChartContext {
                name: "cert-manager".into(),
                version: "v1.16.5".into(),
                app_version: Some("v1.16.5".into()),
            },
        }
    }

    #[test]
    fn renders_with_branch_context() {
        let t = "{% if chart.version is version_at_least(\"1.15.0\") %}crds:\n  enabled: true\n{% endif %}minor: \"{{ kube.minor }}\"\n";
        assert_eq!(
            render_values("v.j2", t, &ctx()).unwrap(),
            "crds:\n  enabled: true\nminor: \"1.30\"\n"
        );
    }

    #[test]
    fn undefined_variables_are_errors() {
        let err = render_values("v.j2", "x: {{ kube.minr }}\n", &ctx()).unwrap_err();
        assert!(err.contains("line 1") && err.contains("undefined"), "{err}");
    }

    #[test]
    fn output_must_be_a_mapping() {
        let err = render_values("v.j2", "- a\n", &ctx()).unwrap_err();
        assert!(err.contains("must be a mapping"), "{err}");
        let err = render_values("v.j2", "a: [\n", &ctx()).unwrap_err();
        assert!(err.contains("invalid YAML"), "{err}");
    }
}
