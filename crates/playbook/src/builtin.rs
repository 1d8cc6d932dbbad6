//! The five phase playbooks shipped in the repository's `playbooks/`,
//! built into the binary, and loading playbooks by file or built-in id.

use std::path::Path;

use crate::{Playbook, Registry};

/// The phase playbooks shipped in `playbooks/`, built into the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "playbooks/phase-1-data-collection.toml",
        include_str!("../../../playbooks/phase-1-data-collection.toml"),
    ),
    (
        "playbooks/phase-2-analysis.toml",
        include_str!("../../../playbooks/phase-2-analysis.toml"),
    ),
    (
        "playbooks/phase-3-root-cause.toml",
        include_str!("../../../playbooks/phase-3-root-cause.toml"),
    ),
    (
        "playbooks/phase-4-remediation.toml",
        include_str!("../../../playbooks/phase-4-remediation.toml"),
    ),
    (
        "playbooks/phase-5-prevention-load-testing.toml",
        include_str!("../../../playbooks/phase-5-prevention-load-testing.toml"),
    ),
];

/// Loads playbooks: files, built-in ids, or all built-in ones; sorted by phase.
pub fn load(names: &[String], registry: &Registry) -> Result<Vec<Playbook>, String> {
    let specs = registry.specs();
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let wanted: Vec<(String, Option<&str>)> = if names.is_empty() {
        BUILTIN
            .iter()
            .map(|(p, t)| (p.to_string(), Some(*t)))
            .collect()
    } else {
        names
            .iter()
            .map(|n| {
                let builtin = BUILTIN
                    .iter()
                    .find(|(p, _)| Path::new(p).file_stem().is_some_and(|s| s == n.as_str()));
                match builtin {
                    Some((p, t)) if !Path::new(n).exists() => (p.to_string(), Some(*t)),
                    _ => (n.clone(), None),
                }
            })
            .collect()
    };
    for (name, text) in wanted {
        let parsed = match text {
            Some(t) => Playbook::parse(t, Path::new(&name), &specs),
            None if !Path::new(&name).exists() => {
                let ids: Vec<&str> = BUILTIN
                    .iter()
                    .filter_map(|(p, _)| Path::new(p).file_stem()?.to_str())
                    .collect();
                return Err(format!(
                    "no playbook file {name} and no built-in playbook of that id; built-in: {}",
                    ids.join(", ")
                ));
            }
            None => Playbook::load(Path::new(&name), &specs),
        };
        match parsed {
            Ok(p) => out.push(p),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(format!("invalid playbook:\n{}", problems.join("\n")));
    }
    out.sort_by_key(|p| p.header.phase.unwrap_or(u32::MAX));
    Ok(out)
}
