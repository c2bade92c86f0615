//! The one place that knows which YAML library the bot uses.
//!
//! `serde_yaml` is marked deprecated by its author (0.9.34); `serde_yaml_ng` is its maintained,
//! API-compatible continuation. Keeping every call behind this seam makes a later swap (for
//! example to `serde-saphyr`, as kube-rs did) a one-file change.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A YAML error with the position it happened at, when the parser knows it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// The parser's message, without position (that is in `line`/`column`).
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl YamlError {
    fn new(err: serde_yaml_ng::Error) -> Self {
        let loc = err.location();
        let mut message = err.to_string();
        // serde_yaml_ng appends " at line L column C"; the position is kept in fields so
        // callers can print `file:line:column: message` the way compilers do.
        if let Some(idx) = message.find(" at line ") {
            message.truncate(idx);
        }
        YamlError {
            message,
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
        }
    }
}

/// Parse one YAML document into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_yaml_ng::from_str(text).map_err(YamlError::new)
}

/// Serialise `value` as YAML (block style, strings quoted where YAML 1.1 readers would
/// otherwise see a bool, number or null).
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, YamlError> {
    serde_yaml_ng::to_string(value).map_err(YamlError::new)
}

/// Parse a multi-document stream (`---` separated, as `helm template` prints) into JSON values,
/// one per document, keeping empty documents as `Value::Null` so document indexes match the
/// source.
pub fn documents(text: &str) -> Result<Vec<serde_json::Value>, YamlError> {
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        out.push(serde_json::Value::deserialize(doc).map_err(YamlError::new)?);
    }
    Ok(out)
}
