//! sidik-testpg starts a throwaway PostgreSQL cluster for tests and always
//! stops it again.
//!
//! Tests in sidik run against a real server, never a mock. [`Cluster::start`]
//! runs `initdb` into a temporary folder (as the `postgres` user when the
//! tests run as root, since initdb refuses root), starts it with `pg_ctl` on
//! 127.0.0.1 and a free port, with its socket in the temporary folder and
//! `pg_stat_statements` preloaded. Dropping the [`Cluster`] stops the server
//! (fast, then immediate, then SIGKILL) and removes the folder, so no process
//! is left behind, also when the test panics.
//!
//! Without PostgreSQL binaries, starting fails with a message that says what
//! to install; it never skips silently.

#![deny(missing_docs)]

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The superuser role of every test cluster (trust authentication).
pub const SUPERUSER: &str = "postgres";

/// Options for a test cluster.
#[derive(Debug, Clone)]
pub struct Builder {
    max_connections: u32,
    settings: Vec<(String, String)>,
    files: Vec<(String, Vec<u8>)>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            max_connections: 40,
            settings: Vec::new(),
            files: Vec::new(),
        }
    }
}

impl Builder {
    /// Sets `max_connections` (default 40). `superuser_reserved_connections`
    /// stays 3, so a low value lets a test saturate the server with a few
    /// sessions.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// Adds a `postgresql.conf` setting; `value` is written as given (quote strings yourself).
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_string(), value.to_string()));
        self
    }

    /// Puts a file in the data folder before the server starts, readable by
    /// the server only (mode 0600, as PostgreSQL wants for `ssl_key_file`).
    /// Settings name it relative to the data folder (`ssl_cert_file = 'server.crt'`).
    pub fn file(mut self, name: &str, contents: &[u8]) -> Self {
        self.files.push((name.to_string(), contents.to_vec()));
        self
    }

    /// Creates and starts the cluster.
    pub fn start(self) -> Result<Cluster, String> {
        Cluster::start_with(self)
    }
}

/// A running throwaway PostgreSQL cluster.
#[derive(Debug)]
pub struct Cluster {
    // Declared first so it is dropped last, after `Drop::drop` stopped the server.
    tmp: Option<tempfile::TempDir>,
    bindir: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
    port: u16,
    run_as: Option<String>,
    pid: u32,
    max_connections: u32,
}

impl Cluster {
    /// Starts a cluster with default options.
    pub fn start() -> Result<Cluster, String> {
        Builder::default().start()
    }

    /// Options for a cluster.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn start_with(b: Builder) -> Result<Cluster, String> {
        let bindir = find_bindir()?;
        let run_as = if is_root() {
            Some(unprivileged_user()?)
        } else {
            None
        };
        let tmp = tempfile::Builder::new()
            .prefix("sidik-pg-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary folder for the test cluster: {e}"))?;
        let root = tmp.path().to_path_buf();
        if let Some(user) = &run_as {
            let (uid, gid) = user_ids(user)?;
            std::os::unix::fs::chown(&root, Some(uid), Some(gid))
                .map_err(|e| format!("cannot give {} to user {user}: {e}", root.display()))?;
        }
        let data = root.join("data");
        let socket_dir = root.join("sock");
        let log = root.join("postgresql.log");
        let mut cluster = Cluster {
            tmp: Some(tmp),
            bindir,
            data,
            socket_dir,
            log,
            port: 0,
            run_as,
            pid: 0,
            max_connections: b.max_connections,
        };
        cluster.run_checked(
            "initdb",
            &[
                "-D",
                path_str(&cluster.data),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
        )?;
        cluster.run_checked("mkdir", &["-p", path_str(&cluster.socket_dir)])?;
        for (name, contents) in &b.files {
            use std::os::unix::fs::PermissionsExt;
            let path = cluster.data.join(name);
            fs::write(&path, contents)
                .and_then(|_| fs::set_permissions(&path, fs::Permissions::from_mode(0o600)))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            if let Some(user) = &cluster.run_as {
                let (uid, gid) = user_ids(user)?;
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                    .map_err(|e| format!("cannot give {} to user {user}: {e}", path.display()))?;
            }
        }

        // A port that was free a moment ago may be taken by the time the
        // server binds it; try a few.
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            cluster.write_config(port, &b)?;
            match cluster.run_checked(
                "pg_ctl",
                &[
                    "-D",
                    path_str(&cluster.data),
                    "-l",
                    path_str(&cluster.log),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            ) {
                Ok(_) => {
                    cluster.port = port;
                    cluster.pid = read_postmaster_pid(&cluster.data)?;
                    return Ok(cluster);
                }
                Err(e) => {
                    last_err = format!(
                        "{e}\nserver log:\n{}",
                        fs::read_to_string(&cluster.log).unwrap_or_default()
                    );
                }
            }
        }
        Err(format!("test cluster did not start: {last_err}"))
    }

    fn write_config(&self, port: u16, b: &Builder) -> Result<(), String> {
        let mut conf = format!(
            "\n# sidik test cluster\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             max_connections = {}\nsuperuser_reserved_connections = 3\n\
             shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = all\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 32MB\n\
             logging_collector = off\nlog_line_prefix = '%m [%p] %q%u@%d '\nlog_timezone = 'Asia/Jakarta'\n\
             log_min_duration_statement = 1000\nlog_lock_waits = on\ndeadlock_timeout = 200ms\n",
            self.socket_dir.display(),
            self.max_connections
        );
        for (k, v) in &b.settings {
            conf.push_str(&format!("{k} = {v}\n"));
        }
        // postgresql.auto.conf is read last and overrides earlier lines, so a
        // retry with another port just rewrites it.
        let auto = self.data.join("postgresql.auto.conf");
        fs::write(&auto, conf).map_err(|e| format!("cannot write {}: {e}", auto.display()))
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The server's log file (stderr format, `log_line_prefix = '%m [%p] %q%u@%d '`, WIB times).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The configured `max_connections`.
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// A `postgres://` URL for database `db` as the superuser.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    /// A libpq key/value connection string for database `db`.
    pub fn conninfo(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={SUPERUSER} dbname={db}",
            self.port
        )
    }

    /// Runs `sql` with psql in database `db` and returns its unaligned, tuples-only output.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let port = self.port.to_string();
        let out = Command::new(self.bindir.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
            ])
            .args(["-U", SUPERUSER, "-d", db, "-c", sql])
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "psql failed on `{sql}`: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Stops the server and removes its folder. Dropping the cluster does the same.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.tmp.is_none() {
            return;
        }
        if self.pid != 0 {
            for mode in ["fast", "immediate"] {
                let _ = self.run_checked(
                    "pg_ctl",
                    &[
                        "-D",
                        path_str(&self.data),
                        "-m",
                        mode,
                        "-w",
                        "-t",
                        "20",
                        "stop",
                    ],
                );
                if wait_gone(self.pid, Duration::from_secs(5)) {
                    break;
                }
            }
            if !wait_gone(self.pid, Duration::from_millis(10)) {
                let _ = Command::new("kill")
                    .args(["-9", &self.pid.to_string()])
                    .status();
                wait_gone(self.pid, Duration::from_secs(5));
            }
        }
        if let Some(tmp) = self.tmp.take() {
            let _ = tmp.close();
        }
    }

    fn command(&self, program: &str) -> Command {
        let exe = if program == "mkdir" {
            PathBuf::from("mkdir")
        } else {
            self.bindir.join(program)
        };
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    fn run_checked(&self, program: &str, args: &[&str]) -> Result<Output, String> {
        let mut cmd = self.command(program);
        cmd.args(args).env("LC_ALL", "C").env_remove("PGDATA");
        if let Some(tmp) = &self.tmp {
            // runuser keeps the caller's working folder, which the unprivileged
            // user may not be allowed to enter.
            cmd.current_dir(tmp.path());
        }
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(format!(
                "{program} {} failed ({}): {}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A TCP listener on 127.0.0.1 that accepts connections and never says a
/// word, as a stopped server or a black-holing proxy does; returns its port.
/// It holds what it accepted until the test process ends (a thread parked
/// for five minutes), so the peer never sees the connection close.
pub fn silent_listener() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
    let port = l.local_addr().expect("a bound listener").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().take(32).flatten() {
            held.push(s);
        }
        std::thread::sleep(std::time::Duration::from_secs(300));
    });
    port
}

/// Whether a process with this id is still alive (not a zombie).
pub fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // Field 3, after the parenthesised command name, is the state.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            state != Some("Z") && state != Some("X")
        }
        Err(_) => false,
    }
}

