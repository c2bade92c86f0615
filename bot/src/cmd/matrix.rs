//! `ake-bot matrix`: the supported-versions matrix as text, JSON, Markdown or one HTML page, on
//! stdout or (`--out`) written atomically to a file.

use std::path::Path;

use crate::cli::{MatrixArgs, MatrixFormat, OutputFormat};
use crate::jobs::matrix::{self, Matrix};
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::workspace::{Settings, View};

pub async fn run(
    settings: Settings,
    args: &MatrixArgs,
    output: OutputFormat,
) -> Result<Reply, JobError> {
    // Read-only, like `validate`: the branches as they are in front of you.
    let ws = super::open(settings, View::Local).await?;
    let branches = ws.select_branches(&args.branches)?;
    let (m, problems) = matrix::build(&ws, &branches, &Default::default()).await?;
    let format = args.format.unwrap_or(match output {
        OutputFormat::Markdown => MatrixFormat::Markdown,
        _ => MatrixFormat::Text,
    });
    let rendered = render(&m, format)?;
    let shown = match &args.out {
        Some(path) => {
            crate::fs::write_atomically_async(path, rendered.into_bytes())
                .await
                .map_err(|e| JobError::Usage(format!("cannot write {}: {e}", path.display())))?;
            wrote(path, &m)
        }
        None => rendered,
    };
    Ok(Reply::new("report", &m, shown).with_problems(problems))
}

fn render(m: &Matrix, format: MatrixFormat) -> Result<String, JobError> {
    let template = |e: crate::report::TemplateError| JobError::Internal(e.to_string());
    Ok(match format {
        MatrixFormat::Text => text(m),
        MatrixFormat::Json => {
            let mut s =
                serde_json::to_string_pretty(m).expect("the matrix always serialises to JSON");
            s.push('\n');
            s
        }
        MatrixFormat::Markdown => matrix::markdown(m).map_err(template)?,
        MatrixFormat::Html => matrix::html(m).map_err(template)?,
    })
}

fn wrote(path: &Path, m: &Matrix) -> String {
    format!(
        "wrote {}: {} addons on {} branches\n",
        path.display(),
        m.addons.len(),
        m.branches.len()
    )
}

/// Two aligned tables: the branches (minor, status, latest tag), then one row per addon with
/// `chart (app …)` per branch; an addon a branch does not have is a blank cell.
fn text(m: &Matrix) -> String {
    let mut out = Text::default();
    let mut branches = vec![[
        "branch".to_string(),
        "kubernetes".into(),
        "status".into(),
        "latest tag".into(),
    ]];
    for b in &m.branches {
        let status = serde_json::to_value(b.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        branches.push([
            b.name.clone(),
            b.kubernetes.clone(),
            status,
            b.tag.clone().unwrap_or_else(|| "not released".into()),
        ]);
    }
    for row in aligned(&branches) {
        out.line(row);
    }
    out.line("");
    let mut header = vec!["addon".to_string(), "deployed to".into()];
    header.extend(m.branches.iter().map(|b| b.name.clone()));
    let mut rows = vec![header];
    for a in &m.addons {
        let deploy = serde_json::to_value(a.deploy_to)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let mut row = vec![a.name.clone(), deploy];
        row.extend(m.branches.iter().map(|b| match a.cell(&b.name) {
            Some(c) => match &c.app_version {
                Some(app) => format!("{} (app {app})", c.chart_version),
                None => c.chart_version.clone(),
            },
            None => String::new(),
        }));
        rows.push(row);
    }
    if m.addons.is_empty() {
        out.line("no addons on these branches");
    } else {
        for row in aligned(&rows) {
            out.line(row);
        }
    }
    out.into_string()
}

/// Rows padded to the widest cell of each column, two spaces apart, trailing blanks trimmed.
fn aligned<R: AsRef<[String]>>(rows: &[R]) -> Vec<String> {
    let columns = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.as_ref().get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let line: Vec<String> = r
                .as_ref()
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            line.join("  ").trim_end().to_string()
        })
        .collect()
}
