//! Error classification: rules from TOML (the shipped ones, plus the user's),
//! matched in one pass with a `RegexSet`; the first class in priority order
//! that matches wins.

use regex::RegexSet;
use serde::Deserialize;

use crate::record::{Level, Record};

/// The shipped rules.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

/// One class.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Class {
    /// Identifier (`db_pool_exhaustion`).
    pub name: String,
    /// What it means.
    #[serde(default)]
    pub description: String,
    /// Regexes; any one matching assigns the class.
    pub patterns: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    class: Vec<Class>,
}

/// A compiled classifier.
#[derive(Debug, Clone)]
pub struct Classifier {
    classes: Vec<Class>,
    set: RegexSet,
    owner: Vec<usize>,
}

impl Classifier {
    /// The shipped rules, with `user` rules (TOML text) first; a user class
    /// with a shipped name replaces it. `source` names the user file in errors.
    pub fn new(user: Option<(&str, &str)>) -> Result<Classifier, String> {
        Classifier::layered(&[], user)
    }

    /// `inline` classes (`[[logs.rules]]` of incident.toml) first, then the
    /// `user` rules file's, then the shipped ones; the first class of a name
    /// wins, so a class replaces a later one of its name.
    pub fn layered(inline: &[Class], user: Option<(&str, &str)>) -> Result<Classifier, String> {
        let shipped: RulesFile =
            toml::from_str(DEFAULT_RULES).map_err(|e| format!("shipped rules: {e}"))?;
        let mut classes: Vec<Class> = Vec::new();
        for c in inline {
            if classes.iter().any(|x| x.name == c.name) {
                return Err(format!("[[logs.rules]] names class `{}` twice", c.name));
            }
            classes.push(c.clone());
        }
        if let Some((source, text)) = user {
            let u: RulesFile =
                toml::from_str(text).map_err(|e| format!("{source}: {}", e.message().trim()))?;
            for c in u.class {
                if !classes.iter().any(|x: &Class| x.name == c.name) {
                    classes.push(c);
                }
            }
        }
        for c in shipped.class {
            if !classes.iter().any(|x: &Class| x.name == c.name) {
                classes.push(c);
            }
        }
        let mut patterns = Vec::new();
        let mut owner = Vec::new();
        for (i, c) in classes.iter().enumerate() {
            for p in &c.patterns {
                regex::Regex::new(p)
                    .map_err(|e| format!("class {}: pattern {p:?}: {e}", c.name))?;
                patterns.push(p.clone());
                owner.push(i);
            }
        }
        let set = RegexSet::new(&patterns).map_err(|e| e.to_string())?;
        Ok(Classifier {
            classes,
            set,
            owner,
        })
    }

    /// The classes, in priority order.
    pub fn classes(&self) -> &[Class] {
        &self.classes
    }

    /// The class of a record: only warnings, errors and records carrying an
    /// error or a SQLSTATE are classified.
    pub fn classify(&self, r: &Record) -> Option<u16> {
        let relevant =
            r.level.is_some_and(|l| l >= Level::Warn) || r.error.is_some() || r.sqlstate.is_some();
        if !relevant {
            return None;
        }
        let mut text = String::with_capacity(r.message.len() + 64);
        text.push_str(&r.message);
        for extra in [&r.error, &r.detail, &r.sqlstate].into_iter().flatten() {
            text.push(' ');
            text.push_str(extra);
        }
        self.set
            .matches(&text)
            .iter()
            .map(|p| self.owner[p])
            .min()
            .map(|c| c as u16)
    }

    /// The class names, by index.
    pub fn names(&self) -> Vec<String> {
        self.classes.iter().map(|c| c.name.clone()).collect()
    }

