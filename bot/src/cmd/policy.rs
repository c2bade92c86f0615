//! `ake-bot policy verify`: gator test suites against the policy engine.

use crate::cli::{GlobalArgs, PolicyVerifyArgs};
use crate::jobs::JobError;
use crate::output::{Reply, Text};
use crate::policy::verify::{self, Counts, Filter, Report};
use crate::ExitStatus;

pub fn verify(global: &GlobalArgs, args: &PolicyVerifyArgs) -> Result<Reply, JobError> {
    let filter = Filter::parse(args.run.as_deref()).map_err(JobError::Usage)?;
    let dirs = if args.dirs.is_empty() {
        vec![global.repo.join("policies")]
    } else {
        args.dirs.clone()
    };
    let report = verify::verify(&dirs, &filter).map_err(JobError::Usage)?;
    let status = if report.ok() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    };
    Ok(Reply::new("report", &report, text(&report)).status(status))
}

fn mark(passed: bool) -> &'static str {
    if passed {
        "ok  "
    } else {
        "FAIL"
    }
}

/// `line`, its continuation lines (a Rego error's source excerpt) indented under it.
fn push(out: &mut Text, line: String) {
    let indent = line.len() - line.trim_start().len() + 5;
    for (i, l) in line.lines().enumerate() {
        if i == 0 {
            out.line(l);
        } else {
            out.line(format!("{:indent$}{l}", ""));
        }
    }
}

fn text(report: &Report) -> String {
    let mut out = Text::default();
    for s in &report.suites {
        let name = if s.name.is_empty() {
            String::new()
        } else {
            format!(" ({})", s.name)
        };
        if s.skipped {
            out.line(format!("skip {}{name}", s.path.display()));
            continue;
        }
        match &s.error {
            Some(e) => push(&mut out, format!("FAIL {}{name}: {e}", s.path.display())),
            None => out.line(format!("{} {}{name}", mark(s.passed()), s.path.display())),
        }
        for t in &s.tests {
            if t.skipped {
                out.line(format!("  skip {}", t.name));
                continue;
            }
            match &t.error {
                Some(e) => push(&mut out, format!("  FAIL {}: {e}", t.name)),
                None => out.line(format!("  {} {}", mark(t.passed()), t.name)),
            }
            for c in &t.cases {
                match (&c.error, c.skipped) {
                    (_, true) => out.line(format!("    skip {}", c.name)),
                    (None, false) => out.line(format!("    ok   {}", c.name)),
                    (Some(e), false) => push(&mut out, format!("    FAIL {}: {e}", c.name)),
                }
            }
        }
    }
    let t = &report.totals;
    let counts = |what: &str, c: &Counts| {
        let skipped = if c.skipped > 0 {
            format!(", {} skipped", c.skipped)
        } else {
            String::new()
        };
        format!("{what}: {} passed, {} failed{skipped}", c.passed, c.failed)
    };
    out.line(format!(
        "{}; {}; {}",
        counts("suites", &t.suites),
        counts("tests", &t.tests),
        counts("cases", &t.cases)
    ));
    out.into_string()
}
