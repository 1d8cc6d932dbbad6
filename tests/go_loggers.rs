//! Logs the real Go libraries wrote, read right. The fixtures in
//! tests/data/go-loggers were written by a Go program kept beside them
//! (`main.go`, built and run by `make.sh` against a throwaway PostgreSQL):
//! real lib/pq, pgx v4 and net/http errors (too many clients, both 53300
//! wordings, a deadlock, a unique violation, a statement timeout, client and
//! header timeouts, a refused connection) logged through zap (production
//! JSON and development console), zap JSON inside docker's json-file
//! wrapper with the ids nested in an object, logrus (JSON and text) and
//! zerolog (RFC 3339 and Unix s, ms and µs times). Each file is read with
//! `format` auto: the logger is named, every line read, the times, order
//! ids, latencies and error classes right. The generator's wordings are
//! checked against the same errors.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::sidik_ok;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/go-loggers")
}

/// (file, what `sidik check` says it is read as, extra source settings).
const FILES: [(&str, &str, &str); 9] = [
    (
        "zap-production.log",
        "json (zap)",
        "fields = { order_id = [\"orderNo\"] }\nunits = { latency = \"s\" }",
    ),
    (
        "zap-development.log",
        "zap-console",
        "fields = { order_id = [\"orderNo\"] }",
    ),
    (
        "docker-zap.log",
        "docker + json (zap)",
        "fields = { order_id = [\"trx.order_id\"] }\nunits = { elapsed = \"s\" }",
    ),
    ("logrus-json.log", "json (logrus JSON)", ""),
    ("logrus-text.log", "logfmt (logrus text)", ""),
    ("zerolog-rfc3339.log", "json (zerolog)", ""),
    ("zerolog-unix.log", "json (zerolog)", ""),
    ("zerolog-unixms.log", "json (zerolog)", ""),
    ("zerolog-unixmicro.log", "json (zerolog)", ""),
];

fn expected() -> Vec<serde_json::Value> {
    common::json(&fixtures().join("expected.json"))
        .as_array()
        .unwrap()
        .clone()
}

/// The class sidik must give each kind of error the Go program provoked.
fn class_of(kind: &str) -> &'static str {
    match kind {
        "too_many_clients" | "too_many_clients_reserved" => "db_pool_exhaustion",
        "deadlock" => "deadlock",
        "unique_violation" => "duplicate_key",
        "statement_timeout" => "statement_timeout",
        // "payment callback failed: … context deadline exceeded (Client.Timeout …)":
        // the callback's own words outrank the timeout inside it.
        "client_timeout" => "callback_failed",
        // "ho push failed: … context deadline exceeded", "… timeout awaiting response headers".
        "context_deadline" | "header_timeout" => "timeout",
        "connection_refused" => "connection_refused",
        k => panic!("no class for {k}"),
    }
}

