//! The one place that knows which YAML libraries the bot uses (serde-saphyr only for
//! streaming reads of large documents, [`from_str_seed`]).
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

/// Parse one YAML document with a seed (a deserializer that carries state, for example which
/// parts of a large document to keep), streaming: unlike [`from_str`], which holds every event
/// of the document before building anything, this reads the text as it builds, so the parts
/// the seed skips cost no memory. serde_yaml_ng has no streaming mode; serde-saphyr (already
/// built for kube) has. The caller bounds the text's size, so the budgets that grow with the
/// document are lifted; those against alias bombs stay.
pub fn from_str_seed<'de, S: serde::de::DeserializeSeed<'de>>(
    text: &'de str,
    seed: S,
) -> Result<S::Value, YamlError> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = usize::MAX;
    budget.max_nodes = usize::MAX;
    budget.max_total_scalar_bytes = usize::MAX;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    // As serde_yaml_ng: a repeated key reaches the visitor, which decides (maps keep the last).
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.with_snippet = false;
    // Scalars read as serde_yaml_ng reads them (`0123`, `1_000` and `yes` stay strings): a
    // digest of leading zeros is still a digest.
    options.leading_zero_numbers_as_strings = true;
    options.underscored_numbers_as_strings = true;
    options.strict_booleans = true;
    serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| seed.deserialize(de))
        .map_err(|err| {
            let loc = err.location().filter(|l| l.line() > 0);
            let mut message = err.without_snippet().to_string();
            // Like serde_yaml_ng's, the position is kept in fields, not in the message.
            if let Some(idx) = message.find(" at line ") {
                message.truncate(idx);
            }
            YamlError {
                message,
                line: loc.map(|l| l.line() as usize),
                column: loc.map(|l| l.column() as usize),
            }
        })
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

/// Canonical block YAML for a JSON value: what committed renders are written as.
///
/// Not `to_string`, because serde_yaml_ng leaves strings such as `on`, `yes` or `0123` unquoted,
/// and the readers of committed manifests (kubectl, Argo CD, Flux: Go YAML 1.1 parsers) turn
/// those into booleans and numbers. Here a string is written plain only when no YAML 1.1 or
/// 1.2 reader could take it for anything else; multi-line strings become `|` blocks so
/// scripts and config files in ConfigMaps stay readable in review.
pub fn to_canonical_string(value: &serde_json::Value) -> String {
    let mut out = String::new();
    match value {
        serde_json::Value::Object(m) if !m.is_empty() => emit_map(m, 0, &mut out),
        serde_json::Value::Array(a) if !a.is_empty() => emit_seq(a, 0, &mut out),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn emit_map(m: &serde_json::Map<String, serde_json::Value>, indent: usize, out: &mut String) {
    for (k, v) in m {
        push_indent(out, indent);
        emit_entry(&string_scalar(k, indent, true), v, indent, out);
    }
}

/// `key: value`, with `key:` already positioned.
fn emit_entry(key: &str, v: &serde_json::Value, indent: usize, out: &mut String) {
    out.push_str(key);
    out.push(':');
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit_map(m, indent + 2, out);
        }
        // Kubernetes style: sequence items at the key's indentation.
        serde_json::Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit_seq(a, indent, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, indent + 2));
            out.push('\n');
        }
    }
}

fn emit_seq(items: &[serde_json::Value], indent: usize, out: &mut String) {
    for item in items {
        push_indent(out, indent);
        out.push_str("- ");
        match item {
            serde_json::Value::Object(m) if !m.is_empty() => {
                // First entry on the dash line, the rest aligned under it.
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        push_indent(out, indent + 2);
                    }
                    emit_entry(&string_scalar(k, indent + 2, true), v, indent + 2, out);
                }
            }
            serde_json::Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                emit_seq(a, indent + 2, out);
            }
            other => {
                out.push_str(&scalar(other, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn push_indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn scalar(v: &serde_json::Value, indent: usize) -> String {
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => string_scalar(s, indent, false),
        serde_json::Value::Object(_) => "{}".into(),
        serde_json::Value::Array(_) => "[]".into(),
    }
}

/// A string as a plain, single-quoted, double-quoted or literal-block scalar.
fn string_scalar(s: &str, indent: usize, is_key: bool) -> String {
    if plain_is_safe(s) {
        return s.to_string();
    }
    let printable = |c: char| c == '\t' || c == '\n' || (!c.is_control() && c != '\u{feff}');
    if !is_key && s.contains('\n') && s.chars().all(printable) && literal_block_is_safe(s) {
        let chomp = if !s.ends_with('\n') {
            "-"
        } else if s.ends_with("\n\n") {
            "+"
        } else {
            ""
        };
        let mut out = format!("|{chomp}");
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                push_indent(&mut out, indent);
                out.push_str(line);
            }
        }
        return out;
    }
    if s.chars().all(|c| !c.is_control() && c != '\u{feff}') {
        return format!("'{}'", s.replace('\'', "''"));
    }
    // JSON string escapes are valid YAML double-quoted escapes.
    serde_json::to_string(s).expect("a string always serialises")
}

