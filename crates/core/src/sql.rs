//! A small PostgreSQL lexer: enough to tell where a statement ends, which
//! command it is, and where its string literals lie, in text that may be cut
//! short (pg_stat_activity keeps only `track_activity_query_size` bytes).
//!
//! It knows PostgreSQL's quoting rules: standard strings (`'it''s'`), escape
//! strings (`E'it\'s'`), the `B`, `X`, `N` and `U&` prefixes, dollar quotes
//! (`$fn$ … $fn$`), quoted identifiers, `--` comments and nested `/* */`
//! comments. It never fails: an unterminated literal or comment runs to the
//! end of the text and is marked so.
//!
//! Two users: [`crate::redact::redact_statement`], which masks the literals
//! that can hold a secret, and sidik-pg's single-statement check, which must
//! find every `;` that ends a statement and none inside a literal.

use std::ops::Range;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A keyword or an unquoted identifier (`SELECT`, `orders`).
    Word,
    /// A `"quoted identifier"`.
    QuotedIdent,
    /// A string literal of any kind, prefix included (`'x'`, `E'x'`, `$$x$$`).
    String,
    /// A number, a `$1` parameter or an operator character.
    Other,
    /// `;`, the end of a statement.
    Semicolon,
    /// `(`.
    Open,
    /// `)`.
    Close,
    /// `,`.
    Comma,
    /// A `--` or `/* */` comment.
    Comment,
}

/// One token and where it lies in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: Kind,
    /// Its bytes in the text.
    pub span: Range<usize>,
    /// For strings, the bytes between the quotes.
    pub inner: Range<usize>,
    /// A literal, quoted identifier or comment the text ends inside of.
    pub unterminated: bool,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident_char(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

/// The tokens of `text`, whitespace left out, comments kept.
pub fn tokens(text: &str) -> Vec<Token> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let tok = |kind, end: usize, inner: Range<usize>, unterminated| Token {
            kind,
            span: start..end,
            inner,
            unterminated,
        };
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                let end = b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| i + p);
                out.push(tok(Kind::Comment, end, start..end, false));
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                let mut j = i;
                let mut closed = false;
                while j < b.len() {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                        if depth == 0 {
                            closed = true;
                            break;
                        }
                    } else {
                        j += 1;
                    }
                }
                out.push(tok(Kind::Comment, j, start..j, !closed));
                i = j;
            }
            b'\'' => {
                let (end, inner, unterminated) = quoted(b, i, b'\'', false);
                out.push(tok(Kind::String, end, inner, unterminated));
                i = end;
            }
            b'"' => {
                let (end, inner, unterminated) = quoted(b, i, b'"', false);
                out.push(tok(Kind::QuotedIdent, end, inner, unterminated));
                i = end;
            }
            b'$' => match dollar_tag(b, i) {
                Some(tag_end) => {
                    let tag = &b[i..tag_end];
                    let body = tag_end;
                    let (end, inner, unterminated) = match find(&b[body..], tag) {
                        Some(p) => (body + p + tag.len(), body..body + p, false),
                        None => (b.len(), body..b.len(), true),
                    };
                    out.push(tok(Kind::String, end, inner, unterminated));
                    i = end;
                }
                None => {
                    let mut j = i + 1;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    out.push(tok(Kind::Other, j, start..j, false));
                    i = j;
                }
            },
            c if is_ident_start(c) => {
                let mut j = i;
                while j < b.len() && is_ident_char(b[j]) {
                    j += 1;
                }
                let word = &b[i..j];
                // A prefixed literal: E'…', B'…', X'…', N'…', U&'…'.
                let prefix_quote = match word {
                    [p] if b.get(j) == Some(&b'\'') && b"eEbBxXnN".contains(p) => Some(j),
                    [b'u' | b'U'] if b.get(j) == Some(&b'&') && b.get(j + 1) == Some(&b'\'') => {
                        Some(j + 1)
                    }
                    _ => None,
                };
                if let Some(q) = prefix_quote {
                    let escapes = matches!(word, [b'e' | b'E']);
                    let (end, inner, unterminated) = quoted(b, q, b'\'', escapes);
                    out.push(tok(Kind::String, end, inner, unterminated));
                    i = end;
                } else {
                    out.push(tok(Kind::Word, j, start..j, false));
                    i = j;
                }
            }
            b';' | b'(' | b')' | b',' => {
                let kind = match c {
                    b';' => Kind::Semicolon,
                    b'(' => Kind::Open,
                    b')' => Kind::Close,
                    _ => Kind::Comma,
                };
                out.push(tok(kind, i + 1, start..i + 1, false));
                i += 1;
            }
            _ => {
                // Numbers and operators; a UTF-8 sequence never starts here
                // (bytes ≥ 0x80 begin identifiers), so `i + 1` is a boundary.
                let mut j = i + 1;
                if c.is_ascii_digit() {
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'.') {
                        j += 1;
                    }
                }
                out.push(tok(Kind::Other, j, start..j, false));
                i = j;
            }
        }
    }
    out
}

