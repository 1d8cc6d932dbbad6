//! `sidik recover apply --via http` against a real HTTP server on
//! 127.0.0.1 that behaves like a flaky HO: it answers 500 and 503, asks for
//! a pause with 429 and Retry-After, resets connections, and sometimes
//! books a line and then drops the connection without answering. Every line
//! must end up posted exactly once (the server counts), with one audit
//! entry per line, also across kill -9 and resume; the token never lands
//! in a file; without --execute nothing is sent.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::sidik_ok;

const TOKEN: &str = "s3cret-ho-token-7f2a";

/// The flaky HO: idempotency keys as Stripe keeps them (a repeat gets the
/// stored answer, a repeat with another body is refused).
#[derive(Default)]
struct Ho {
    received: AtomicUsize,
    /// key → body of the booked line.
    booked: Mutex<HashMap<String, String>>,
    /// Keys in the order they were booked (a key twice would be a double posting).
    bookings: Mutex<Vec<String>>,
    flaky: bool,
}

fn respond(s: &mut TcpStream, status: &str, extra: &str, body: &str) {
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
}

fn handle(ho: &Ho, mut s: TcpStream) {
    let n = ho.received.fetch_add(1, Ordering::SeqCst);
    if ho.flaky && n % 11 == 7 {
        return; // reset before reading a byte
    }
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut headers = HashMap::new();
    let mut line = String::new();
    r.read_line(&mut line).unwrap_or(0);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    let body = String::from_utf8(body).unwrap();
    if headers.get("authorization").map(String::as_str) != Some(&format!("Bearer {TOKEN}")) {
        return respond(&mut s, "401 Unauthorized", "", "{\"error\":\"bad token\"}");
    }
    let Some(key) = headers.get("idempotency-key").cloned() else {
        return respond(&mut s, "400 Bad Request", "", "{\"error\":\"no key\"}");
    };
    if ho.flaky {
        match n % 6 {
            1 => return respond(&mut s, "500 Internal Server Error", "", "{}"),
            3 if n % 25 == 3 => {
                return respond(&mut s, "429 Too Many Requests", "Retry-After: 1\r\n", "{}")
            }
            3 => return respond(&mut s, "503 Service Unavailable", "", "{}"),
            _ => {}
        }
    }
    let mut booked = ho.booked.lock().unwrap();
    match booked.get(&key) {
        Some(b) if *b != body => {
            return respond(
                &mut s,
                "422 Unprocessable Entity",
                "",
                "{\"error\":\"key reused with another body\"}",
            )
        }
        Some(_) => {}
        None => {
            booked.insert(key.clone(), body.clone());
            ho.bookings.lock().unwrap().push(key.clone());
        }
    }
    drop(booked);
    if ho.flaky && n % 6 == 5 {
        return; // booked, but the answer is lost
    }
    respond(&mut s, "201 Created", "", "{\"status\":\"posted\"}");
}

fn serve(flaky: bool) -> (Arc<Ho>, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ho = Arc::new(Ho {
        flaky,
        ..Ho::default()
    });
    let h = ho.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let h = h.clone();
            std::thread::spawn(move || handle(&h, s));
        }
    });
    (ho, port)
}

fn incident(tmp: &Path, port: u16, rate: u32) -> PathBuf {
    let dir = tmp.join("inc");
    let d = dir.to_str().unwrap();
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        d,
        "--scenario",
        "callback-failure",
        "--orders",
        "3000",
        "--seed",
        "21",
    ]);
    let mut toml = std::fs::read_to_string(dir.join("incident.toml")).unwrap();
    toml.push_str(&format!(
        "\n[recover.http]\nrate = {rate}\nattempts = 12\n\n[[recover.http.endpoint]]\ndecision = \"repost\"\nurl = \"http://127.0.0.1:{port}/ho/postings\"\nbody = '{{\"order_id\":\"{{order_id}}\",\"payment_id\":\"{{payment_id}}\",\"amount\":{{amount}}}}'\nheaders = {{ Authorization = \"Bearer ${{HO_TEST_TOKEN}}\" }}\n"
    ));
    std::fs::write(dir.join("incident.toml"), toml).unwrap();
    sidik_ok(&["recover", "plan", "--incident", d]);
    dir
}

