//! A PostgreSQL `log_line_prefix`: turned into a regex, and inferred from
//! the lines it wrote.
//!
//! PostgreSQL ends its prefix with the severity and two spaces (`LOG:  `),
//! so the text before that word on a line is one instance of the prefix.
//! Each instance is turned back into escapes by what its pieces look like
//! (a timestamp with milliseconds is `%m`, one without is `%t`, a number in
//! brackets is `[%p]`, `user=…` is `user=%u`, `name@db` is `%u@%d` …); the
//! prefix that matches the most sample lines wins. Background processes
//! print no user or database, so where one prefix is another with more at
//! its end, the longer is made optional with `%q`, as Debian's `%m [%p]
//! %q%u@%d ` does.

use std::sync::LazyLock;

use regex::Regex;

/// The severities PostgreSQL writes before its two spaces.
static SEVERITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|[\s\]:])(DEBUG[1-5]|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC|DETAIL|HINT|CONTEXT|STATEMENT|QUERY|LOCATION):  ",
    )
    .unwrap()
});

/// A piece of a prefix instance and the escapes it stands for.
static PIECES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // %m: milliseconds, then a zone name or offset.
        (
            r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+(?: [A-Za-z][A-Za-z0-9+:\-]*|[+\-]\d\d(?::?\d\d)?)?",
            "%m",
        ),
        // %t: whole seconds.
        (
            r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: [A-Za-z][A-Za-z0-9+:\-]*|[+\-]\d\d(?::?\d\d)?)?",
            "%t",
        ),
        // %n: epoch seconds with milliseconds.
        (r"^\d{9,11}\.\d{3}", "%n"),
        (r"^\[\d+-\d+\]", "[%l-1]"),
        (r"^\[\d+\]", "[%p]"),
        (r"^(?:user|usr)=[^,\s]*", ""),
        (r"^(?:db|database)=[^,\s]*", ""),
        (r"^(?:app|application)=[^,\s]*", ""),
        (r"^(?:client|host|remote)=[^,\s]*", ""),
        (r"^[A-Za-z0-9_\-\[\]]*@[A-Za-z0-9_\-\[\]]*", "%u@%d"),
    ]
    .into_iter()
    .map(|(re, esc)| (Regex::new(re).unwrap(), esc))
    .collect()
});

/// The escape for a `key=value` piece, keeping the key as written.
fn keyed(piece: &str) -> String {
    let (key, _) = piece.split_once('=').unwrap_or((piece, ""));
    let esc = match key {
        "user" | "usr" => "%u",
        "db" | "database" => "%d",
        "app" | "application" => "%a",
        _ => "%h",
    };
    format!("{key}={esc}")
}

/// The prefix one line suggests, if it has a PostgreSQL severity.
fn candidate(line: &str) -> Option<String> {
    let m = SEVERITY.captures(line)?;
    let sev = m.get(1)?;
    let mut rest = &line[..sev.start()];
    let mut out = String::new();
    'outer: while !rest.is_empty() {
        for (re, esc) in PIECES.iter() {
            if let Some(p) = re.find(rest) {
                if p.end() == 0 {
                    continue;
                }
                if esc.is_empty() {
                    out.push_str(&keyed(p.as_str()));
                } else {
                    out.push_str(esc);
                }
                rest = &rest[p.end()..];
                continue 'outer;
            }
        }
        let c = rest.chars().next()?;
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

/// The `log_line_prefix` that reads the most of `lines`, and how many it
/// reads; `None` when no line carries a PostgreSQL severity.
pub fn infer(lines: &[String]) -> Option<(String, usize)> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for c in lines.iter().filter_map(|l| candidate(l)) {
        match seen.iter_mut().find(|(p, _)| *p == c) {
            Some((_, n)) => *n += 1,
            None => seen.push((c, 1)),
        }
    }
    // `%m [%p] ` and `%m [%p] %u@%d ` together are one prefix with its end optional.
    let mut tried: Vec<String> = seen.iter().map(|(p, _)| p.clone()).collect();
    for (a, _) in &seen {
        for (b, _) in &seen {
            if b.len() > a.len() && b.starts_with(a.as_str()) && !a.contains("%q") {
                tried.push(format!("{a}%q{}", &b[a.len()..]));
            }
        }
    }
    let mut best: Option<(String, usize)> = None;
    for p in tried {
        let Ok(re) = prefix_regex(&p) else { continue };
        let n = lines.iter().filter(|l| re.is_match(l)).count();
        let better = match &best {
            None => n > 0,
            Some((b, bn)) => n > *bn || (n == *bn && p.len() > b.len()),
        };
        if better {
            best = Some((p, n));
        }
    }
    best
}

