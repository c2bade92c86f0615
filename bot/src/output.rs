//! The output contract, and the only place that writes a command's output.
//!
//! - stdout carries the command's data: text (or Markdown), or with `--output json` exactly
//!   one JSON document, the [`Envelope`] — for every command, on success and on failure.
//! - stderr carries problems (`error: …`), logs (through tracing) and, with JSON output,
//!   GitHub Actions annotations (the runner reads workflow commands from both streams).
//! - A closed stdout (`ake-bot sync --dry-run | head -1`) ends output quietly; any other
//!   write error is reported and the exit status is 2.

use std::io::{ErrorKind, Write};

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::jobs::{JobError, Problem};
use crate::ExitStatus;

/// What a command produced: its data (for JSON), its text (for people), the problems it met
/// along the way, and how it ended.
pub struct Reply {
    /// The envelope's `type`: `plan` (a dry run), `result` (what was done), `report`.
    pub kind: &'static str,
    pub data: serde_json::Value,
    /// stdout for `--output text` (or `markdown`).
    pub text: String,
    pub problems: Vec<Problem>,
    pub status: ExitStatus,
    /// GitHub Actions workflow commands (`::error file=…::…`).
    pub annotations: Vec<String>,
}

impl Reply {
    /// A reply with `data`; its status is failure exactly when there are problems (set with
    /// [`Reply::with_problems`]), unless a command says otherwise with [`Reply::status`].
    pub fn new<T: Serialize>(kind: &'static str, data: &T, text: String) -> Reply {
        Reply {
            kind,
            data: serde_json::to_value(data).expect("command data always serialises to JSON"),
            text,
            problems: Vec::new(),
            status: ExitStatus::Success,
            annotations: Vec::new(),
        }
    }

    /// Add problems; any problem makes the run a failure (exit 1).
    pub fn with_problems(mut self, problems: impl IntoIterator<Item = Problem>) -> Reply {
        self.problems.extend(problems);
        if !self.problems.is_empty() && self.status == ExitStatus::Success {
            self.status = ExitStatus::Failure;
        }
        self
    }

    /// Set the exit status (e.g. `diff`: 1 when the revisions differ).
    pub fn status(mut self, status: ExitStatus) -> Reply {
        self.status = status;
        self
    }

    /// The job could not run (exit 2).
    pub fn failed(e: &JobError) -> Reply {
        Reply {
            kind: "error",
            data: serde_json::Value::Null,
            text: String::new(),
            problems: Problem::from_job(e),
            status: ExitStatus::Error,
            annotations: Vec::new(),
        }
    }
}

/// The one JSON document `--output json` prints.
#[derive(Serialize)]
pub struct Envelope<'a> {
    /// The subcommand: `sync`, `backport`, `branch cut`, ….
    pub command: &'a str,
    /// `plan`, `result`, `report`, or `error` when the command could not run.
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// 0 done, 1 done but something needs a human, 2 could not run.
    pub exit_code: u8,
    /// The command's data (`null` when it could not run).
    pub data: &'a serde_json::Value,
    /// What went wrong on the way, each with what it concerns (addon, branch, commit, file).
    pub problems: &'a [Problem],
}

/// Print `reply` for `command` in `format`; returns the exit status.
pub fn emit(command: &str, format: OutputFormat, reply: Reply) -> ExitStatus {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let status = write_reply(&mut stdout, &mut stderr, command, format, &reply);
    match status {
        Ok(()) => reply.status,
        // Whoever read our output has what they wanted (`| head`): end quietly.
        Err(e) if e.kind() == ErrorKind::BrokenPipe => reply.status,
        Err(e) => {
            let _ = writeln!(stderr, "error: cannot write the output: {e}");
            ExitStatus::Error
        }
    }
}

/// The contract, over any two streams (tests use buffers).
pub fn write_reply(
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    command: &str,
    format: OutputFormat,
    reply: &Reply,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Json => {
            let envelope = Envelope {
                command,
                kind: reply.kind,
                exit_code: reply.status.code(),
                data: &reply.data,
                problems: &reply.problems,
            };
            let text =
                serde_json::to_string_pretty(&envelope).expect("the envelope always serialises");
            writeln!(stdout, "{text}")?;
            stdout.flush()?;
            for a in &reply.annotations {
                writeln!(stderr, "{a}")?;
            }
        }
        OutputFormat::Text | OutputFormat::Markdown => {
            if !reply.text.is_empty() {
                stdout.write_all(reply.text.as_bytes())?;
                if !reply.text.ends_with('\n') {
                    writeln!(stdout)?;
                }
            }
            for a in &reply.annotations {
                writeln!(stdout, "{a}")?;
            }
            stdout.flush()?;
        }
    }
    for p in &reply.problems {
        write_error(stderr, &p.to_string())?;
    }
    Ok(())
}

/// An error for the user on stderr: `error: …`, continuation lines indented.
fn write_error(err: &mut dyn Write, s: &str) -> std::io::Result<()> {
    let mut lines = s.lines();
    if let Some(first) = lines.next() {
        writeln!(err, "error: {first}")?;
    }
    for l in lines {
        writeln!(err, "  {}", l.trim_start())?;
    }
    Ok(())
}

/// Lines of text output, built up by a command.
#[derive(Default)]
pub struct Text(String);

impl Text {
    pub fn line(&mut self, s: impl AsRef<str>) {
        self.0.push_str(s.as_ref());
        self.0.push('\n');
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> Reply {
        let mut r = Reply::new("plan", &serde_json::json!({"n": 1}), "hello\n".into())
            .with_problems([Problem::new("broke").addon("cert-manager").branch("main")]);
        r.annotations.push("::error title=x::y".into());
        r
    }

    #[test]
    fn json_is_one_document_with_annotations_and_problems_on_stderr() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        write_reply(&mut out, &mut err, "sync", OutputFormat::Json, &reply()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).expect("one JSON document");
        assert_eq!(v["command"], "sync");
        assert_eq!(v["type"], "plan");
        assert_eq!(v["exit_code"], 1);
        assert_eq!(v["data"]["n"], 1);
        assert_eq!(
            v["problems"],
            serde_json::json!([{"addon": "cert-manager", "branch": "main", "cause": "broke"}])
        );
        let err = String::from_utf8(err).unwrap();
        assert_eq!(
            err,
            "::error title=x::y\nerror: cert-manager on main: broke\n"
        );
    }

    #[test]
    fn text_goes_to_stdout_with_annotations_and_problems_to_stderr() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        write_reply(&mut out, &mut err, "sync", OutputFormat::Text, &reply()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "hello\n::error title=x::y\n"
        );
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "error: cert-manager on main: broke\n"
        );
    }

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_stdout_is_a_broken_pipe_not_a_panic() {
        let mut err = Vec::new();
        let e =
            write_reply(&mut Closed, &mut err, "sync", OutputFormat::Text, &reply()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenPipe);
    }
}
