//! `ake-bot check`: validate all config, every problem at once.

use crate::jobs::check;
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::workspace::Settings;

pub async fn run(settings: &Settings) -> Result<Reply, JobError> {
    let report = check::check(settings).await;
    let mut out = Text::default();
    // Warnings fail nothing: they are printed (and annotated under GitHub Actions) whatever
    // else was found, and the exit status is the errors' alone.
    for w in &report.warnings {
        for (i, l) in w.to_string().lines().enumerate() {
            out.line(if i == 0 {
                format!("warning: {l}")
            } else {
                format!("  {l}")
            });
        }
    }
    if report.ok() {
        for line in &report.summary {
            out.line(line);
        }
        out.line("config ok");
    }
    let problems = report.problems.clone();
    let mut reply = Reply::new("report", &report, out.into_string()).with_problems(problems);
    if std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
        reply.annotations = report
            .warnings
            .iter()
            .map(|w| annotation(&settings.repo, w))
            .collect();
    }
    Ok(reply)
}

/// `::warning file=branches.toml,line=9,col=14,title=ake-bot check::…`, the file relative to
/// the repository (what GitHub matches against the diff).
fn annotation(repo: &std::path::Path, w: &crate::jobs::Problem) -> String {
    let esc_data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let esc_prop = |s: &str| esc_data(s).replace(':', "%3A").replace(',', "%2C");
    let mut props = Vec::new();
    if let Some(file) = &w.file {
        let rel = file.strip_prefix(repo).unwrap_or(file);
        props.push(format!("file={}", esc_prop(&rel.display().to_string())));
    }
    if let Some(line) = w.line {
        props.push(format!("line={line}"));
    }
    if let Some(col) = w.column {
        props.push(format!("col={col}"));
    }
    props.push("title=ake-bot check".replace(':', "%3A"));
    let mut message = w.cause.clone();
    if let Some(h) = &w.hint {
        message.push_str(&format!("\n{h}"));
    }
    format!("::warning {}::{}", props.join(","), esc_data(&message))
}
