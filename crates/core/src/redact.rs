//! Redaction of secrets in text that is about to be shown, logged or saved.
//!
//! Connection strings reach sidik through the environment; any message,
//! report or journal that quotes one passes through [`redact`] first, so a
//! password never leaves the process.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// What a hidden secret is replaced with.
pub const MASK: &str = "***";

static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    // scheme://user:PASSWORD@host — the password is everything between the
    // first ':' of the user-info and the last '@' before the host.
    Regex::new(r"(?i)\b([a-z][a-z0-9+.\-]*://[^:/@\s]*:)([^\s]*)@").unwrap()
});

static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    // libpq conninfo (`password=x`, `password = 'a b'`), URL query parameters
    // and environment assignments (`PGPASSWORD=x`).
    Regex::new(
        r#"(?i)\b(password|passwd|pgpassword|sslpassword|passfile|secret|api[_-]?key|access[_-]?token|token)(\s*[=:]\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&;,]+)"#,
    )
    .unwrap()
});

// An HTTP credential: after `Authorization:` whatever the token looks like;
// elsewhere only a token68 of 8 or more characters that carries a digit, a
// symbol or an upper-case letter after its first, so the words after
// "invalid basic" in a parser's message are left alone.
static BEARER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(authorization\s*[:=]\s*(?:bearer|basic|token|digest)?|bearer|basic)(\s+)([A-Za-z0-9._~+/=\-]+)")
        .unwrap()
});

fn looks_like_token(t: &str) -> bool {
    t.len() >= 8
        && t.bytes().enumerate().any(|(i, c)| {
            c.is_ascii_digit() || b"._~+/=-".contains(&c) || (i > 0 && c.is_ascii_uppercase())
        })
}

/// Returns `text` with passwords, tokens and credentials masked as `***`.
///
/// Covers URL user-info (`postgres://app:secret@db/orders`), libpq
/// key/value strings (`password=secret`, quoted or not), query parameters,
/// `PGPASSWORD=…` and HTTP `Bearer`/`Basic` credentials. Text without a
/// secret is returned unchanged and unallocated.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    if URL_PASSWORD.is_match(&out) {
        out = Cow::Owned(
            URL_PASSWORD
                .replace_all(&out, format!("${{1}}{MASK}@"))
                .into_owned(),
        );
    }
    if KEY_VALUE.is_match(&out) {
        out = Cow::Owned(
            KEY_VALUE
                .replace_all(&out, format!("${{1}}${{2}}{MASK}"))
                .into_owned(),
        );
    }
    if BEARER.is_match(&out) {
        let replaced = BEARER.replace_all(&out, |c: &regex::Captures| {
            let head = &c[1];
            let authorization = head.len() > 6 && head[..6].eq_ignore_ascii_case("author");
            if authorization || looks_like_token(&c[3]) {
                format!("{head}{}{MASK}", &c[2])
            } else {
                c[0].to_string()
            }
        });
        if replaced != *out {
            out = Cow::Owned(replaced.into_owned());
        }
    }
    out
}

/// The commands whose constants pg_stat_statements replaces by `$1`, `$2` …
/// Every other command (a "utility statement") is stored as it was sent.
const NORMALISED: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "VALUES", "TABLE",
];

/// Functions whose string arguments are keys or connection strings.
const SECRET_FUNCTIONS: &[&str] = &[
    "PGP_SYM_ENCRYPT",
    "PGP_SYM_DECRYPT",
    "PGP_SYM_ENCRYPT_BYTEA",
    "PGP_SYM_DECRYPT_BYTEA",
    "PGP_PUB_ENCRYPT",
    "PGP_PUB_DECRYPT",
    "PGP_PUB_ENCRYPT_BYTEA",
    "PGP_PUB_DECRYPT_BYTEA",
    "ENCRYPT",
    "DECRYPT",
    "ENCRYPT_IV",
    "DECRYPT_IV",
    "HMAC",
    "CRYPT",
    "DBLINK",
    "DBLINK_CONNECT",
    "DBLINK_CONNECT_U",
    "DBLINK_EXEC",
    "DBLINK_SEND_QUERY",
    "SET_CONFIG",
];

