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

static BEARER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=\-]+").unwrap());

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
        out = Cow::Owned(
            BEARER
                .replace_all(&out, format!("${{1}}${{2}}{MASK}"))
                .into_owned(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

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
