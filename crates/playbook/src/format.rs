//! The playbook file format and its validation.
//!
//! ```toml
//! [playbook]
//! id = "phase-1-data-collection"
//! title = "Phase 1: Data Collection"
//! section = "Investigation Phases > Phase 1"   # the tracker section it mirrors
//!
//! [[step]]
//! id = "metrics"
//! task = "Collect metrics dari Huawei Cloud (12 Jan full day)"
//! action = "collect.metrics"
//! needs = []
//! when = ["exists:metrics"]
//! retry = { count = 2, delay = "5s" }
//! timeout = "5m"
//! params = { window = "incident" }
//!
//! [[step]]
//! id = "root-cause"
//! task = "Identify root cause dari hypotheses"
//! manual = "Compare the five hypotheses against the evidence …"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::{Problem, Problems};

/// A playbook file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybookFile {
    /// `[playbook]`.
    pub playbook: Header,
    /// `[[step]]`, in order.
    #[serde(default)]
    pub step: Vec<StepSpec>,
}

/// `[playbook]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Identifier, used for journals (`runs/ID-…json`).
    pub id: String,
    /// Human title.
    pub title: String,
    /// The tracker section this playbook mirrors; steps' tasks are looked up in it.
    #[serde(default)]
    pub section: Option<String>,
    /// Phase number, for ordering.
    #[serde(default)]
    pub phase: Option<u32>,
    /// What the playbook is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// `retry = { count = 2, delay = "5s" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Extra attempts after the first.
    pub count: u32,
    /// Go duration between attempts; default 1s.
    #[serde(default)]
    pub delay: Option<String>,
}

/// `[[step]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Identifier, unique in the playbook.
    pub id: Spanned<String>,
    /// Short human title; default the task text or the id.
    #[serde(default)]
    pub title: Option<String>,
    /// The tracker task this step completes.
    #[serde(default)]
    pub task: Option<Spanned<String>>,
    /// Section for this step's task, when not the playbook's.
    #[serde(default)]
    pub section: Option<String>,
    /// The registered action to run.
    #[serde(default)]
    pub action: Option<Spanned<String>>,
    /// Instructions for a manual step (a step without an action).
    #[serde(default)]
    pub manual: Option<String>,
    /// The action's parameters.
    #[serde(default)]
    pub params: Option<Spanned<toml::Table>>,
    /// Steps that must succeed first.
    #[serde(default)]
    pub needs: Vec<Spanned<String>>,
    /// Conditions that must all hold: `succeeded:STEP`, `failed:STEP`,
    /// `exists:PATH`, `missing:PATH`, `env:VAR`.
    #[serde(default)]
    pub when: Vec<Spanned<String>>,
    /// Retries.
    #[serde(default)]
    pub retry: Option<RetrySpec>,
    /// Go duration after which the attempt counts as failed.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Writes to a production system: runs only with `--approve STEP`.
    #[serde(default)]
    pub dangerous: bool,
}

/// A condition of `when`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The step succeeded (in this run or a reused earlier one).
    Succeeded(String),
    /// The step failed.
    Failed(String),
    /// A path (relative to the incident folder) exists.
    Exists(String),
    /// A path does not exist.
    Missing(String),
    /// An environment variable is set and not empty.
    Env(String),
}

impl Condition {
    fn parse(s: &str) -> Result<Condition, String> {
        let (kind, arg) = s
            .split_once(':')
            .ok_or_else(|| format!("condition \"{s}\" has no `kind:`"))?;
        let arg = arg.trim().to_string();
        if arg.is_empty() {
            return Err(format!("condition \"{s}\" names nothing after `{kind}:`"));
        }
        Ok(match kind.trim() {
            "succeeded" => Condition::Succeeded(arg),
            "failed" => Condition::Failed(arg),
            "exists" => Condition::Exists(arg),
            "missing" => Condition::Missing(arg),
            "env" => Condition::Env(arg),
            other => return Err(format!("unknown condition kind `{other}`; use succeeded:, failed:, exists:, missing: or env:")),
        })
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Condition::Succeeded(s) => write!(f, "succeeded:{s}"),
            Condition::Failed(s) => write!(f, "failed:{s}"),
            Condition::Exists(s) => write!(f, "exists:{s}"),
            Condition::Missing(s) => write!(f, "missing:{s}"),
            Condition::Env(s) => write!(f, "env:{s}"),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Runs a registered action with parameters.
    Action {
        /// Action name.
        name: String,
        /// Parameters.
        params: toml::Table,
    },
    /// Shown with instructions; never ticked by sidik.
    Manual {
        /// What a person has to do.
        instructions: String,
    },
}

/// A validated step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Identifier.
    pub id: String,
    /// Title for output.
    pub title: String,
    /// Tracker task it completes.
    pub task: Option<String>,
    /// Section to find the task in.
    pub section: Option<String>,
    /// Action or manual.
    pub kind: Kind,
    /// Steps that must succeed first.
    pub needs: Vec<String>,
    /// Conditions.
    pub when: Vec<Condition>,
    /// Extra attempts.
    pub retries: u32,
    /// Pause between attempts.
    pub retry_delay: Duration,
    /// Limit for one attempt.
    pub timeout: Option<Duration>,
    /// Needs `--approve`.
    pub dangerous: bool,
    /// 1-based line of the step's `id`.
    pub line: usize,
}

