//! Fetching from a real Prometheus (Debian's package, started on 127.0.0.1
//! by the test and stopped after), loaded with a generated incident's
//! series; and the client's retries and credentials against a plain local
//! HTTP server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use sidik_core::Incident;
use sidik_metrics::client::{self, Auth, Client, FetchStats, Options, Overrides};
use sidik_metrics::testprom::TestPrometheus;
use sidik_metrics::{Frame, Shape};
use sidik_sample::{generate, GenerateOptions, Scenario};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn sample(dir: &std::path::Path) -> Incident {
    generate(&GenerateOptions {
        out: dir.to_path_buf(),
        scenario: Scenario::CallbackFailure,
        orders: 2000,
        seed: 3,
        force: true,
        vary: false,
    })
    .unwrap();
    Incident::load(dir).unwrap()
}

/// The OpenMetrics file read with plain string splitting (not sidik's parser):
/// (metric, instance, unix seconds) → value.
fn generated(path: &std::path::Path) -> std::collections::BTreeMap<(String, String, i64), f64> {
    let mut m = std::collections::BTreeMap::new();
    for l in std::fs::read_to_string(path).unwrap().lines() {
        if l.starts_with('#') {
            continue;
        }
        let (name, rest) = l.split_once('{').unwrap();
        let (labels, rest) = rest.split_once("} ").unwrap();
        let instance = labels
            .split("instance=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let mut it = rest.split(' ');
        let v: f64 = it.next().unwrap().parse().unwrap();
        let t: i64 = it.next().unwrap().parse().unwrap();
        m.insert((name.to_string(), instance.to_string(), t), v);
    }
    m
}

#[test]
fn fetched_series_equal_the_generated_ones_and_the_imported_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let inc = sample(&tmp.path().join("inc"));
    let om = inc.dir.resolve("metrics/metrics.om");
    let prom = TestPrometheus::start(&om).expect("a Prometheus server");
    let rt = rt();

    // The day at one-minute steps, in requests of at most 11,000 points.
    let fetched = rt
        .block_on(client::incident(
            &inc,
            &Overrides {
                url: Some(prom.url.clone()),
                ..Default::default()
            },
        ))
        .unwrap();
    assert!(fetched.rejected.is_empty());
    assert!(fetched.stats.empty.is_empty(), "{:?}", fetched.stats.empty);
    assert_eq!(fetched.stats.requests, 8, "one request per query");

    // Every generated value, fetched back exactly.
    let truth = generated(&om);
    assert_eq!(fetched.frame.points.len(), truth.len());
    for p in &fetched.frame.points {
        let v = truth[&(p.metric.clone(), p.instance.clone(), p.time / 1000)];
        assert_eq!(p.value, v, "{} {} {}", p.metric, p.instance, p.time);
    }

    // Importing the CSV and the OpenMetrics file gives the same frame.
    let imported = sidik_metrics::import::incident(&inc).unwrap();
    assert!(imported.rejected.is_empty(), "{:?}", imported.rejected);
    assert!(
        imported.tally.conflicts.is_empty(),
        "{:?}",
        imported.tally.conflicts
    );
    assert_eq!(imported.frame, fetched.frame);

    // Written and read back: the same frame.
    let out = tmp.path().join("frame");
    imported.frame.write(&out).unwrap();
    assert_eq!(Frame::read(&out).unwrap(), fetched.frame);

    // Split: at most 300 points per request → five requests per query, same frame.
    let split = rt
        .block_on(client::incident(
            &inc,
            &Overrides {
                url: Some(prom.url.clone()),
                max_points: Some(300),
                ..Default::default()
            },
        ))
        .unwrap();
    assert_eq!(split.stats.requests, 8 * 5);
    assert_eq!(split.frame, fetched.frame);

    // A window long enough to need splitting at the server's own limit: 15-second steps
    // over the day are 5,760 points; over three days 17,280, past Prometheus' 11,000.
    let day = inc.window.unwrap();
    let from = day.start.timestamp_millis() - 86_400_000;
    let to = day.end.timestamp_millis() + 86_400_000;
    let fine = rt
        .block_on(client::incident(
            &inc,
            &Overrides {
                url: Some(prom.url.clone()),
                queries: vec![("go_goroutines".into(), "go_goroutines".into())],
                step_ms: Some(15_000),
                from: Some(from),
                to: Some(to),
                ..Default::default()
            },
        ))
        .unwrap();
    assert_eq!(fine.stats.requests, 2);
    // On the minutes the generator wrote, the values are the generated ones.
    let mut on_minutes = 0;
    for p in &fine.frame.points {
        if let Some(v) = truth.get(&(
            "go_goroutines".to_string(),
            p.instance.clone(),
            p.time / 1000,
        )) {
            assert_eq!(p.value, *v);
            on_minutes += 1;
        }
    }
    assert_eq!(on_minutes, 5 * 1440);
}

