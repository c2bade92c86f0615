//! The only place that writes to stdout (the command's data) and, for user-facing errors,
//! stderr. Logs go through tracing to stderr.

use std::io::Write;

/// Writes command output. A closed stdout (`ake-bot … | head`) is not an error.
pub struct Printer {
    stdout: std::io::Stdout,
    stderr: std::io::Stderr,
}

impl Default for Printer {
    fn default() -> Self {
        Printer {
            stdout: std::io::stdout(),
            stderr: std::io::stderr(),
        }
    }
}

impl Printer {
    /// A line of data on stdout.
    pub fn line(&mut self, s: &str) {
        let _ = writeln!(self.stdout.lock(), "{s}");
    }

    /// A JSON document on stdout, pretty-printed.
    pub fn json<T: serde::Serialize>(&mut self, value: &T) {
        let text =
            serde_json::to_string_pretty(value).expect("plan and report types always serialise");
        self.line(&text);
    }

    /// An error for the user on stderr: `error: …`, continuation lines indented.
    pub fn error(&mut self, s: &str) {
        let mut lines = s.lines();
        let mut err = self.stderr.lock();
        if let Some(first) = lines.next() {
            let _ = writeln!(err, "error: {first}");
        }
        for l in lines {
            let _ = writeln!(err, "  {}", l.trim_start());
        }
    }
}
