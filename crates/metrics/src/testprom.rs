//! A throwaway Prometheus server for tests and demos: series backfilled
//! from an OpenMetrics file with `promtool tsdb create-blocks-from
//! openmetrics`, served on 127.0.0.1 at a free port, stopped (and its data
//! removed) when dropped. Needs Debian's `prometheus` package (`prometheus`
//! and `promtool` on the PATH, or `SIDIK_PROMETHEUS_BINDIR`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server.
pub struct TestPrometheus {
    child: Child,
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
}

fn bin(name: &str) -> Result<PathBuf, String> {
    if let Ok(d) = std::env::var("SIDIK_PROMETHEUS_BINDIR") {
        return Ok(Path::new(&d).join(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!("`{name}` not found: install Debian's prometheus package (apt-get install prometheus) or set SIDIK_PROMETHEUS_BINDIR")
        })
}

fn get(port: u16, path: &str) -> Option<u16> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
            .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

impl TestPrometheus {
    /// Backfills `openmetrics` (it must end with `# EOF`; timestamps in seconds) and starts the server.
    pub fn start(openmetrics: &Path) -> Result<TestPrometheus, String> {
        let (prom, tool) = (bin("prometheus")?, bin("promtool")?);
        let dir = tempfile::Builder::new()
            .prefix("sidik-prom-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        let out = Command::new(&tool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(openmetrics)
            .arg(&data)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
        if !out.status.success() {
            return Err(format!(
                "promtool could not backfill {}: {}",
                openmetrics.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1m\n").map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let log =
            std::fs::File::create(dir.path().join("prometheus.log")).map_err(|e| e.to_string())?;
        let child = Command::new(&prom)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", prom.display()))?;
        let mut p = TestPrometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if get(port, "/-/ready") == Some(200) {
                return Ok(p);
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                let log = std::fs::read_to_string(p._dir.path().join("prometheus.log"))
                    .unwrap_or_default();
                return Err(format!("prometheus exited ({status}): {log}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("prometheus did not become ready within 30 s".into())
    }
}

impl Drop for TestPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
