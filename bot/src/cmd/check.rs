//! `ake-bot check`: validate all config, every problem at once.

use crate::jobs::check;
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::workspace::Settings;

pub async fn run(settings: &Settings) -> Result<Reply, JobError> {
    let report = check::check(settings).await;
    let mut out = Text::default();
    if report.ok() {
        for line in &report.summary {
            out.line(line);
        }
        out.line("config ok");
    }
    let problems = report.problems.clone();
    Ok(Reply::new("report", &report, out.into_string()).with_problems(problems))
}
