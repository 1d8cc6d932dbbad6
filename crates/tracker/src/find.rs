//! Finding a section or a task by the words a playbook uses for it.
//!
//! Texts are compared folded (see [`crate::text::fold`]): case, emoji,
//! markup and mojibake do not matter. An exact folded match wins; otherwise a
//! unique match that contains the query. No match or several: an error that
//! lists the closest candidates with their lines.

use crate::doc::Tracker;
use crate::text::fold;
use crate::{Candidate, TrackerError};

fn similarity(a: &str, b: &str) -> f64 {
    let contains = if b.contains(a) || a.contains(b) {
        0.3
    } else {
        0.0
    };
    strsim::normalized_levenshtein(a, b) + contains
}

fn closest(mut all: Vec<(f64, Candidate)>) -> Vec<Candidate> {
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.line.cmp(&b.1.line)));
    all.into_iter().take(5).map(|(_, c)| c).collect()
}

/// Matches one folded query against folded texts: exact matches, else containing ones.
fn pick<T: Copy>(query: &str, items: &[(T, String)]) -> Vec<T> {
    let exact: Vec<T> = items
        .iter()
        .filter(|(_, f)| f == query)
        .map(|(t, _)| *t)
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    items
        .iter()
        .filter(|(_, f)| !query.is_empty() && f.contains(query))
        .map(|(t, _)| *t)
        .collect()
}

impl Tracker {
    /// Finds the section named by `query`: heading text, or a path of
    /// headings separated by `>` (`Traffic Spike > Phase 1`), each compared
    /// folded and partially.
    pub fn find_section(&self, query: &str) -> Result<usize, TrackerError> {
        let parts: Vec<String> = query
            .split('>')
            .map(fold)
            .filter(|p| !p.is_empty())
            .collect();
        let Some((last, ancestors)) = parts.split_last() else {
            return Err(TrackerError::NoSection {
                query: query.to_string(),
                candidates: Vec::new(),
            });
        };
        let items: Vec<(usize, String)> = (0..self.sections.len())
            .filter(|&i| {
                // Every ancestor part must match some enclosing heading, in order.
                let path = &self.sections[i].path;
                let mut k = 0;
                for p in &path[..path.len() - 1] {
                    if k < ancestors.len() && fold(p).contains(&ancestors[k]) {
                        k += 1;
                    }
                }
                k == ancestors.len()
            })
            .map(|i| (i, self.folded_section(i)))
            .collect();
        let found = pick(last, &items);
        match found.len() {
            1 => Ok(found[0]),
            0 => Err(TrackerError::NoSection {
                query: query.to_string(),
                candidates: closest(
                    (0..self.sections.len())
                        .map(|i| {
                            (
                                similarity(last, &self.folded_section(i)),
                                Candidate {
                                    line: self.sections[i].line,
                                    text: self.sections[i].path.join(" > "),
                                },
                            )
                        })
                        .collect(),
                ),
            }),
            _ => Err(TrackerError::AmbiguousSection {
                query: query.to_string(),
                matches: found
                    .iter()
                    .map(|&i| Candidate {
                        line: self.sections[i].line,
                        text: self.sections[i].path.join(" > "),
                    })
                    .collect(),
            }),
        }
    }

    /// Finds the task whose title matches `query` inside the section named by
    /// `section` (see [`Tracker::find_section`]); `None` searches the whole file.
    pub fn find_task(&self, section: Option<&str>, query: &str) -> Result<usize, TrackerError> {
        let scope: Vec<usize> = match section {
            Some(s) => self.tasks_in(self.find_section(s)?).collect(),
            None => (0..self.tasks.len()).collect(),
        };
        let q = fold(query);
        let items: Vec<(usize, String)> = scope
            .iter()
            .map(|&i| (i, fold(self.tasks[i].title())))
            .collect();
        let found = pick(&q, &items);
        let where_ = section
            .map(|s| format!(" in section \"{s}\""))
            .unwrap_or_default();
        match found.len() {
            1 => Ok(found[0]),
            0 => Err(TrackerError::NoTask {
                query: query.to_string(),
                scope: where_,
                candidates: closest(
                    items
                        .iter()
                        .map(|(i, f)| {
                            (
                                similarity(&q, f),
                                Candidate {
                                    line: self.tasks[*i].line,
                                    text: self.tasks[*i].text.clone(),
                                },
                            )
                        })
                        .collect(),
                ),
            }),
            _ => Err(TrackerError::AmbiguousTask {
                query: query.to_string(),
                scope: where_,
                matches: found
                    .iter()
                    .map(|&i| Candidate {
                        line: self.tasks[i].line,
                        text: self.tasks[i].text.clone(),
                    })
                    .collect(),
            }),
        }
    }
}
