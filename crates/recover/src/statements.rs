//! The recovery statements: one SQL file per decision (`queries/recovery/`,
//! or the incident's own folder), each with a header saying which table it
//! changes, that table's key, the plan fields it binds and, for an update,
//! which row it changes so apply can read and lock it first.

use std::path::Path;

use crate::plan::{Decision, Step};
use crate::RecoverError;

/// The shipped statements, for sidik's sample schema.
pub const SHIPPED: [(&str, &str); 3] = [
    (
        "complete.sql",
        include_str!("../../../queries/recovery/complete.sql"),
    ),
    (
        "repost.sql",
        include_str!("../../../queries/recovery/repost.sql"),
    ),
    (
        "post_refund.sql",
        include_str!("../../../queries/recovery/post_refund.sql"),
    ),
];

/// A plan field a statement binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The order.
    OrderId,
    /// The payment.
    PaymentId,
    /// The journal line.
    PostingId,
    /// The rupiah.
    Amount,
}

impl Field {
    fn parse(s: &str) -> Option<Field> {
        Some(match s {
            "order_id" => Field::OrderId,
            "payment_id" => Field::PaymentId,
            "posting_id" => Field::PostingId,
            "amount" => Field::Amount,
            _ => return None,
        })
    }

    /// The step's value of this field (empty when the step has none).
    pub fn of(self, s: &Step) -> String {
        match self {
            Field::OrderId => s.order_id.clone(),
            Field::PaymentId => s.payment_id.clone().unwrap_or_default(),
            Field::PostingId => s.posting_id.clone().unwrap_or_default(),
            Field::Amount => s.amount.to_string(),
        }
    }
}

/// One recovery statement.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Where it was read (`queries/recovery/complete.sql`).
    pub file: String,
    /// `-- name:`.
    pub name: String,
    /// `-- decision:`: the plan decision it carries out.
    pub decision: Decision,
    /// `-- description:`.
    pub description: String,
    /// `-- table:`: the table it changes.
    pub table: String,
    /// `-- key:`: that table's key column, which the statement returns.
    pub key: String,
    /// `-- row:`: the plan field naming the row an update changes.
    pub row: Option<Field>,
    /// `-- param:` lines: `$1`, `$2` … in order.
    pub params: Vec<Field>,
    /// `-- guard:`: what must still hold, in words.
    pub guard: String,
    /// The SQL after the header, without a trailing `;`.
    pub sql: String,
}

fn identifier(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut c = part.chars();
            matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
                && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        })
}

/// Quotes an identifier checked by `identifier` (`app.orders` → `"app"."orders"`).
pub fn quoted(s: &str) -> String {
    s.split('.')
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(".")
}

