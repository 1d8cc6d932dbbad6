//! The database reports in markdown: a snapshot (server, sessions, top
//! statements, the blocking tree, locks, databases) as `sidik pg snapshot`
//! prints it and the `pg.snapshot` step writes it.

use std::fmt::Write as _;

use sidik_core::fmt::{capitalise, count};

/// Sessions, saturation and the blocking tree of a database, as markdown.
pub fn snapshot_markdown(
    snap: &crate::snapshot::Snapshot,
    db: &str,
    dating: &sidik_core::time::Dating,
) -> String {
    let p = &snap.preflight;
    // Evidence taken outside the incident says so on its first line.
    let mut md = if dating.outside() {
        format!("{}\n\n# Database snapshot: {db}\n\n## Findings about the database then, not the incident\n\n", capitalise(&dating.sentence.replace("**", "")))
    } else {
        format!(
            "# Database snapshot: {db}\n\n{}.\n\n## Findings\n\n",
            capitalise(&dating.sentence)
        )
    };
    for f in &snap.findings {
        let _ = writeln!(md, "- **{}**: {}", f.severity, f.text);
    }
    let _ = writeln!(
        md,
        "\n## Server\n\n- PostgreSQL {}.{}, {}\n- max_connections {}, superuser_reserved_connections {}{}: **{} usable slots**\n- sees all sessions: {}\n- pg_stat_statements: {}{}\n",
        p.server_version_num / 10_000,
        // Since PostgreSQL 10 the number is major * 10000 + minor.
        p.server_version_num % 10_000,
        if p.in_recovery { "replica in recovery" } else { "primary" },
        p.max_connections,
        p.superuser_reserved,
        p.reserved.map(|r| format!(", reserved_connections {r}")).unwrap_or_default(),
        p.usable_slots,
        if p.sees_all_sessions { "yes" } else { "no (partial visibility)" },
        p.pg_stat_statements.as_deref().unwrap_or("not installed"),
        match p.pg_stat_statements_preloaded {
            Some(true) => ", preloaded",
            Some(false) => ", not preloaded",
            None => ", preload unknown (the role may not read shared_preload_libraries)",
        },
    );
    let _ = writeln!(md, "## Sessions\n\n{} client sessions besides sidik's ({:.0} % of usable slots with sidik).\n\n| state | sessions |\n|---|---:|", snap.backends.len(), snap.saturation * 100.0);
    for (k, v) in &snap.by_state {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    md.push_str("\n| application | sessions |\n|---|---:|\n");
    for (k, v) in &snap.by_application {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    if let crate::statements::Statements::Top {
        version,
        statements,
    } = &snap.statements
    {
        let _ = writeln!(md, "\n## Top statements (pg_stat_statements {version})\n\n| calls | total ms | mean ms | rows | shared blks read | temp blks written | query |\n|---:|---:|---:|---:|---:|---:|---|");
        for st in statements {
            let _ = writeln!(
                md,
                "| {} | {:.1} | {:.2} | {} | {} | {} | `{}` |",
                count(st.calls),
                st.total_ms,
                st.mean_ms,
                count(st.rows),
                count(st.shared_blks_read),
                count(st.temp_blks_written),
                st.query
                    .as_deref()
                    .unwrap_or("(text not visible)")
                    .replace(['`', '|', '\n'], " ")
            );
        }
    }
    md.push_str("\n## Blocking tree\n\n");
    if snap.tree.is_empty() {
        md.push_str("No session waits for another.\n");
    }
    for n in &snap.tree {
        if let Some(b) = snap.backends.iter().find(|b| b.pid == n.pid) {
            let waits = b
                .waits_for
                .as_ref()
                .map(|w| format!(", waits for {w}"))
                .unwrap_or_default();
            let age = b
                .xact_age_s
                .map(|a| format!(", transaction {a:.0} s"))
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "{}- pid {} {} ({}{waits}{age}): `{}`",
                "  ".repeat(n.depth),
                n.pid,
                b.application,
                b.state,
                b.query.replace('`', "'")
            );
        } else if n.pid == 0 {
            let _ = writeln!(
                md,
                "{}- a prepared transaction (pg_prepared_xacts)",
                "  ".repeat(n.depth)
            );
        }
    }
    if !snap.lock_types.is_empty() {
        md.push_str("\n## Locks by type\n\n| lock type | granted | waiting |\n|---|---:|---:|\n");
        for (t, (g, w)) in &snap.lock_types {
            let _ = writeln!(md, "| {t} | {} | {} |", count(*g), count(*w));
        }
    }
    if !snap.databases.is_empty() {
        md.push_str("\n## Databases (pg_stat_database, since the last reset)\n\n| database | sessions | commits | rollbacks | deadlocks | temp files | temp bytes |\n|---|---:|---:|---:|---:|---:|---:|\n");
        for d in &snap.databases {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                d.datname,
                count(d.numbackends),
                count(d.xact_commit),
                count(d.xact_rollback),
                count(d.deadlocks),
                count(d.temp_files),
                count(d.temp_bytes)
            );
        }
    }
    md
}
