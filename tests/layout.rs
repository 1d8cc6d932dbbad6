//! The code's layout rules that a reader would otherwise check by hand: no
//! two modules of a crate import each other, directly or around a circle
//! (a circle means neither can be understood or moved alone).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The modules of one crate (`src/*.rs` but the root) and the sibling
/// modules each one names through `crate::`, tests and comments left out.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
        if p.extension().is_some_and(|x| x == "rs") && stem != "lib" && stem != "main" {
            files.insert(stem, std::fs::read_to_string(&p).unwrap());
        }
    }
    let names: BTreeSet<String> = files.keys().cloned().collect();
    let path = regex::Regex::new(r"crate::(\{[^}]*\}|[a-z_][a-z0-9_]*)").unwrap();
    let word = regex::Regex::new(r"(?:^|[{,\s])([a-z_][a-z0-9_]*)(?:::|\s*[,}]|\s*$)").unwrap();
    files
        .iter()
        .map(|(m, text)| {
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let mut uses = BTreeSet::new();
            for line in code.lines() {
                let line = line.split("//").next().unwrap_or("");
                for c in path.captures_iter(line) {
                    let g = &c[1];
                    let found: Vec<String> = if g.starts_with('{') {
                        word.captures_iter(g.trim_matches(['{', '}']))
                            .map(|w| w[1].to_string())
                            .collect()
                    } else {
                        vec![g.to_string()]
                    };
                    uses.extend(found.into_iter().filter(|n| n != m && names.contains(n)));
                }
            }
            (m.clone(), uses)
        })
        .collect()
}

/// A circle through the graph, when there is one.
fn circle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if !done.insert(n.to_string()) {
            return None;
        }
        path.push(n.to_string());
        for next in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_itself_around_a_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("src")];
    for e in std::fs::read_dir(root.join("crates")).unwrap() {
        dirs.push(e.unwrap().path().join("src"));
    }
    let mut circles = Vec::new();
    for src in dirs {
        let g = module_graph(&src);
        if let Some(c) = circle(&g) {
            circles.push(format!("{}: {}", src.display(), c.join(" → ")));
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_circle_finder_finds_one() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(circle(&g).unwrap(), ["a", "b", "c", "a"]);
}
