//! Hypotheses as data: the shipped `hypotheses.toml` (the tracker's five)
//! and any file the user adds, whose hypotheses replace shipped ones with
//! the same id or come after them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::RcaError;

/// The shipped hypotheses, in the tracker's order.
pub const SHIPPED: &str = include_str!("../hypotheses.toml");

/// What a check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Error classes exceeding their background in the logs (`classes`, `services`).
    Errors,
    /// Error templates first seen during the incident (`classes`, `matching`, `services`).
    Templates,
    /// Database connections near the server's limit (`at_least`, default 0.9).
    Connections,
    /// Order journeys whose first broken hop is one of `classes` (`services`, `share`).
    Journeys,
    /// Reconciliation breaks of `categories` (`at_least` rows, default 1).
    Recon,
    /// A goroutine leak in one of `services` (any service when empty).
    Leak,
    /// A service's latency pinned at one value far above its normal level (`services`).
    LatencyPile,
    /// A caller's pinned latency (its timeout) below its callee's latency (`services` are callers).
    CallerTimeout,
    /// Sessions waiting on locks, blocking trees or deadlocks in live PostgreSQL samples.
    PgBlocking,
}

/// Whether a check establishes the hypothesis or shows one of its consequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Evidence of the cause itself: decides supported or contradicted.
    Cause,
    /// A consequence: adds to the score and is reported as a contributing factor.
    Symptom,
}

/// One check of a hypothesis.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Identifier, unique within the hypothesis.
    pub id: String,
    /// What it looks for, in a few words.
    pub says: String,
    /// What it looks at.
    pub kind: Kind,
    /// Cause or symptom.
    pub role: Role,
    /// Weight in the score.
    #[serde(default = "one")]
    pub weight: f64,
    /// Error classes (errors, templates, journeys).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Services to restrict to (empty: all).
    #[serde(default)]
    pub services: Vec<String>,
    /// Substring a template must contain (templates), case-insensitive.
    #[serde(default)]
    pub matching: Option<String>,
    /// Words that claim a template class (`tpl_…`, a warning or error
    /// template no rule claims) for this check when its template contains
    /// one, case-insensitive (errors, templates): the way to see a cause
    /// whose wording no rule knows.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Reconciliation categories (recon).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Threshold: rows (recon), share of slots (connections).
    #[serde(default)]
    pub at_least: Option<f64>,
    /// Share of broken journeys (journeys), default 0.1.
    #[serde(default)]
    pub share: Option<f64>,
}

fn one() -> f64 {
    1.0
}

/// One hypothesis.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hypothesis {
    /// Identifier (`pool-exhaustion`).
    pub id: String,
    /// Its number in the tracker's list.
    pub number: u32,
    /// The tracker's wording.
    pub title: String,
    /// What it would explain, one sentence.
    pub explains: String,
    /// Its checks.
    #[serde(rename = "check")]
    pub checks: Vec<Check>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(rename = "hypothesis", default)]
    hypotheses: Vec<toml::Spanned<Hypothesis>>,
}

/// The hypotheses to score.
#[derive(Debug, Clone)]
pub struct HypothesisSet {
    /// In order: shipped first (replaced in place), then the user's new ones.
    pub hypotheses: Vec<Hypothesis>,
    /// The files they came from.
    pub sources: Vec<String>,
}

impl HypothesisSet {
    /// The shipped hypotheses.
    pub fn shipped() -> HypothesisSet {
        let hypotheses = parse(SHIPPED, Path::new("hypotheses.toml (built in)"))
            .expect("the shipped hypotheses.toml is valid");
        HypothesisSet {
            hypotheses,
            sources: vec!["built in".into()],
        }
    }

    /// Adds the hypotheses of `path`: same id replaces, new id appends.
    pub fn extend_from(&mut self, path: &Path) -> Result<(), RcaError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RcaError::input(path, 0, format!("cannot read: {e}")))?;
        for h in parse(&text, path)? {
            match self.hypotheses.iter_mut().find(|x| x.id == h.id) {
                Some(slot) => *slot = h,
                None => self.hypotheses.push(h),
            }
        }
        self.sources.push(path.display().to_string());
        Ok(())
    }
}