/// A validated playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    /// The file it came from.
    pub path: PathBuf,
    /// `[playbook]`.
    pub header: Header,
    /// Steps in file order.
    pub steps: Vec<Step>,
    /// Digest of the step list (ids, actions, parameters, dependencies,
    /// conditions, tasks): a resumed run refuses when it changed.
    pub digest: String,
}

/// What validation needs to know about the registered actions: name → (parameters, required ones).
pub type ActionSpecs = BTreeMap<String, (Vec<&'static str>, Vec<&'static str>)>;

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Playbook {
    /// Reads and validates a playbook file against the registered actions.
    pub fn load(path: &Path, actions: &ActionSpecs) -> Result<Playbook, Problems> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Problems(vec![Problem::new(
                path,
                None,
                format!("cannot read the playbook: {e}"),
            )])
        })?;
        Playbook::parse(&text, path, actions)
    }

    /// Parses and validates playbook text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path, actions: &ActionSpecs) -> Result<Playbook, Problems> {
        let file: PlaybookFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            Problems(vec![Problem::new(
                path,
                line,
                e.message().trim().to_string(),
            )])
        })?;
        let mut problems = Vec::new();
        let mut p = |line: usize, msg: String| problems.push(Problem::new(path, Some(line), msg));
        let mut steps = Vec::new();
        let mut seen = BTreeSet::new();
        for s in &file.step {
            let id = s.id.get_ref().clone();
            let line = line_of(text, s.id.span().start);
            if !seen.insert(id.clone()) {
                p(line, format!("step id `{id}` is used twice"));
            }
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                p(
                    line,
                    format!("step id `{id}` must be letters, digits, `-` and `_`"),
                );
            }
            let kind = match (&s.action, &s.manual) {
                (Some(a), None) => {
                    let name = a.get_ref().clone();
                    let params = s
                        .params
                        .as_ref()
                        .map(|p| p.get_ref().clone())
                        .unwrap_or_default();
                    match actions.get(&name) {
                        None => {
                            let best = actions
                                .keys()
                                .map(|k| (strsim::jaro_winkler(&name, k), k))
                                .max_by(|a, b| a.0.total_cmp(&b.0));
                            let hint = match best {
                                Some((score, k)) if score > 0.8 => format!("; did you mean `{k}`?"),
                                _ => format!(
                                    "; known actions: {}",
                                    actions.keys().cloned().collect::<Vec<_>>().join(", ")
                                ),
                            };
                            p(
                                line_of(text, a.span().start),
                                format!("step `{id}`: unknown action `{name}`{hint}"),
                            );
                        }
                        Some((allowed, required)) => {
                            let pline = s
                                .params
                                .as_ref()
                                .map_or(line, |p| line_of(text, p.span().start));
                            for key in params.keys() {
                                if !allowed.contains(&key.as_str()) {
                                    let kline = text
                                        [s.params.as_ref().map_or(0, |p| p.span().start)..]
                                        .find(key.as_str())
                                        .map_or(pline, |o| {
                                            line_of(
                                                text,
                                                s.params.as_ref().map_or(0, |p| p.span().start) + o,
                                            )
                                        });
                                    p(
                                        kline,
                                        format!(
                                            "step `{id}`: unknown parameter `{key}` for action `{name}`; it takes: {}",
                                            if allowed.is_empty() { "no parameters".to_string() } else { allowed.join(", ") }
                                        ),
                                    );
                                }
                            }
                            for r in required {
                                if !params.contains_key(*r) {
                                    p(
                                        pline,
                                        format!(
                                            "step `{id}`: action `{name}` needs parameter `{r}`"
                                        ),
                                    );
                                }
                            }
                        }
                    }
                    Kind::Action { name, params }
                }
                (None, Some(m)) => {
                    if s.params.is_some() {
                        p(
                            line,
                            format!("step `{id}`: a manual step takes no `params`"),
                        );
                    }
                    Kind::Manual {
                        instructions: m.trim().to_string(),
                    }
                }
                (Some(_), Some(_)) => {
                    p(line, format!("step `{id}` has both `action` and `manual`; a step is one or the other"));
                    Kind::Manual {
                        instructions: String::new(),
                    }
                }
                (None, None) => {
                    p(
                        line,
                        format!("step `{id}` has neither `action` nor `manual` instructions"),
                    );
                    Kind::Manual {
                        instructions: String::new(),
                    }
                }
            };
            let mut when = Vec::new();
            for c in &s.when {
                match Condition::parse(c.get_ref()) {
                    Ok(c) => when.push(c),
                    Err(e) => p(line_of(text, c.span().start), format!("step `{id}`: {e}")),
                }
            }
            let dur = |v: &str| {
                sidik_core::time::parse_go_duration(v)
                    .ok()
                    .and_then(|d| d.to_std().ok())
            };
            let retry_delay = match s.retry.as_ref().and_then(|r| r.delay.as_deref()) {
                None => Duration::from_secs(1),
                Some(d) => dur(d).unwrap_or_else(|| {
                    p(
                        line,
                        format!("step `{id}`: retry delay \"{d}\" is not a duration like 5s or 1m"),
                    );
                    Duration::from_secs(1)
                }),
            };
            let timeout = s.timeout.as_ref().and_then(|t| {
                let d = dur(t.get_ref());
                if d.is_none() {
                    p(
                        line_of(text, t.span().start),
                        format!(
                            "step `{id}`: timeout \"{}\" is not a duration like 30s or 5m",
                            t.get_ref()
                        ),
                    );
                }
                d
            });
            steps.push(Step {
                title: s
                    .title
                    .clone()
                    .or_else(|| s.task.as_ref().map(|t| t.get_ref().clone()))
                    .unwrap_or_else(|| id.clone()),
                id,
                task: s.task.as_ref().map(|t| t.get_ref().clone()),
                section: s.section.clone().or_else(|| file.playbook.section.clone()),
                kind,
                needs: s.needs.iter().map(|n| n.get_ref().clone()).collect(),
                when,
                retries: s.retry.as_ref().map_or(0, |r| r.count),
                retry_delay,
                timeout,
                dangerous: s.dangerous,
                line,
            });
        }
        // Dependencies: known, earlier or later, no cycles.
        let ids: BTreeSet<&str> = steps.iter().map(|s| s.id.as_str()).collect();
        for (spec, s) in file.step.iter().zip(&steps) {
            for n in &spec.needs {
                if !ids.contains(n.get_ref().as_str()) {
                    problems.push(Problem::new(
                        path,
                        Some(line_of(text, n.span().start)),
                        format!("step `{}` needs unknown step `{}`", s.id, n.get_ref()),
                    ));
                }
            }
            for c in &s.when {
                if let Condition::Succeeded(x) | Condition::Failed(x) = c {
                    if !ids.contains(x.as_str()) {
                        problems.push(Problem::new(
                            path,
                            Some(s.line),
                            format!("step `{}`: condition `{c}` names unknown step `{x}`", s.id),
                        ));
                    }
                }
            }
        }
        if let Some(cycle) = find_cycle(&steps) {
            let first = steps
                .iter()
                .find(|s| s.id == cycle[0])
                .map_or(1, |s| s.line);
            problems.push(Problem::new(
                path,
                Some(first),
                format!("dependency cycle: {}", cycle.join(" → ")),
            ));
        }
        if !problems.is_empty() {
            return Err(Problems(problems));
        }
        let digest = digest(&steps);
        Ok(Playbook {
            path: path.to_path_buf(),
            header: file.playbook,
            steps,
            digest,
        })
    }

    /// Steps in an order where every step comes after what it needs (file
    /// order where possible).
    pub fn order(&self) -> Vec<usize> {
        let mut done = vec![false; self.steps.len()];
        let mut out = Vec::new();
        while out.len() < self.steps.len() {
            let before = out.len();
            for (i, s) in self.steps.iter().enumerate() {
                if done[i] {
                    continue;
                }
                let ready = s.needs.iter().all(|n| {
                    self.steps
                        .iter()
                        .position(|x| &x.id == n)
                        .is_none_or(|j| done[j])
                });
                if ready {
                    done[i] = true;
                    out.push(i);
                }
            }
            if out.len() == before {
                break; // cycles were rejected at load
            }
        }
        out
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

fn find_cycle(steps: &[Step]) -> Option<Vec<String>> {
    fn visit(
        i: usize,
        steps: &[Step],
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        state[i] = 1;
        stack.push(i);
        for n in &steps[i].needs {
            let Some(j) = steps.iter().position(|s| &s.id == n) else {
                continue;
            };
            if state[j] == 1 {
                let from = stack.iter().position(|&k| k == j).unwrap_or(0);
                let mut cycle: Vec<String> =
                    stack[from..].iter().map(|&k| steps[k].id.clone()).collect();
                cycle.push(steps[j].id.clone());
                return Some(cycle);
            }
            if state[j] == 0 {
                if let Some(c) = visit(j, steps, state, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        state[i] = 2;
        None
    }
    let mut state = vec![0u8; steps.len()];
    for i in 0..steps.len() {
        if state[i] == 0 {
            if let Some(c) = visit(i, steps, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn digest(steps: &[Step]) -> String {
    let mut h = Sha256::new();
    for s in steps {
        let kind = match &s.kind {
            Kind::Action { name, params } => format!("action:{name}:{params}"),
            Kind::Manual { .. } => "manual".to_string(),
        };
        let when: Vec<String> = s.when.iter().map(|c| c.to_string()).collect();
        h.update(format!(
            "{}\u{1f}{kind}\u{1f}{:?}\u{1f}{:?}\u{1f}{:?}\u{1f}{}\u{1e}",
            s.id, s.needs, when, s.task, s.dangerous
        ));
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
