//! `sidik check` for the logs: how many files each `[[sources.logs]]`
//! path matches, and what each file's first lines are read as, with one
//! record as read, so a wrong format shows before an ingest sets every
//! line aside.

use sidik_core::Incident;
use sidik_playbook::tools::matching;

/// The lines `sidik check` prints for the logs, and how many problems they mark (`<-`).
pub fn sources(inc: &Incident) -> (Vec<String>, usize) {
    let f = &inc.file;
    let mut lines = Vec::new();
    let mut problems = 0;
    for src in &f.sources.logs {
        let counts: Vec<usize> = src.paths.iter().map(|p| matching(inc, p).len()).collect();
        let n: usize = counts.iter().sum();
        // Each path is checked: one that matches nothing beside one that
        // matches is a file the ingest would miss.
        let empty: Vec<&String> = src
            .paths
            .iter()
            .zip(&counts)
            .filter(|(_, c)| **c == 0)
            .map(|(p, _)| p)
            .collect();
        problems += empty.len();
        lines.push(format!(
            "  logs      {:<20} {} file(s){}",
            src.service,
            n,
            if empty.is_empty() {
                String::new()
            } else {
                format!(
                    "  <- no file matches {}",
                    empty
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
    }
    // What each file's first lines are read as, with one record as read:
    // a wrong format shows here, before an ingest sets every line aside.
    if let Ok((sources, _)) = crate::incident::sources(inc) {
        for src in &sources {
            for file in &src.files {
                let shown = inc.dir.relative(file);
                match crate::ingest::probe(src, file, 200) {
                    Ok(p) => {
                        let cri = match (p.cri, p.docker) {
                            (true, _) => "cri + ",
                            (_, true) => "docker + ",
                            _ => "",
                        };
                        lines.push(format!(
                            "            {shown}: {cri}{}; first lines: {} read, {} set aside",
                            p.read_as, p.records, p.set_aside
                        ));
                        if let Some(r) = &p.sample {
                            lines
                                .push(format!("              sample: {}", describe_record(r, inc)));
                        }
                        if p.records == 0 || p.set_aside * 100 > (p.records + p.set_aside) {
                            problems += 1;
                            lines.push(format!(
                                "              <- lines set aside, first {}; set `format` (and `line_prefix`) for `{}`",
                                p.first_bad.as_deref().unwrap_or("-"),
                                src.service
                            ));
                        }
                    }
                    Err(e) => {
                        problems += 1;
                        lines.push(format!("            {shown}: <- cannot be read: {e}"));
                    }
                }
            }
        }
    }
    (lines, problems)
}

/// One record as `sidik check` shows it: time, level, message and the ids and numbers read.
pub fn describe_record(r: &crate::record::Record, inc: &Incident) -> String {
    let time = r.time.map_or_else(
        || "(no time)".into(),
        |ms| sidik_core::time::local(ms, inc.tz, sidik_core::time::Shown::MillisZone),
    );
    let mut s = format!(
        "{time} {} {:?}",
        r.level.map_or("(no level)", |l| l.as_str()),
        r.message.chars().take(120).collect::<String>()
    );
    for (k, v) in [
        ("order", &r.order_id),
        ("payment", &r.payment_id),
        ("trace", &r.trace_id),
        ("error", &r.error),
        ("sqlstate", &r.sqlstate),
    ] {
        if let Some(v) = v {
            s.push_str(&format!(" {k}={}", v.chars().take(60).collect::<String>()));
        }
    }
    if let Some(l) = r.latency_ms {
        s.push_str(&format!(" latency={l} ms"));
    }
    if let Some(h) = r.http_status {
        s.push_str(&format!(" http={h}"));
    }
    s
}