#[test]
fn every_encoder_and_wrapper_is_read_right() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("logs")).unwrap();
    let mut toml = String::from(
        "[incident]\nid = \"go-loggers\"\ntimezone = \"Asia/Jakarta\"\n[incident.window]\nstart = \"2025-01-12 18:00\"\nend = \"2025-01-12 20:00\"\n",
    );
    for (file, _, extra) in FILES {
        std::fs::copy(fixtures().join(file), d.join("logs").join(file)).unwrap();
        let service = file.trim_end_matches(".log");
        toml.push_str(&format!(
            "\n[[sources.logs]]\nservice = \"{service}\"\npaths = [\"logs/{file}\"]\n{extra}\n"
        ));
    }
    std::fs::write(d.join("incident.toml"), toml).unwrap();
    let events = expected();
    let lines = events.len();
    let ds = d.to_str().unwrap();

    let check = sidik_ok(&["check", "--incident", ds]);
    for (file, read_as, _) in FILES {
        let want = format!("logs/{file}: {read_as}; first lines: {lines} read, 0 set aside");
        assert!(check.contains(&want), "{want}\n{check}");
    }

    sidik_ok(&["logs", "ingest", "--incident", ds]);
    // Classes per service, from the templates.
    let mut r = csv::Reader::from_path(d.join("evidence/logs/patterns.csv")).unwrap();
    let mut got: BTreeMap<(String, String), u64> = BTreeMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        *got.entry((rec[0].to_string(), rec[1].to_string()))
            .or_default() += rec[4].parse::<u64>().unwrap();
    }
    let mut want_classes: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &events {
        if let Some(k) = e["kind"].as_str().filter(|k| !k.is_empty()) {
            *want_classes.entry(class_of(k)).or_default() += 1;
        }
    }
    for (file, _, _) in FILES {
        let service = file.trim_end_matches(".log");
        for (class, n) in &want_classes {
            assert_eq!(
                got.get(&(service.to_string(), class.to_string())),
                Some(n),
                "{service} {class}: {got:?}"
            );
        }
        // The warning no rule knows is a template class of its own.
        assert!(
            got.keys()
                .any(|(s, c)| s == service && c.starts_with("tpl_payment_callback_processed")),
            "{service}: {got:?}"
        );
    }

    // Every order is followed through all nine files, at the right times.
    let mut r = csv::Reader::from_path(d.join("evidence/logs/journeys.csv")).unwrap();
    let journeys: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    let orders: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|e| e["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(journeys.len(), orders.len());
    for j in &journeys {
        assert!(orders.contains(&j[0]), "{j:?}");
        assert_eq!(j[4].split('+').count(), FILES.len(), "{j:?}");
        let per_file = events.iter().filter(|e| e["order_id"] == j[0]).count();
        assert_eq!(
            j[3].parse::<usize>().unwrap(),
            per_file * FILES.len(),
            "{j:?}"
        );
    }
    // The first event is at 19:00:00.000 WIB in every file, the last 250 ms
    // per event later: the clocks of every encoder and wrapper were read.
    let first = journeys.iter().map(|j| j[1].to_string()).min().unwrap();
    let last = journeys.iter().map(|j| j[2].to_string()).max().unwrap();
    assert_eq!(first, "2025-01-12T12:00:00.000Z");
    let span_ms = (lines as i64 - 1) * 250;
    let last_ms = chrono::DateTime::parse_from_rfc3339(&last)
        .unwrap()
        .timestamp_millis()
        - chrono::DateTime::parse_from_rfc3339(&first)
            .unwrap()
            .timestamp_millis();
    assert_eq!(last_ms, span_ms, "{last}");

    // Latencies in each logger's own encoding: the errors took 3,003 ms.
    let mut r = csv::Reader::from_path(d.join("evidence/logs/timeline.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (svc, p99) = (col("service"), col("latency_p99_ms"));
    let mut seen = 0;
    for rec in r.records() {
        let rec = rec.unwrap();
        if rec[p99].is_empty() {
            continue;
        }
        let v: f64 = rec[p99].parse().unwrap();
        assert!((v - 3003.0).abs() < 3003.0 * 0.02, "{} p99 {v}", &rec[svc]);
        seen += 1;
    }
    assert_eq!(seen, FILES.len());
}

/// `host=… user=… database=…` and addresses masked, so wordings compare
/// across machines.
fn mask(s: &str) -> String {
    let re = regex::Regex::new(r"host=\S+ user=\S+ database=\S+").unwrap();
    let s = re.replace_all(s, "host=H user=U database=D");
    let re = regex::Regex::new(r#""http://[^"]+""#).unwrap();
    let s = re.replace_all(&s, "\"URL\"");
    let re = regex::Regex::new(r"\d+\.\d+\.\d+\.\d+:\d+").unwrap();
    re.replace_all(&s, "ADDR").into_owned()
}

#[test]
fn the_generators_wordings_are_what_the_libraries_write() {
    use rand::SeedableRng;
    let real: Vec<String> = expected()
        .iter()
        .filter_map(|e| e["error"].as_str())
        .filter(|e| !e.is_empty())
        .map(mask)
        .collect();
    let mut words = vec![sidik_sample::wording::Words::classic()];
    for seed in 0..200 {
        let mut r = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
        words.push(sidik_sample::wording::Words::draw(&mut r));
    }
    // Wordings of other library versions than Debian 12's, which the Go
    // program cannot provoke here: net/http's cancel path before Go 1.19,
    // gRPC status errors, pgx's connect-timeout wrapper.
    let elsewhere = [
        "net/http: request canceled (Client.Timeout exceeded while awaiting headers)",
        "rpc error: code = DeadlineExceeded desc = context deadline exceeded",
        "timeout: context deadline exceeded",
    ];
    let mut checked = std::collections::BTreeSet::new();
    for w in &words {
        for text in [
            w.too_many_clients,
            w.pg_too_many,
            w.client_timeout,
            w.deadlock,
            w.status_timeout,
        ] {
            if elsewhere.contains(&text) {
                continue;
            }
            let m = mask(text);
            assert!(
                real.iter().any(|r| r.contains(&m)),
                "the generator writes {text:?}, which no library wrote:\n{real:#?}"
            );
            checked.insert(text);
        }
    }
    // Both 53300 wordings from both drivers, both deadlock wordings and the client timeout.
    assert!(checked.len() >= 8, "{checked:#?}");
}
