//! Where regorus 0.14 reads Rego v0 differently from OPA, the source is rewritten, token by
//! token, into an equivalent that both read the same way (line numbers are kept):
//!
//! - A rule with several bodies, `p[x] { a } { b }` (OPA: two rules with the same head),
//!   which regorus rejects for partial set rules ("else cannot be used with set rules"):
//!   the head is repeated before each further body.
//! - A body line that starts with `(` or `[` after a line that ended an expression: OPA
//!   takes a call or a reference only when the bracket touches what precedes it, regorus
//!   continues the previous line (`x\n(a - b) >= c` becomes the call `x(a - b)`): a `;`
//!   ends the previous expression.
//! - `sprintf` with a literal format and a literal argument array shorter than its verbs:
//!   Go (and OPA) print `%!v(MISSING)` for each missing argument, regorus fails; the array is
//!   padded with those strings (`%v` and `%s` verbs only).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Space,
    Newline,
    Comment,
    Str,
    Word,
    Punct(char),
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
}

fn tokens(src: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = src[i..].chars().next().unwrap_or(' ');
        let kind = match c {
            '\n' => {
                i += 1;
                Kind::Newline
            }
            ' ' | '\t' | '\r' => {
                while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\r') {
                    i += 1;
                }
                Kind::Space
            }
            '#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                Kind::Comment
            }
            '"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                Kind::Str
            }
            '`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
                i = (i + 1).min(bytes.len());
                Kind::Str
            }
            c if c.is_alphanumeric() || c == '_' => {
                while i < bytes.len() {
                    let c = src[i..].chars().next().unwrap_or(' ');
                    if !(c.is_alphanumeric() || c == '_') {
                        break;
                    }
                    i += c.len_utf8();
                }
                Kind::Word
            }
            c => {
                i += c.len_utf8();
                Kind::Punct(c)
            }
        };
        out.push(Token {
            kind,
            text: &src[start..i.min(src.len())],
        });
    }
    out
}

fn significant(t: &Token<'_>) -> bool {
    !matches!(t.kind, Kind::Space | Kind::Newline | Kind::Comment)
}

/// Whether a token can end an expression (so a bracket after a newline starts a new one).
fn ends_expression(t: &Token<'_>) -> bool {
    matches!(
        t.kind,
        Kind::Word | Kind::Str | Kind::Punct(')') | Kind::Punct(']') | Kind::Punct('}')
    )
}

/// The source with regorus' deviations from OPA worked around; unchanged when none applies.
pub(crate) fn rewrite(src: &str) -> String {
    let toks = tokens(src);
    let mut out = String::with_capacity(src.len() + 64);
    // Open brackets: the char, and whether a `{` opened a rule body.
    let mut stack: Vec<(char, bool)> = Vec::new();
    // Byte offset in `src` of the current rule's first token, and of its first body's `{`.
    let mut head_start: Option<usize> = None;
    let mut head_end: Option<usize> = None;
    let mut after_body = false;
    // Output offset just after the last significant token, and whether a newline followed it.
    let mut last_sig: Option<(usize, Token<'_>)> = None;
    let mut newline_since = false;
    let mut offset = 0;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let pos = offset;
        offset += t.text.len();
        i += 1;
        if !significant(&t) {
            if t.kind == Kind::Newline {
                newline_since = true;
                if stack.is_empty() && !after_body {
                    head_start = None;
                    head_end = None;
                }
            }
            out.push_str(t.text);
            continue;
        }
        if stack.is_empty() {
            let value = last_sig.is_some_and(|(_, p)| p.kind == Kind::Punct('='));
            if t.kind == Kind::Punct('{') && after_body && !value {
                // A further body of the same rule: repeat the head.
                if let (Some(s), Some(e)) = (head_start, head_end) {
                    out.push_str(src[s..e].trim_end());
                    out.push(' ');
                }
            } else if (after_body || head_start.is_none()) && !(after_body && t.text == "else") {
                head_start = Some(pos);
                head_end = None;
            }
            after_body = false;
        }
        // A bracket that starts a body line after a complete expression.
        if matches!(t.kind, Kind::Punct('(') | Kind::Punct('['))
            && newline_since
            && stack.last().is_some_and(|&(c, body)| c == '{' && body)
        {
            if let Some((at, prev)) = last_sig {
                if ends_expression(&prev) {
                    out.insert(at, ';');
                }
            }
        }
        match t.kind {
            Kind::Punct(c @ ('(' | '[' | '{')) => {
                // At the top level a `{` opens a body, unless it is a value (`= {…}`,
                // `contains {…}`).
                let value = last_sig.is_some_and(|(_, p)| {
                    p.kind == Kind::Punct('=') || (p.kind == Kind::Word && p.text == "contains")
                });
                let body = c == '{' && stack.is_empty() && !value;
                if body && head_end.is_none() {
                    head_end = Some(pos);
                }
                stack.push((c, body));
            }
            Kind::Punct(')' | ']' | '}') => {
                if let Some((_, body)) = stack.pop() {
                    if body && stack.is_empty() {
                        after_body = true;
                    }
                }
            }
            _ => {}
        }
        out.push_str(t.text);
        if t.kind == Kind::Word && t.text == "sprintf" {
            if let Some(consumed) = pad_sprintf(&toks[i..], &mut out) {
                offset += toks[i..i + consumed]
                    .iter()
                    .map(|t| t.text.len())
                    .sum::<usize>();
                i += consumed;
                // Written up to the array's `]`: the call's `(` is still open.
                stack.push(('(', false));
                last_sig = Some((
                    out.len(),
                    Token {
                        kind: Kind::Punct(']'),
                        text: "]",
                    },
                ));
                newline_since = false;
                continue;
            }
        }
        last_sig = Some((out.len(), t));
        newline_since = false;
    }
    out
}