#[test]
fn server_errors_empty_results_retries_and_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let inc = sample(&tmp.path().join("inc"));
    let prom = TestPrometheus::start(&inc.dir.resolve("metrics/metrics.om")).unwrap();
    let rt = rt();

    // A 4xx carries the server's own message and fails at once.
    let e = rt
        .block_on(client::incident(
            &inc,
            &Overrides {
                url: Some(prom.url.clone()),
                queries: vec![("broken".into(), "sum(rate(go_goroutines[1m]".into())],
                ..Default::default()
            },
        ))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("400") && e.contains("query broken") && e.contains("parse error"),
        "{e}"
    );

    // A metric the server does not have: an empty result, reported by name.
    let f = rt
        .block_on(client::incident(
            &inc,
            &Overrides {
                url: Some(prom.url.clone()),
                queries: vec![("go_threads".into(), "go_threads".into())],
                ..Default::default()
            },
        ))
        .unwrap();
    assert_eq!(f.stats.empty, ["go_threads"]);
    assert!(f.frame.points.is_empty());
    drop(prom);

    // 503 twice, then an answer with NaN and +Inf: retried, the bearer token sent each
    // time, the values kept and counted.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut auth = Vec::new();
        for i in 0..3 {
            let (mut s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("authorization: ") {
                    auth.push(v.trim().to_string());
                }
                if let Some(v) = lower.strip_prefix("content-length: ") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let (status, body) = if i < 2 {
                ("503 Service Unavailable", "overloaded".to_string())
            } else {
                ("200 OK", r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"go_goroutines","service":"upg","instance":"upg-0"},"values":[[1736614800,"NaN"],[1736614860,"+Inf"],[1736614920,"12"]]}]}}"#.to_string())
            };
            write!(s, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        }
        auth
    });
    let c = Client::new(Options {
        url: format!("http://127.0.0.1:{port}"),
        auth: Auth::Bearer("s3cret".into()),
        backoff: std::time::Duration::from_millis(10),
        ..Default::default()
    })
    .unwrap();
    let shape = Shape {
        step_ms: 60_000,
        service_label: "service".into(),
        services: vec!["upg".into()],
    };
    let (mut points, mut rejected, mut stats) = (Vec::new(), Vec::new(), FetchStats::default());
    rt.block_on(c.query_range(
        "go_goroutines",
        "go_goroutines",
        1_736_614_800_000,
        1_736_614_920_000,
        60_000,
        &shape,
        &mut points,
        &mut rejected,
        &mut stats,
    ))
    .unwrap();
    assert_eq!((stats.requests, stats.retried), (3, 2));
    assert_eq!(server.join().unwrap(), ["bearer s3cret"; 3]);
    let mut tally = sidik_metrics::Tally::default();
    let frame = Frame::build(points, &mut tally);
    assert_eq!(frame.points.len(), 3);
    assert!(frame.points[0].value.is_nan() && frame.points[1].value.is_infinite());
    assert_eq!(tally.non_finite["go_goroutines"], 2);
    assert_eq!(frame.points[2].service, "upg");

    // Basic authentication sends the user and password; a 401 fails at once with the
    // server's words, without retries.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut auth = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line.to_ascii_lowercase().starts_with("authorization: ") {
                auth = line["authorization: ".len()..].trim().to_string();
            }
            if line == "\r\n" {
                break;
            }
        }
        let body = r#"{"status":"error","errorType":"unauthorized","error":"wrong password"}"#;
        write!(
            s,
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        auth
    });
    let c = Client::new(Options {
        url: format!("http://127.0.0.1:{port}"),
        auth: Auth::Basic("sre".into(), "pw".into()),
        backoff: std::time::Duration::from_millis(10),
        ..Default::default()
    })
    .unwrap();
    let mut stats = FetchStats::default();
    let e = rt
        .block_on(c.query_range(
            "up",
            "up",
            0,
            60_000,
            60_000,
            &shape,
            &mut Vec::new(),
            &mut Vec::new(),
            &mut stats,
        ))
        .unwrap_err()
        .to_string();
    // "sre:pw" in base64.
    assert_eq!(server.join().unwrap(), "Basic c3JlOnB3");
    assert!(e.contains("401") && e.contains("wrong password"), "{e}");
    assert_eq!(stats.requests, 1);
}