/// `|` blocks cannot start with a space (the indentation would be misread) or carry a
/// trailing-space-only final line reliably; those fall back to quotes.
fn literal_block_is_safe(s: &str) -> bool {
    !s.starts_with(' ')
        && !s.starts_with('\n')
        && !s.contains('\r')
        && !s.trim_end_matches('\n').ends_with([' ', '\t'])
}

/// Plain (unquoted) only for strings every YAML reader takes as that same string.
fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.trim() != s || s.len() > 200 {
        return false;
    }
    if !(first.is_ascii_alphabetic() || first == '/' || first == '_') {
        return false;
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " _-./:=@+,()?&%~*!".contains(c))
    {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    // YAML 1.1 booleans and nulls (case variants included), and 1.2's `.inf`/`.nan` forms.
    const RESERVED: &[&str] = &[
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "nan", "inf",
    ];
    let lower = s.to_ascii_lowercase();
    if RESERVED.contains(&lower.as_str()) {
        return false;
    }
    // Base-60 and exponent forms need a leading digit, which plain strings here never have.
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: &serde_json::Value) -> String {
        let text = to_canonical_string(v);
        let back: serde_json::Value = from_str(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        assert_eq!(&back, v, "round trip changed the value:\n{text}");
        text
    }

    #[test]
    fn yaml_1_1_traps_are_quoted() {
        let v = json!({"a": "on", "b": "Yes", "c": "0123", "d": "=", "e": "1.10", "f": "~", "g": "null",
                       "h": "", "i": " lead", "j": "a: b", "k": "#x", "l": "it's", "m": "-", "version": "v1.16.5",
                       "url": "https://x.example/a?b=c", "n": "no-quotes-needed", "y": 1, "p": "1e3", "q": "0x1F", "r": "*", "s": "OFF"});
        let text = round_trip(&v);
        for plain in ["version: v1.16.5", "url: https://x.example/a?b=c"] {
            assert!(text.contains(plain), "{plain} stays plain:\n{text}");
        }
        for quoted in [
            "a: 'on'",
            "b: 'Yes'",
            "c: '0123'",
            "d: '='",
            "e: '1.10'",
            "f: '~'",
            "h: ''",
            "l: 'it''s'",
            "s: 'OFF'",
            // YAML 1.1 reads the *keys* n and y as booleans too (GitHub's famous `on:`).
            "'n': no-quotes-needed",
            "'y': 1",
        ] {
            assert!(text.contains(quoted), "{quoted} in:\n{text}");
        }
    }

    #[test]
    fn structure_and_blocks() {
        let v = json!({"apiVersion": "v1", "data": {"script.sh": "#!/bin/sh\necho hi\n", "none": "a\nb"},
                       "list": [{"name": "x", "ports": [1, 2]}, "s", [], {}], "empty": {}, "n": null, "f": 1.5});
        let text = round_trip(&v);
        assert!(
            text.contains("  script.sh: |\n    #!/bin/sh\n    echo hi\n"),
            "{text}"
        );
        assert!(text.contains("  none: |-\n    a\n    b\n"), "{text}");
        assert!(
            text.contains("list:\n- name: x\n  ports:\n  - 1\n  - 2\n- s\n- []\n- {}\n"),
            "{text}"
        );
    }

    #[test]
    fn control_characters_use_double_quotes() {
        let text = round_trip(&json!({"k": "a\u{7}b", "t": " x\ny", "cr": "a\r\nb"}));
        assert!(text.contains("k: \"a\\u0007b\""), "{text}");
    }
}
