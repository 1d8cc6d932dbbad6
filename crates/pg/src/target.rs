//! Which database a command connects to, following libpq's conventions.

use sidik_core::Incident;

/// The connection string, session options and name of a database: `pg`
/// when given, else the incident's database `name` (default the first; its
/// `url_env`, default `DATABASE_URL`, and `search_path`), else the `PG*`
/// variables.
pub fn database_url(
    inc: Option<&Incident>,
    name: Option<&str>,
    pg: Option<&str>,
) -> Result<(String, crate::SessionOptions, String), String> {
    if let Some(u) = pg {
        return Ok((
            u.to_string(),
            crate::SessionOptions::default(),
            "given".to_string(),
        ));
    }
    let db = match inc {
        Some(inc) => {
            let dbs = &inc.file.sources.databases;
            match name {
                Some(n) => Some(
                    dbs.iter()
                        .find(|d| d.name == n)
                        .ok_or_else(|| format!("incident.toml has no database named `{n}`"))?,
                ),
                None => dbs.first(),
            }
        }
        None => None,
    };
    let var = db
        .and_then(|d| d.url_env.clone())
        .unwrap_or_else(|| "DATABASE_URL".into());
    let url = match std::env::var(&var).ok().filter(|v| !v.is_empty()) {
        Some(u) => u,
        None => match crate::from_pg_env() {
            Some(u) => u,
            None => {
                return Err(format!(
                    "no database to connect to: ${var} is not set and neither are PGHOST/PGDATABASE; export the connection string{}, or pass --pg URL",
                    db.map(|d| format!(" of `{}`", d.name)).unwrap_or_default()
                ))
            }
        },
    };
    Ok((
        url,
        crate::SessionOptions {
            search_path: db.and_then(|d| d.search_path.clone()),
            ..Default::default()
        },
        db.map_or("default".to_string(), |d| d.name.clone()),
    ))
}
