//! Facts about processes: the running one's peak memory, for benchmarks and
//! progress reports, and whether another is alive, for cleaning up after one
//! that was killed, and the async runtime every command and step uses.

/// The process's peak resident memory in MiB (`VmHWM` of `/proc/self/status`);
/// `None` where the kernel does not report it.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Whether a process with id `pid` is running (a zombie counts as gone).
/// Where `/proc` is missing, every process is taken as running, so nothing
/// of another's is ever deleted on a guess.
pub fn alive(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    match std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
        // The state follows the command name in parentheses: `Z` is a zombie.
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(true),
        Err(_) => false,
    }
}

/// The one async runtime builder: a single-threaded runtime for a command's
/// or a step's database and HTTP work (each is a handful of sequential calls).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot start the async runtime: {e}")))
}