/// Turns a `log_line_prefix` into a regex with named groups.
pub fn prefix_regex(prefix: &str) -> Result<Regex, String> {
    let mut re = String::from("^");
    let mut optional_from: Option<usize> = None;
    let mut chars = prefix.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            re.push_str(&regex::escape(&c.to_string()));
            continue;
        }
        let Some(k) = chars.next() else { break };
        let part = match k {
            'm' => r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+(?: [A-Za-z0-9+:\-]+)?)",
            't' => r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: [A-Za-z0-9+:\-]+)?)",
            'n' => r"(?P<epoch>\d+\.\d+)",
            'p' => r"(?P<pid>\d+)",
            'u' => r"(?P<user>[^@\s]*)",
            'd' => r"(?P<db>[^\s,]*)",
            'a' => r"(?P<app>.*?)",
            'h' => r"\S*",
            'r' => r"\S*",
            'e' => r"(?P<sqlstate>[0-9A-Z]{5})",
            'c' => r"\S+",
            'l' => r"\d+",
            's' => r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: [A-Za-z0-9+:\-]+)?",
            'v' => r"\S*",
            'x' => r"\d+",
            'i' => r"\S*",
            'b' => r".*?",
            'Q' => r"-?\d+",
            'L' => r"\S*",
            'q' => {
                optional_from = Some(re.len());
                ""
            }
            '%' => "%",
            other => return Err(format!("log_line_prefix escape %{other} is not supported")),
        };
        re.push_str(part);
    }
    if let Some(at) = optional_from {
        let tail = re.split_off(at);
        re.push_str(&format!("(?:{tail})?"));
    }
    re.push_str(r"(?P<sev>[A-Z0-9]+):  (?P<msg>.*)$");
    Regex::new(&re).map_err(|e| format!("log_line_prefix does not compile: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(ls: &[&str]) -> Vec<String> {
        ls.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn second_precision_prefix_with_keyed_fields() {
        // pgbadger's light.postgres.log.
        let got = infer(&lines(&[
            "2017-09-06 08:40:10 UTC [20]: [1-1] user=,db=,app=,client= LOG:  database system was shut down",
            "2017-09-06 08:41:41 UTC [36]: [121-1] user=postgres,db=postgres,app=pgbench,client=172.23.0.1 LOG:  duration: 2.280 ms  statement: END;",
        ]));
        assert_eq!(
            got,
            Some((
                "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ".to_string(),
                2
            ))
        );
    }

    #[test]
    fn debian_prefix_is_found_with_its_optional_part() {
        let got = infer(&lines(&[
            "2025-01-21 18:32:48.288 CET [77898] LOG:  starting PostgreSQL 17.2",
            "2025-01-21 18:32:49.001 CET [77901] app@shop ERROR:  relation \"x\" does not exist",
            "2025-01-21 18:32:49.002 CET [77901] app@shop STATEMENT:  select * from x",
            "pg_ctl: could not start server",
        ]));
        assert_eq!(got, Some(("%m [%p] %q%u@%d ".to_string(), 3)));
    }

    #[test]
    fn epoch_and_timeless_prefixes() {
        assert_eq!(
            infer(&lines(&[
                "1736683501.123 [42] LOG:  checkpoint starting: time"
            ])),
            Some(("%n [%p] ".to_string(), 1))
        );
        // Cloud SQL writes no time: its entry carries it.
        assert_eq!(
            infer(&lines(&[
                "[24667]: [1-1] db=[unknown],user=[unknown] LOG:  connection received: host=127.0.0.1"
            ])),
            Some(("[%p]: [%l-1] db=%d,user=%u ".to_string(), 1))
        );
    }

    #[test]
    fn lines_without_a_severity_suggest_nothing() {
        assert_eq!(infer(&lines(&["level=info msg=hello", "{\"a\":1}"])), None);
    }
}
