//! Config errors: always a file, usually a line and column, and a hint a human can act on.

use std::fmt;
use std::path::PathBuf;

/// A problem in a config file. Printed as `path:line:column: message` (what editors and
/// GitHub annotations understand), then an indented `hint:` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; `None` when the problem is the file as a whole (missing, unreadable).
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl ConfigError {
    pub fn new(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.into(),
            line: None,
            column: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn at(mut self, line: Option<usize>, column: Option<usize>) -> Self {
        self.line = line;
        self.column = column;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Point the error at the first line of `text` that starts (after indentation) with
    /// `key:` or `key =`, for semantic errors found after parsing, when serde no longer
    /// knows where a value came from.
    pub fn at_key(self, text: &str, key: &str) -> Self {
        let found = text.lines().enumerate().find_map(|(i, line)| {
            let trimmed = line.trim_start();
            let rest = trimmed.strip_prefix(key).or_else(|| {
                trimmed
                    .strip_prefix('"')
                    .and_then(|t| t.strip_prefix(key))
                    .and_then(|t| t.strip_prefix('"'))
            })?;
            let rest = rest.trim_start();
            (rest.starts_with(':') || rest.starts_with('='))
                .then(|| (i + 1, line.len() - trimmed.len() + 1))
        });
        match found {
            Some((line, column)) => self.at(Some(line), Some(column)),
            None => self,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// All problems found in one pass, so a user fixes them in one go instead of one per run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" messages: the closest expected
/// name, if one is close enough to be a likely typo.
pub(crate) fn did_you_mean(message: &str) -> Option<String> {
    let unknown = message
        .split("unknown field `")
        .nth(1)
        .or_else(|| message.split("unknown variant `").nth(1))?
        .split('`')
        .next()?;
    let expected = message.split("expected").nth(1)?;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|cand| (strsim::jaro_winkler(unknown, cand), cand))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, cand)| format!("did you mean `{cand}`?"))
}

/// Line and column (1-based) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_field() {
        let msg = "unknown field `versoin`, expected one of `source`, `version`, `allowed`";
        assert_eq!(
            did_you_mean(msg).as_deref(),
            Some("did you mean `version`?")
        );
        assert_eq!(
            did_you_mean("unknown field `zzz`, expected `version`"),
            None
        );
    }

    #[test]
    fn prints_like_a_compiler() {
        let e = ConfigError::new("bundles/x/bundle.yaml", "bad")
            .at(Some(3), Some(5))
            .hint("fix it");
        assert_eq!(
            e.to_string(),
            "bundles/x/bundle.yaml:3:5: bad\n  hint: fix it"
        );
    }

    #[test]
    fn finds_keys_for_semantic_errors() {
        let text = "a: 1\n  version: v1\n";
        let e = ConfigError::new("f", "m").at_key(text, "version");
        assert_eq!((e.line, e.column), (Some(2), Some(3)));
        let toml = "[caps]\n\"cert-manager\" = \"<1.16\"\n";
        let e = ConfigError::new("f", "m").at_key(toml, "cert-manager");
        assert_eq!(e.line, Some(2));
    }
}