fn line_of(text: &str, offset: usize) -> u64 {
    text[..offset.min(text.len())].matches('\n').count() as u64 + 1
}

/// Parses and validates a hypotheses file.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Hypothesis>, RcaError> {
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| line_of(text, s.start));
        RcaError::input(path, line, e.message().to_string())
    })?;
    let mut out: Vec<Hypothesis> = Vec::new();
    for spanned in file.hypotheses {
        let line = line_of(text, spanned.span().start);
        let h = spanned.into_inner();
        let bad =
            |msg: String| RcaError::input(path, line, format!("hypothesis `{}`: {msg}", h.id));
        if out.iter().any(|o| o.id == h.id) {
            return Err(bad("defined twice".into()));
        }
        if h.checks.is_empty() {
            return Err(bad("has no [[hypothesis.check]]".into()));
        }
        if !h.checks.iter().any(|c| c.role == Role::Cause) {
            return Err(bad(
                "needs at least one check with role = \"cause\"; symptoms alone cannot support it"
                    .into(),
            ));
        }
        for (i, c) in h.checks.iter().enumerate() {
            if h.checks[..i].iter().any(|o| o.id == c.id) {
                return Err(bad(format!("check `{}` is defined twice", c.id)));
            }
            if c.weight.is_nan() || c.weight <= 0.0 {
                return Err(bad(format!("check `{}`: weight must be above 0", c.id)));
            }
            let needs = match c.kind {
                Kind::Errors | Kind::Templates if c.classes.is_empty() && c.keywords.is_empty() => {
                    Some("classes = [\"...\"] or keywords = [\"...\"]")
                }
                Kind::Journeys if c.classes.is_empty() => Some("classes = [\"...\"]"),
                Kind::Recon if c.categories.is_empty() => {
                    Some("categories = [\"MISSING_IN_HO\", ...]")
                }
                _ => None,
            };
            if let Some(n) = needs {
                return Err(bad(format!(
                    "check `{}` of kind {:?} needs {n}",
                    c.id, c.kind
                )));
            }
        }
        out.push(h);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_holds_the_trackers_five() {
        let set = HypothesisSet::shipped();
        let numbers: Vec<u32> = set.hypotheses.iter().map(|h| h.number).collect();
        assert_eq!(numbers, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_user_file_replaces_and_adds() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.toml");
        std::fs::write(
            &p,
            r#"
[[hypothesis]]
id = "circuit-breaker"
number = 3
title = "Breaker, our way"
explains = "x"
[[hypothesis.check]]
id = "open"
says = "open breakers"
kind = "errors"
role = "cause"
classes = ["circuit_breaker_open"]

[[hypothesis]]
id = "broker"
number = 6
title = "Message broker lag"
explains = "y"
[[hypothesis.check]]
id = "broker-errors"
says = "broker errors"
kind = "errors"
role = "cause"
classes = ["broker_error"]
"#,
        )
        .unwrap();
        let mut set = HypothesisSet::shipped();
        set.extend_from(&p).unwrap();
        assert_eq!(set.hypotheses.len(), 6);
        assert_eq!(set.hypotheses[2].title, "Breaker, our way");
        assert_eq!(set.hypotheses[5].id, "broker");
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let text = "[[hypothesis]]\nid = \"x\"\nnumber = 1\ntitle = \"t\"\nexplains = \"e\"\n[[hypothesis.check]]\nid = \"c\"\nsays = \"s\"\nkind = \"errors\"\nrole = \"symptom\"\nclasses = [\"timeout\"]\n";
        let e = parse(text, Path::new("mine.toml")).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "mine.toml:1: hypothesis `x`: needs at least one check with role = \"cause\""
            ),
            "{e}"
        );
        let e = parse(
            &text.replace("kind = \"errors\"", "kind = \"vibes\""),
            Path::new("mine.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("mine.toml:9:") && e.contains("vibes"), "{e}");
    }
}