/// After `sprintf`: `("format", [a, b])` with fewer elements than `%v`/`%s` verbs gets
/// `"%!v(MISSING)"` elements. Writes the call up to the array's `]` (included) to `out` and
/// returns how many tokens that took, or None (nothing written) when the call is not of that
/// form or needs no padding.
fn pad_sprintf(toks: &[Token<'_>], out: &mut String) -> Option<usize> {
    let mut idx = 0;
    let next_sig = |idx: &mut usize| -> Option<Token<'_>> {
        while *idx < toks.len() && !significant(&toks[*idx]) {
            *idx += 1;
        }
        let t = toks.get(*idx).copied();
        *idx += 1;
        t
    };
    if toks.first()?.kind != Kind::Punct('(') {
        return None;
    }
    idx += 1;
    let format = next_sig(&mut idx).filter(|t| t.kind == Kind::Str && t.text.starts_with('"'))?;
    next_sig(&mut idx).filter(|t| t.kind == Kind::Punct(','))?;
    next_sig(&mut idx).filter(|t| t.kind == Kind::Punct('['))?;
    // The array's elements: top-level commas, up to its `]`.
    let mut depth = 0usize;
    let mut elements = 0usize;
    let mut pending = false;
    let close = loop {
        let t = toks.get(idx)?;
        match t.kind {
            Kind::Punct('(' | '[' | '{') => {
                depth += 1;
                pending = true;
            }
            Kind::Punct(')' | ']' | '}') if depth > 0 => depth -= 1,
            Kind::Punct(']') => break idx,
            Kind::Punct(',') if depth == 0 => {
                if pending {
                    elements += 1;
                }
                pending = false;
            }
            _ if significant(t) => pending = true,
            _ => {}
        }
        idx += 1;
    };
    // A trailing comma leaves nothing pending: the padding then needs no leading comma.
    let trailing_comma = elements > 0 && !pending;
    if pending {
        elements += 1;
    }
    let verbs = verbs(&format.text[1..format.text.len() - 1])?;
    if verbs.len() <= elements {
        return None;
    }
    for t in &toks[..close] {
        out.push_str(t.text);
    }
    for (n, verb) in verbs[elements..].iter().enumerate() {
        if n > 0 || (elements > 0 && !trailing_comma) {
            out.push_str(", ");
        }
        out.push_str(&format!("\"%!{verb}(MISSING)\""));
    }
    out.push(']');
    Some(close + 1)
}

/// The verbs of a Go format string, or None when one is not `%v` or `%s` (then nothing is
/// padded: regorus' error stands).
fn verbs(format: &str) -> Option<Vec<char>> {
    let mut out = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        match chars.next()? {
            '%' => {}
            v @ ('v' | 's') => out.push(v),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_the_head_of_further_bodies() {
        let src = "package p\n\nviolation[{\"msg\": msg}] {\n  a\n  msg := \"x\"\n} {\n  b\n  msg := \"y\"\n}\n";
        let out = rewrite(src);
        assert_eq!(
            out,
            "package p\n\nviolation[{\"msg\": msg}] {\n  a\n  msg := \"x\"\n} violation[{\"msg\": msg}] {\n  b\n  msg := \"y\"\n}\n"
        );
        // else chains stay as they are.
        let src = "f(x) = 1 {\n  x\n} else = 2 {\n  true\n}\n";
        assert_eq!(rewrite(src), src);
        // Object values in heads are not bodies.
        let src = "g(c) = {\"p\": p} {\n  p := c\n}\n\ng(c) = {\"p\": 1} {\n  c\n}\n";
        assert_eq!(rewrite(src), src);
    }

    #[test]
    fn ends_an_expression_before_a_bracket_on_the_next_line() {
        let src = "p(h) {\n    input.x\n    (h.a - h.b) >= input.x\n}\n";
        assert_eq!(
            rewrite(src),
            "p(h) {\n    input.x;\n    (h.a - h.b) >= input.x\n}\n"
        );
        // Continuation lines inside brackets and after operators are left alone.
        let src = "p {\n  x := f(\n    (a)\n  )\n  y := a +\n    (b)\n}\n";
        assert_eq!(rewrite(src), src);
    }

    #[test]
    fn pads_sprintf_with_missing_arguments() {
        let src = r#"m := sprintf("a %v b %v c %v", [x, y])"#;
        assert_eq!(
            rewrite(src),
            r#"m := sprintf("a %v b %v c %v", [x, y, "%!v(MISSING)"])"#
        );
        let src = r#"m := sprintf("a %v %%", [f(x, y)])"#;
        assert_eq!(rewrite(src), src);
        let src = r#"m := sprintf("%d", [])"#;
        assert_eq!(rewrite(src), src);
        let src = "m := sprintf(\"%v %s\", [\n  x,\n])\nn := 1";
        assert_eq!(
            rewrite(src),
            "m := sprintf(\"%v %s\", [\n  x,\n\"%!s(MISSING)\"])\nn := 1"
        );
    }

    #[test]
    fn leaves_ordinary_rego_alone() {
        let src = "package a\n\nimport data.lib.x\n\n# c (d\nv[{\"msg\": m}] {\n  m := \"}{\"\n  c := `(`\n}\n";
        assert_eq!(rewrite(src), src);
    }
}