    /// The name of class `i`.
    pub fn name(&self, i: u16) -> &str {
        &self.classes[i as usize].name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(level: Level, msg: &str, err: Option<&str>) -> Record {
        Record {
            level: Some(level),
            message: msg.into(),
            error: err.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn causes_win_over_symptoms() {
        let c = Classifier::new(None).unwrap();
        let name = |r: &Record| c.classify(r).map(|i| c.name(i).to_string());
        assert_eq!(
            name(&rec(
                Level::Error,
                "ho push failed",
                Some("pq: sorry, too many clients already")
            ))
            .as_deref(),
            Some("db_pool_exhaustion")
        );
        assert_eq!(
            name(&rec(
                Level::Error,
                "ho push failed",
                Some("context canceled")
            ))
            .as_deref(),
            Some("ho_push_failed")
        );
        assert_eq!(
            name(&rec(
                Level::Error,
                "ho push failed",
                Some("ho: unexpected status 504 Gateway Timeout")
            ))
            .as_deref(),
            Some("ho_push_failed")
        );
        assert_eq!(
            name(&rec(
                Level::Error,
                "payment callback failed",
                Some("unexpected status 502 Bad Gateway")
            ))
            .as_deref(),
            Some("callback_failed")
        );
        assert_eq!(
            name(&rec(
                Level::Error,
                "payment callback failed",
                Some("dial tcp 10.0.0.1:8080: connect: connection refused")
            ))
            .as_deref(),
            Some("callback_failed"),
            "the callback's own words outrank the transport error"
        );
        assert_eq!(
            name(&rec(
                Level::Error,
                "payment callback failed: Post \"http://oo:8080/cb\": dial tcp 10.0.0.1:8080: i/o timeout",
                None
            ))
            .as_deref(),
            Some("callback_failed")
        );
        assert_eq!(
            name(&rec(
                Level::Error,
                "ho push failed",
                Some("context deadline exceeded")
            ))
            .as_deref(),
            Some("timeout"),
            "a failed push is classed by the error inside it"
        );
        assert_eq!(
            name(&rec(
                Level::Error,
                "upstream call failed",
                Some("dial tcp 10.0.0.1:8080: connect: connection refused")
            ))
            .as_deref(),
            Some("connection_refused")
        );
        assert_eq!(
            name(&rec(
                Level::Error,
                "charge request failed",
                Some("upg: circuit breaker is open")
            ))
            .as_deref(),
            Some("circuit_breaker_open")
        );
        assert_eq!(
            name(&rec(
                Level::Error,
                "x",
                Some("context deadline exceeded (Client.Timeout exceeded while awaiting headers)")
            ))
            .as_deref(),
            Some("timeout")
        );
        assert_eq!(
            name(&rec(Level::Error, "deadlock detected", None)).as_deref(),
            Some("deadlock")
        );
        assert_eq!(name(&rec(Level::Info, "callback delivered", None)), None);
        assert_eq!(
            name(&rec(Level::Warn, "payment callback processed twice", None)),
            None
        );
        let mut r = rec(
            Level::Error,
            "canceling statement due to statement timeout",
            None,
        );
        r.sqlstate = Some("57014".into());
        assert_eq!(name(&r).as_deref(), Some("statement_timeout"));
    }

    #[test]
    fn user_rules_come_first_and_override() {
        let user = "[[class]]\nname = \"payment_declined\"\npatterns = ['(?i)declined']\n\n[[class]]\nname = \"timeout\"\npatterns = ['(?i)took too long']\n";
        let c = Classifier::new(Some(("rules.toml", user))).unwrap();
        assert_eq!(c.classes()[0].name, "payment_declined");
        let r = rec(Level::Warn, "charge declined", None);
        assert_eq!(c.name(c.classify(&r).unwrap()), "payment_declined");
        let r = rec(Level::Error, "it took too long", None);
        assert_eq!(c.name(c.classify(&r).unwrap()), "timeout");
        let r = rec(Level::Error, "context deadline exceeded", None);
        assert_eq!(
            c.classify(&r),
            None,
            "the user's timeout class replaced the shipped one"
        );
        let err = Classifier::new(Some((
            "rules.toml",
            "[[class]]\nname = \"x\"\npatterns = ['(']\n",
        )))
        .unwrap_err();
        assert!(err.contains("class x"), "{err}");
    }

    #[test]
    fn incident_rules_come_before_the_file_and_the_shipped_ones() {
        let inline = vec![Class {
            name: "timeout".into(),
            description: String::new(),
            patterns: vec!["(?i)gave up".into()],
        }];
        let file = "[[class]]\nname = \"timeout\"\npatterns = ['(?i)took too long']\n\n[[class]]\nname = \"declined\"\npatterns = ['(?i)declined']\n";
        let c = Classifier::layered(&inline, Some(("rules.toml", file))).unwrap();
        let names = c.names();
        assert_eq!(&names[..2], ["timeout", "declined"]);
        let class = |m: &str| {
            c.classify(&rec(Level::Error, m, None))
                .map(|i| c.name(i).to_string())
        };
        assert_eq!(class("client gave up").as_deref(), Some("timeout"));
        assert_eq!(
            class("it took too long"),
            None,
            "the file's timeout is replaced"
        );
        assert_eq!(
            class("context deadline exceeded"),
            None,
            "so is the shipped one"
        );
        assert_eq!(class("card declined").as_deref(), Some("declined"));
        let twice = Classifier::layered(&[inline[0].clone(), inline[0].clone()], None).unwrap_err();
        assert!(twice.contains("names class `timeout` twice"), "{twice}");
    }
}