/// A literal that opened with `q` at `open`: (end, inner, unterminated).
/// Doubled quotes escape; with `escapes`, so does a backslash.
fn quoted(b: &[u8], open: usize, q: u8, escapes: bool) -> (usize, Range<usize>, bool) {
    let mut j = open + 1;
    while j < b.len() {
        if escapes && b[j] == b'\\' {
            j += 2;
            continue;
        }
        if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            return (j + 1, open + 1..j, false);
        }
        j += 1;
    }
    (b.len(), (open + 1).min(b.len())..b.len(), true)
}

/// The end of a `$tag$` opening at `i`, or `None` for a `$1` parameter.
fn dollar_tag(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if j < b.len() && b[j] == b'$' {
        return Some(j + 1);
    }
    if j >= b.len() || !(b[j].is_ascii_alphabetic() || b[j] == b'_' || b[j] >= 0x80) {
        return None;
    }
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
        j += 1;
    }
    (b.get(j) == Some(&b'$')).then_some(j + 1)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One statement of a text: its tokens (comments left out) and where it lies.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The significant tokens, without comments and without the `;`.
    pub tokens: Vec<Token>,
    /// From its first token to its last.
    pub span: Range<usize>,
}

impl Statement {
    /// The command word, upper-cased (`SELECT`, `ALTER`), if it starts with one.
    pub fn command(&self, text: &str) -> Option<String> {
        let t = self.tokens.first()?;
        (t.kind == Kind::Word).then(|| text[t.span.clone()].to_ascii_uppercase())
    }
}

/// The statements of `text`, split at every `;` outside literals and
/// comments. Empty statements (`;;`, a trailing `;`) are left out.
pub fn statements(text: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut cur: Vec<Token> = Vec::new();
    let mut flush = |cur: &mut Vec<Token>| {
        if let (Some(first), Some(last)) = (cur.first(), cur.last()) {
            let span = first.span.start..last.span.end;
            out.push(Statement {
                tokens: std::mem::take(cur),
                span,
            });
        }
    };
    for t in tokens(text) {
        match t.kind {
            Kind::Comment => {}
            Kind::Semicolon => flush(&mut cur),
            _ => cur.push(t),
        }
    }
    flush(&mut cur);
    out
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&c| c == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        tokens(text)
            .into_iter()
            .map(|t| (t.kind, &text[t.span]))
            .collect()
    }

    #[test]
    fn literals_of_every_kind_are_one_token() {
        let t = kinds("SELECT 'a;b', E'it\\'s;', 'x''y;', $$p;q$$, $f$ $$ ; $f$, \"c;d\", $1;");
        let strings: Vec<&str> = t
            .iter()
            .filter(|(k, _)| *k == Kind::String)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(
            strings,
            ["'a;b'", "E'it\\'s;'", "'x''y;'", "$$p;q$$", "$f$ $$ ; $f$"]
        );
        assert_eq!(
            t.iter().filter(|(k, _)| *k == Kind::Semicolon).count(),
            1,
            "{t:?}"
        );
        assert!(t.contains(&(Kind::QuotedIdent, "\"c;d\"")));
        assert!(t.contains(&(Kind::Other, "$1")));
    }

    #[test]
    fn comments_nest_and_hide_semicolons() {
        let text = "SELECT 1 /* a /* b; */ c; */ -- d;\n; SELECT 2";
        let s = statements(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].command(text).as_deref(), Some("SELECT"));
        assert_eq!(line_of(text, s[1].span.start), 2);
    }

    #[test]
    fn a_text_cut_short_ends_inside_its_literal() {
        let text = "ALTER ROLE x PASSWORD 'abc";
        let t = tokens(text);
        let last = t.last().unwrap();
        assert_eq!(last.kind, Kind::String);
        assert!(last.unterminated);
        assert_eq!(&text[last.inner.clone()], "abc");
        assert!(
            tokens("SELECT $tag$ never closed")
                .last()
                .unwrap()
                .unterminated
        );
        assert!(tokens("/* open").last().unwrap().unterminated);
    }

    #[test]
    fn statements_skip_empty_ones() {
        let text = ";; SELECT 1; ;\n COMMIT ;";
        let s = statements(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].command(text).as_deref(), Some("COMMIT"));
        assert!(statements("  -- only a comment\n").is_empty());
    }
}