impl Statement {
    /// Reads a statement file; errors name the file and the line.
    pub fn parse(file: &str, text: &str) -> Result<Statement, RecoverError> {
        let err = |line: usize, m: String| RecoverError::Config(format!("{file}:{line}: {m}"));
        let mut name = None;
        let mut decision = None;
        let mut description = String::new();
        let mut table = None;
        let mut key = None;
        let mut row = None;
        let mut params = Vec::new();
        let mut guard = String::new();
        let mut body = String::new();
        let mut in_header = true;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let header = in_header
                .then(|| line.trim().strip_prefix("--"))
                .flatten()
                .and_then(|rest| rest.split_once(':'))
                .map(|(k, v)| (k.trim(), v.trim()));
            match header {
                Some((k, v)) if !k.contains(' ') => match k {
                    "name" => name = Some(v.to_string()),
                    "description" => description = v.to_string(),
                    "guard" => guard = v.to_string(),
                    "decision" => {
                        decision = Some(
                            serde_json::from_value::<Decision>(serde_json::Value::String(
                                v.to_string(),
                            ))
                            .map_err(|_| {
                                err(n, format!("unknown decision `{v}`; expected one of complete, cancel_refund, refund_duplicate, repost, post_refund"))
                            })?,
                        )
                    }
                    "table" | "key" => {
                        if !identifier(v) {
                            return Err(err(n, format!("`{v}` is not a plain SQL name (letters, digits, _ and a schema dot)")));
                        }
                        if k == "table" {
                            table = Some(v.to_string());
                        } else {
                            key = Some(v.to_string());
                        }
                    }
                    "row" | "param" => {
                        let f = Field::parse(v).ok_or_else(|| {
                            err(n, format!("unknown plan field `{v}`; expected order_id, payment_id, posting_id or amount"))
                        })?;
                        if k == "row" {
                            row = Some(f);
                        } else {
                            params.push(f);
                        }
                    }
                    other => {
                        return Err(err(
                            n,
                            format!("unknown header `{other}`; expected name, decision, description, table, key, row, param or guard"),
                        ))
                    }
                },
                _ if line.trim().is_empty() && in_header => {}
                _ => {
                    in_header = false;
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
        let missing = |what: &str| err(1, format!("the header has no `-- {what}:` line"));
        let name = name.ok_or_else(|| missing("name"))?;
        let decision = decision.ok_or_else(|| missing("decision"))?;
        let table = table.ok_or_else(|| missing("table"))?;
        let key = key.ok_or_else(|| missing("key"))?;
        // sidik's SQL lexer (quotes, dollar quotes, comments) tells where
        // statements end; exactly one, its text without the `;`.
        if sidik_core::sql::tokens(&body)
            .iter()
            .any(|t| t.unterminated)
        {
            return Err(err(
                1,
                "a quote or a comment is never closed; apply runs a statement only when it can tell where it ends".into(),
            ));
        }
        let sql = match sidik_core::sql::statements(&body).as_slice() {
            [] => return Err(err(1, "no SQL after the header".into())),
            [one] => body[one.span.clone()].to_string(),
            _ => {
                return Err(err(
                    1,
                    "more than one statement: a recovery file holds exactly one".into(),
                ))
            }
        };
        if !sql.to_ascii_uppercase().contains("RETURNING") {
            return Err(err(
                1,
                format!("the statement must end with `RETURNING {key}` so apply knows which rows it changed"),
            ));
        }
        let highest = sidik_pg::placeholders(&sql).into_iter().max().unwrap_or(0);
        if highest != params.len() {
            return Err(err(
                1,
                format!(
                    "the SQL uses ${highest} as its highest parameter but the header declares {} `-- param:` lines",
                    params.len()
                ),
            ));
        }
        Ok(Statement {
            file: file.to_string(),
            name,
            decision,
            description,
            table,
            key,
            row,
            params,
            guard,
            sql,
        })
    }

    /// The values it binds for a step.
    pub fn values(&self, s: &Step) -> Vec<String> {
        self.params.iter().map(|f| f.of(s)).collect()
    }
}

/// The statements in force: the incident's folder (`[recover] statements`)
/// first, then the shipped ones for the decisions it does not cover. Two
/// files of one folder for one decision are an error.
pub fn load(folder: Option<&Path>) -> Result<Vec<Statement>, RecoverError> {
    let mut out: Vec<Statement> = Vec::new();
    if let Some(dir) = folder {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            RecoverError::Config(format!(
                "cannot read the recovery statements folder {}: {e}; set [recover] statements to a folder of .sql files",
                dir.display()
            ))
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| RecoverError::Config(format!("cannot read {}: {e}", p.display())))?;
            let st = Statement::parse(&p.display().to_string(), &text)?;
            if let Some(b) = out.iter().find(|b| b.decision == st.decision) {
                return Err(RecoverError::Config(format!(
                    "{} and {} both carry out `{}`; keep one",
                    b.file,
                    st.file,
                    st.decision.word()
                )));
            }
            out.push(st);
        }
    }
    for (f, text) in SHIPPED {
        let st = Statement::parse(&format!("queries/recovery/{f}"), text)?;
        if !out.iter().any(|b| b.decision == st.decision) {
            out.push(st);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_statements_parse() {
        let s = load(None).unwrap();
        assert_eq!(s.len(), 3);
        let complete = s.iter().find(|s| s.decision == Decision::Complete).unwrap();
        assert_eq!(complete.row, Some(Field::OrderId));
        assert_eq!(complete.table, "orders");
        let repost = s.iter().find(|s| s.decision == Decision::Repost).unwrap();
        assert_eq!(
            repost.params,
            vec![Field::OrderId, Field::PaymentId, Field::Amount]
        );
    }

    #[test]
    fn a_bad_header_names_the_line() {
        let e = Statement::parse("x.sql", "-- name: a\n-- decision: fix\nUPDATE t SET a=1")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.sql:2: unknown decision `fix`"), "{e}");
        let e = Statement::parse(
            "x.sql",
            "-- name: a\n-- decision: complete\n-- table: t\n-- key: k\nUPDATE t SET a=1; DELETE FROM t RETURNING k",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("more than one statement"), "{e}");
        let e = Statement::parse(
            "x.sql",
            "-- name: a\n-- decision: complete\n-- table: t\n-- key: k\nUPDATE t SET a=1 WHERE k=$1 RETURNING k",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("declares 0 `-- param:`"), "{e}");
    }
}