fn apply(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sidik"));
    c.args(["recover", "apply", "--via", "http", "--incident"])
        .arg(dir)
        .args(args)
        .env("HO_TEST_TOKEN", TOKEN)
        .env_remove("SIDIK_SAMPLE_DATABASE_URL");
    c
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn reposts(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("evidence/recovery/plan.csv"))
        .unwrap()
        .lines()
        .filter(|l| l.contains(",repost,"))
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

fn accepted(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("evidence/recovery/audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["via"] == "http" && e["outcome"] == "changed")
        .collect()
}

fn files_contain(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
            {
                found.push(p);
            }
        }
    }
    found
}

fn exactly_once(ho: &Ho, dir: &Path) {
    let bookings = ho.bookings.lock().unwrap().clone();
    let mut unique = bookings.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), bookings.len(), "a line was booked twice");
    let steps = reposts(dir);
    assert_eq!(bookings.len(), steps.len(), "every repost booked");
    let audited = accepted(dir);
    assert_eq!(audited.len(), steps.len(), "one audit entry per request");
    let mut keys: Vec<String> = audited
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    assert_eq!(keys, unique, "the audit's keys are the booked ones");
}

#[test]
fn a_flaky_ho_ends_with_every_line_posted_exactly_once() {
    let (ho, port) = serve(true);
    let tmp = tempfile::tempdir().unwrap();
    let dir = incident(tmp.path(), port, 100);

    // Without --execute nothing is sent.
    let dry = ok(apply(&dir, &[]).output().unwrap());
    assert!(dry.contains("Idempotency-Key: sidik-"), "{dry}");
    assert_eq!(ho.received.load(Ordering::SeqCst), 0);

    let out = ok(apply(&dir, &["--execute"]).output().unwrap());
    exactly_once(&ho, &dir);
    let received = ho.received.load(Ordering::SeqCst);
    assert!(
        received > reposts(&dir).len() + 10,
        "the server was not flaky enough: {received} requests\n{out}"
    );
    let report = std::fs::read_to_string(dir.join("reports/recovery-apply.md")).unwrap();
    assert!(report.contains("Through the services' API"), "{report}");
    assert!(
        files_contain(&dir, TOKEN).is_empty(),
        "the token was written to {:?}",
        files_contain(&dir, TOKEN)
    );

    // Applying again sends nothing.
    let before = ho.received.load(Ordering::SeqCst);
    ok(apply(&dir, &["--execute"]).output().unwrap());
    assert_eq!(ho.received.load(Ordering::SeqCst), before);
}

#[test]
fn kill_9_during_http_apply_then_resume_posts_each_line_once() {
    let (ho, port) = serve(true);
    let tmp = tempfile::tempdir().unwrap();
    let dir = incident(tmp.path(), port, 40);
    let mut seed: u64 = 77;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % 500 + 50
    };
    let mut kills = 0;
    let mut finished = false;
    for _ in 0..40 {
        let mut child = apply(&dir, &["--execute"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(next()));
        if let Some(s) = child.try_wait().unwrap() {
            assert!(s.success());
            finished = true;
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    if !finished {
        ok(apply(&dir, &["--execute"]).output().unwrap());
    }
    assert!(kills >= 3, "only {kills} kills");
    exactly_once(&ho, &dir);
}

#[test]
fn a_wrong_token_stops_apply_with_the_reason() {
    let (ho, port) = serve(false);
    let tmp = tempfile::tempdir().unwrap();
    let dir = incident(tmp.path(), port, 100);
    let o = apply(&dir, &["--execute"])
        .env("HO_TEST_TOKEN", "wrong")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("refused the credentials (401"), "{err}");
    assert!(!err.contains("wrong"), "the token was printed: {err}");
    assert_eq!(
        ho.received.load(Ordering::SeqCst),
        1,
        "kept sending after a 401"
    );
    // Without the variable, nothing is sent at all.
    let o = apply(&dir, &["--execute"])
        .env_remove("HO_TEST_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("needs $HO_TEST_TOKEN, which is not set"),
        "{err}"
    );
    assert_eq!(ho.received.load(Ordering::SeqCst), 1);
}