/// Whether `text` starts, after blanks and comments, with an SQL command
/// word: the test [`redact_statement`] is applied by before a value read from
/// a server is kept (an order's note "O'Brien" is data, not a statement).
pub fn looks_like_statement(text: &str) -> bool {
    const COMMANDS: &[&str] = &[
        "ABORT",
        "ALTER",
        "ANALYZE",
        "BEGIN",
        "CALL",
        "CHECKPOINT",
        "CLOSE",
        "CLUSTER",
        "COMMENT",
        "COMMIT",
        "COPY",
        "CREATE",
        "DEALLOCATE",
        "DECLARE",
        "DELETE",
        "DISCARD",
        "DO",
        "DROP",
        "END",
        "EXECUTE",
        "EXPLAIN",
        "FETCH",
        "GRANT",
        "IMPORT",
        "INSERT",
        "LISTEN",
        "LOAD",
        "LOCK",
        "MERGE",
        "MOVE",
        "NOTIFY",
        "PREPARE",
        "REASSIGN",
        "REFRESH",
        "REINDEX",
        "RELEASE",
        "RESET",
        "REVOKE",
        "ROLLBACK",
        "SAVEPOINT",
        "SECURITY",
        "SELECT",
        "SET",
        "SHOW",
        "START",
        "TABLE",
        "TRUNCATE",
        "UNLISTEN",
        "UPDATE",
        "VACUUM",
        "VALUES",
        "WITH",
    ];
    // Called on every value read from a server: look at the first word
    // only, after blanks and comments, without tokenizing the rest.
    let b = text.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b[i..].starts_with(b"--") {
            i += b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .unwrap_or(b.len() - i);
        } else if b[i..].starts_with(b"/*") {
            // Comments nest in PostgreSQL.
            let mut depth = 0usize;
            loop {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else if i < b.len() {
                    i += 1;
                } else {
                    return false; // never closed
                }
            }
        } else {
            break;
        }
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_alphabetic() {
        i += 1;
    }
    let word = &text[start..i];
    let ends_word = b
        .get(i)
        .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
    !word.is_empty() && ends_word && COMMANDS.iter().any(|c| c.eq_ignore_ascii_case(word))
}