fn wait_gone(pid: u32, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    loop {
        if !process_alive(pid) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_postmaster_pid(data: &Path) -> Result<u32, String> {
    let p = data.join("postmaster.pid");
    let text = fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("{} has no process id on its first line", p.display()))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn unprivileged_user() -> Result<String, String> {
    for user in ["postgres", "nobody"] {
        if user_ids(user).is_ok() {
            return Ok(user.to_string());
        }
    }
    Err("the tests run as root and initdb refuses root, but there is no `postgres` user to run it as; \
         install PostgreSQL from Debian's packages (apt-get install -y postgresql), which creates it"
        .into())
}

fn user_ids(user: &str) -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, user])
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        if !out.status.success() {
            return Err(format!("no user {user}"));
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| format!("unexpected output of id {flag} {user}"))
    };
    Ok((id("-u")?, id("-g")?))
}

fn free_port() -> Result<u16, String> {
    let l =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Finds the PostgreSQL server binaries (a folder with `initdb`, `pg_ctl` and `postgres`).
///
/// Looks in `$SIDIK_PG_BINDIR`, `pg_config --bindir`, the newest
/// `/usr/lib/postgresql/*/bin`, then `PATH`.
pub fn find_bindir() -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("SIDIK_PG_BINDIR") {
        candidates.push(PathBuf::from(d));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev().map(|(_, p)| p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    first_complete(candidates)
}

/// The first folder holding `initdb`, `pg_ctl` and `postgres`, or an error saying what to install.
fn first_complete(candidates: Vec<PathBuf>) -> Result<PathBuf, String> {
    let complete = |d: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| d.join(b).is_file())
    };
    candidates.into_iter().find(|d| complete(d)).ok_or_else(|| {
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in $SIDIK_PG_BINDIR, \
         `pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH. The tests need a real server: \
         install it with `sudo apt-get install -y postgresql` (Debian/Ubuntu) or point \
         SIDIK_PG_BINDIR at the folder holding initdb."
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_say_what_to_install() {
        let empty = tempfile::tempdir().unwrap();
        let only_initdb = tempfile::tempdir().unwrap();
        fs::write(only_initdb.path().join("initdb"), "").unwrap();
        let err = first_complete(vec![empty.path().into(), only_initdb.path().into()]).unwrap_err();
        assert!(err.contains("apt-get install -y postgresql"), "{err}");
        assert!(err.contains("SIDIK_PG_BINDIR"), "{err}");
    }

    #[test]
    fn the_machine_has_server_binaries() {
        let dir = find_bindir().expect("PostgreSQL server binaries");
        assert!(dir.join("initdb").is_file());
    }
}
