//! Reading a TOML config file field by field, with positions, collecting every problem
//! instead of stopping at the first (serde's derive stops at the first unknown key or type
//! error, which made six mistakes take six runs).

use std::ops::Range;
use std::path::Path;

use toml_edit::{Item, Key, TableLike, Value};

use super::error::{line_col, ConfigError};

/// 1-based line and column.
pub(super) type Pos = (Option<usize>, Option<usize>);

pub(super) struct Reader<'a> {
    path: &'a Path,
    text: &'a str,
    pub errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        Reader {
            path,
            text,
            errors: Vec::new(),
        }
    }

    pub fn pos(&self, span: Option<Range<usize>>) -> Pos {
        span.map(|s| line_col(self.text, s.start)).unzip()
    }

    /// A problem at `pos`, to push (after adding a hint, perhaps).
    pub fn at(&self, pos: Pos, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.path, message).at(pos.0, pos.1)
    }

    /// Record a problem at `pos`.
    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        let e = self.at(pos, message);
        self.errors.push(e);
    }

    /// Every key of `t` must be one of `known`.
    pub fn known_keys(&mut self, t: &dyn TableLike, known: &[&str]) {
        for (key, _) in t.iter() {
            if known.contains(&key) {
                continue;
            }
            let pos = self.key_pos(t, key);
            let expected = known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let hint = known
                .iter()
                .map(|k| (strsim::jaro_winkler(key, k), k))
                .filter(|(s, _)| *s > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, k)| format!("did you mean `{k}`?"));
            let mut e = self.at(
                pos,
                format!("unknown field `{key}`, expected one of {expected}"),
            );
            if let Some(h) = hint {
                e = e.hint(h);
            }
            self.errors.push(e);
        }
    }

    /// Where `key` is written in `t`.
    pub fn key_pos(&self, t: &dyn TableLike, key: &str) -> Pos {
        let span = t
            .get_key_value(key)
            .and_then(|(k, _): (&Key, &Item)| k.span());
        self.pos(span)
    }

    /// The string `key` of `t`: `None` when absent, or (recorded) when it is not a string.
    pub fn string(&mut self, t: &dyn TableLike, key: &str) -> Option<(String, Pos)> {
        let item = t.get(key)?;
        let pos = self.pos(item.span());
        match item.as_value() {
            Some(Value::String(s)) => Some((s.value().clone(), pos)),
            Some(v) => {
                self.not_a_string(pos, key, v);
                None
            }
            None => {
                self.error(pos, format!("`{key}` must be a string, not a table"));
                None
            }
        }
    }

    /// A required string.
    pub fn required_string(
        &mut self,
        t: &dyn TableLike,
        key: &str,
        within: &str,
        at: Pos,
    ) -> Option<(String, Pos)> {
        if t.get(key).is_none() {
            let e = self
                .at(at, format!("missing field `{key}` in {within}"))
                .hint("see the branches.toml example in README.md");
            self.errors.push(e);
            return None;
        }
        self.string(t, key)
    }

    /// A non-negative integer.
    pub fn unsigned(&mut self, t: &dyn TableLike, key: &str) -> Option<u32> {
        let item = t.get(key)?;
        let pos = self.pos(item.span());
        match item.as_value().and_then(Value::as_integer) {
            Some(n) if n >= 0 && n <= i64::from(u32::MAX) => Some(n as u32),
            _ => {
                self.error(pos, format!("`{key}` must be a whole number, 0 or more"));
                None
            }
        }
    }

    /// A table (`[key]` or `key = { … }`) of strings, each with its key's position.
    pub fn string_map(&mut self, t: &dyn TableLike, key: &str) -> Vec<(String, Pos, String, Pos)> {
        let Some(item) = t.get(key) else {
            return Vec::new();
        };
        let Some(map) = item.as_table_like() else {
            let pos = self.pos(item.span());
            self.error(pos, format!("`{key}` must be a table of strings"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, _) in map.iter() {
            let key_pos = self.key_pos(map, k);
            if let Some((v, pos)) = self.string(map, k) {
                out.push((k.to_string(), key_pos, v, pos));
            }
        }
        out
    }

    fn not_a_string(&mut self, pos: Pos, key: &str, v: &Value) {
        let raw = v
            .span()
            .and_then(|s| self.text.get(s))
            .unwrap_or_default()
            .trim()
            .to_string();
        let kind = match v {
            Value::Integer(_) | Value::Float(_) => "number",
            Value::Boolean(_) => "boolean",
            Value::Datetime(_) => "date",
            Value::Array(_) => "list",
            Value::InlineTable(_) => "table",
            Value::String(_) => "string",
        };
        let mut e = self.at(
            pos,
            format!("`{key}` is the {kind} {raw} here, but must be a string"),
        );
        if kind == "number" {
            // TOML reads 1.30 as the float 1.3: the minor would silently change.
            e = e.hint(format!("quote it: {key} = \"{raw}\""));
        }
        self.errors.push(e);
    }
}