/// Returns an SQL statement text with the secrets it may carry masked: every
/// string literal of a utility statement (`CREATE ROLE … PASSWORD '…'`,
/// `CREATE USER MAPPING … OPTIONS (password '…')`, `COPY … PROGRAM '…'`),
/// which pg_stat_statements keeps verbatim; in any statement, a literal after
/// the word `PASSWORD` and every literal passed to pgcrypto's and dblink's
/// functions; and, inside the remaining literals, what [`redact`] masks
/// (`password=…` in a connection string, a URL's user-info). Comments pass
/// through [`redact`] too. A text cut short inside a literal is masked to its
/// end. Statements without any of these are returned unchanged.
pub fn redact_statement(text: &str) -> Cow<'_, str> {
    use crate::sql::{tokens, Kind};
    let toks = tokens(text);
    // (span to replace, replacement)
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut mask_all = false; // inside a utility statement
    let mut at_start = true;
    let mut after_password = false;
    let mut secret_depth: Option<usize> = None; // paren depth of a secret call
    let mut depth = 0usize;
    let mut prev_secret_fn = false;
    for t in &toks {
        let word = &text[t.span.clone()];
        match t.kind {
            Kind::Comment => {
                if let Cow::Owned(r) = redact(word) {
                    edits.push((t.span.clone(), r));
                }
                continue;
            }
            Kind::Semicolon => {
                at_start = true;
                mask_all = false;
                after_password = false;
                secret_depth = None;
                depth = 0;
                prev_secret_fn = false;
                continue;
            }
            _ => {}
        }
        if at_start {
            at_start = false;
            mask_all =
                t.kind == Kind::Word && !NORMALISED.iter().any(|c| c.eq_ignore_ascii_case(word));
        }
        match t.kind {
            Kind::String => {
                let inner = &text[t.inner.clone()];
                if mask_all || after_password || secret_depth.is_some() {
                    let open = &text[t.span.start..t.inner.start];
                    let close = if t.unterminated {
                        ""
                    } else {
                        &text[t.inner.end..t.span.end]
                    };
                    edits.push((t.span.clone(), format!("{open}{MASK}{close}")));
                } else if let Cow::Owned(r) = redact(inner) {
                    edits.push((t.inner.clone(), r));
                }
            }
            Kind::Open => {
                depth += 1;
                if prev_secret_fn && secret_depth.is_none() {
                    secret_depth = Some(depth);
                }
            }
            Kind::Close => {
                if secret_depth == Some(depth) {
                    secret_depth = None;
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        // `PASSWORD 'x'`, `PASSWORD = 'x'`, `ENCRYPTED PASSWORD 'x'`.
        after_password = match t.kind {
            Kind::Word => word.eq_ignore_ascii_case("password"),
            Kind::Other if word == "=" => after_password,
            _ => false,
        };
        prev_secret_fn = t.kind == Kind::Word
            && SECRET_FUNCTIONS
                .iter()
                .any(|f| f.eq_ignore_ascii_case(word));
    }
    if edits.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (span, with) in edits {
        out.push_str(&text[pos..span.start]);
        out.push_str(&with);
        pos = span.end;
    }
    out.push_str(&text[pos..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{looks_like_statement, redact, redact_statement};

    #[test]
    fn passwords_in_statements_are_masked() {
        let cases = [
            (
                "CREATE ROLE incuser LOGIN PASSWORD 'S3cretPw'",
                "CREATE ROLE incuser LOGIN PASSWORD '***'",
            ),
            (
                "alter user app with encrypted password 'md5abc' valid until 'infinity';",
                "alter user app with encrypted password '***' valid until '***';",
            ),
            (
                "CREATE USER MAPPING FOR app SERVER ho OPTIONS (user 'ho', password 'p;w')",
                "CREATE USER MAPPING FOR app SERVER ho OPTIONS (user '***', password '***')",
            ),
            (
                "SELECT dblink_connect('host=ho dbname=ledger password=hunter2')",
                "SELECT dblink_connect('***')",
            ),
            (
                "SELECT pgp_sym_decrypt(card, 'k3y'), 'ACTIVE' FROM cards WHERE id = 4",
                "SELECT pgp_sym_decrypt(card, '***'), 'ACTIVE' FROM cards WHERE id = 4",
            ),
            (
                "SELECT * FROM users WHERE password = 'x' AND name = 'bob'",
                "SELECT * FROM users WHERE password = '***' AND name = 'bob'",
            ),
            (
                "SELECT 1 FROM t WHERE note = 'see postgres://app:pw@db/x'",
                "SELECT 1 FROM t WHERE note = 'see postgres://app:***@db/x'",
            ),
            // pg_stat_activity cut the text inside the literal.
            (
                "ALTER ROLE app PASSWORD 'S3cr",
                "ALTER ROLE app PASSWORD '***",
            ),
            (
                "DO $$BEGIN EXECUTE 'ALTER ROLE a PASSWORD ''x'''; END$$",
                "DO $$***$$",
            ),
            (
                "/* sidik */ ALTER ROLE a PASSWORD E'it\\'s'; SELECT 'kept'",
                "/* sidik */ ALTER ROLE a PASSWORD E'***'; SELECT 'kept'",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(redact_statement(text), want, "{text}");
        }
    }

    #[test]
    fn statements_without_secrets_are_borrowed() {
        for text in [
            "SELECT order_id, 'ACTIVE' FROM orders WHERE created_at > $1",
            "UPDATE orders SET status = $1 WHERE id = $2",
            "",
        ] {
            assert!(
                matches!(redact_statement(text), std::borrow::Cow::Borrowed(_)),
                "{text}"
            );
        }
    }

    #[test]
    fn only_statements_look_like_statements() {
        assert!(looks_like_statement("  /* x */ alter role a password 'b'"));
        assert!(looks_like_statement(
            "/* a /* nested */ b */\n-- c\nSELECT 1"
        ));
        assert!(!looks_like_statement("/* never closed SELECT"));
        assert!(!looks_like_statement("SELECTED"));
        assert!(!looks_like_statement("set_aside"));
        assert!(looks_like_statement("set search_path = x"));
        assert!(looks_like_statement("SELECT 1"));
        assert!(!looks_like_statement("O'Brien"));
        assert!(!looks_like_statement("ACTIVE"));
        assert!(!looks_like_statement("12345"));
    }

    #[test]
    fn ordinary_words_after_basic_are_kept() {
        assert_eq!(
            redact("invalid basic string, expected '\"'"),
            "invalid basic string, expected '\"'"
        );
        assert_eq!(
            redact("Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: Basic ***"
        );
        assert_eq!(redact("basic dXNlcjpwYXNz"), "basic ***");
    }

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            redact("connect postgres://app:s3cr%40t@db.internal:5432/orders failed"),
            "connect postgres://app:***@db.internal:5432/orders failed"
        );
        assert_eq!(
            redact("postgresql://app:p@ss@db/x"),
            "postgresql://app:***@db/x"
        );
        // A user without a password is left alone.
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
    }

    #[test]
    fn key_value_and_query_passwords_are_masked() {
        assert_eq!(
            redact("host=db user=app password=hunter2 dbname=orders"),
            "host=db user=app password=*** dbname=orders"
        );
        assert_eq!(
            redact("host=db password = 'a b\\' c' dbname=x"),
            "host=db password = *** dbname=x"
        );
        assert_eq!(
            redact("postgres://db/x?sslmode=require&password=hunter2"),
            "postgres://db/x?sslmode=require&password=***"
        );
        assert_eq!(redact("PGPASSWORD=hunter2 psql"), "PGPASSWORD=*** psql");
        assert_eq!(
            redact("Authorization: Bearer eyJhbGciOi.x-y"),
            "Authorization: Bearer ***"
        );
    }

    #[test]
    fn clean_text_is_borrowed() {
        let text = "nothing secret in 2025-01-12 19:05";
        assert!(matches!(redact(text), std::borrow::Cow::Borrowed(_)));
    }
}
