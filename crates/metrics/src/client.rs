//! A client for the Prometheus HTTP API's `query_range`, as Prometheus,
//! VictoriaMetrics, Thanos and Mimir serve it.
//!
//! Long windows are split so that no request asks for more than
//! `max_points` points per series (Prometheus refuses more than 11,000);
//! 5xx answers, 429 and timeouts are retried with a doubling backoff; any
//! other 4xx fails at once with the server's own message.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{MetricsError, Point, Rejected, Shape};

/// The shipped queries, fetched when `[sources.metrics.queries]` is empty:
/// request and error rates, latency, the Go runtime, file descriptors and
/// the `database/sql` pool gauges of client_golang's DB stats collector.
pub const SHIPPED: [(&str, &str); 12] = [
    ("request_rate", "sum by (service, instance) (rate(http_requests_total[1m]))"),
    ("http_5xx_rate", "sum by (service, instance) (rate(http_requests_total{code=~\"5..\"}[1m]))"),
    ("latency_p99_ms", "1000 * histogram_quantile(0.99, sum by (service, instance, le) (rate(http_request_duration_seconds_bucket[5m])))"),
    ("go_goroutines", "go_goroutines"),
    ("go_gc_pause_max_seconds", "go_gc_duration_seconds{quantile=\"1\"}"),
    ("go_memstats_heap_inuse_bytes", "go_memstats_heap_inuse_bytes"),
    ("process_open_fds", "process_open_fds"),
    ("process_max_fds", "process_max_fds"),
    ("db_pool_open", "go_sql_open_connections"),
    ("db_pool_in_use", "go_sql_in_use_connections"),
    ("db_pool_max_open", "go_sql_max_open_connections"),
    ("db_pool_wait_count_rate", "rate(go_sql_wait_count_total[1m])"),
];

/// How to authenticate.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer …`.
    Bearer(String),
    /// Basic authentication.
    Basic(String, String),
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Base URL (`http://127.0.0.1:9090`, or a Thanos/Mimir prefix such as `…/prometheus`).
    pub url: String,
    /// Credentials.
    pub auth: Auth,
    /// Most points per series in one request.
    pub max_points: u32,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Attempts after the first on 5xx, 429 or a timeout.
    pub retries: u32,
    /// First backoff; doubled each retry.
    pub backoff: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            url: String::new(),
            auth: Auth::None,
            max_points: 11_000,
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// What a fetch did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FetchStats {
    /// HTTP requests made (retries included).
    pub requests: u64,
    /// Requests retried.
    pub retried: u64,
    /// Series per query name.
    pub series: BTreeMap<String, u64>,
    /// Points per query name.
    pub points: BTreeMap<String, u64>,
    /// Queries that returned no series: the metric may not exist there.
    pub empty: Vec<String>,
    /// Warnings the server sent.
    pub warnings: Vec<String>,
}

/// A Prometheus-compatible API.
pub struct Client {
    http: reqwest::Client,
    opts: Options,
}

/// The start of each request's window: `[start, end]` cut into pieces of at most
/// `max_points` points at `step`, on the same grid, with no point twice.
pub fn windows(start: i64, end: i64, step: i64, max_points: u32) -> Vec<(i64, i64)> {
    let step = step.max(1);
    let per = (max_points.max(1) as i64) * step;
    let mut out = Vec::new();
    let mut s = start;
    while s <= end {
        let e = (s + per - step).min(end);
        out.push((s, e));
        s = e + step;
    }
    out
}

fn secs(ms: i64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{:.3}", ms as f64 / 1000.0)
    }
}

impl Client {
    /// A client for `opts.url`.
    pub fn new(opts: Options) -> Result<Client, MetricsError> {
        if !(opts.url.starts_with("http://") || opts.url.starts_with("https://")) {
            return Err(MetricsError::Config(format!(
                "metrics URL \"{}\" is not http:// or https://",
                opts.url
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .user_agent(concat!("sidik/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MetricsError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client { http, opts })
    }

    /// One POST with retries; the decoded `data` of a successful answer.
    async fn post(
        &self,
        form: &[(&str, String)],
        stats: &mut FetchStats,
    ) -> Result<serde_json::Value, MetricsError> {
        let url = format!("{}/api/v1/query_range", self.opts.url.trim_end_matches('/'));
        let mut wait = self.opts.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            stats.requests += 1;
            let mut req = self.http.post(&url).form(form);
            req = match &self.opts.auth {
                Auth::None => req,
                Auth::Bearer(t) => req.bearer_auth(t),
                Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
            };
            let retry_reason = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let body = resp.bytes().await.unwrap_or_default();
                    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
                    let message = json
                        .as_ref()
                        .and_then(|j| j.get("error"))
                        .and_then(|e| e.as_str())
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            String::from_utf8_lossy(&body)
                                .trim()
                                .chars()
                                .take(300)
                                .collect()
                        });
                    if status.is_success() {
                        let json = json.ok_or_else(|| MetricsError::Server {
                            url: url.clone(),
                            status: status.as_u16(),
                            message: format!("not JSON: {message}"),
                        })?;
                        if let Some(w) = json.get("warnings").and_then(|w| w.as_array()) {
                            stats
                                .warnings
                                .extend(w.iter().filter_map(|x| x.as_str()).map(str::to_string));
                        }
                        if json.get("status").and_then(|s| s.as_str()) != Some("success") {
                            return Err(MetricsError::Server {
                                url,
                                status: status.as_u16(),
                                message,
                            });
                        }
                        return Ok(json.get("data").cloned().unwrap_or_default());
                    }
                    if status.is_server_error() || status.as_u16() == 429 {
                        format!("{} {message}", status.as_u16())
                    } else {
                        return Err(MetricsError::Server {
                            url,
                            status: status.as_u16(),
                            message,
                        });
                    }
                }
                Err(e) if e.is_timeout() || e.is_connect() || e.is_request() => e.to_string(),
                Err(e) => return Err(MetricsError::Unreachable(format!("{url}: {e}"))),
            };
            if attempt > self.opts.retries {
                return Err(MetricsError::Unreachable(format!(
                    "{url}: gave up after {attempt} attempts; last: {retry_reason}"
                )));
            }
            stats.retried += 1;
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }

    /// Fetches `promql` over `[start, end]` (UTC ms, both included) at `step` ms,
    /// split into requests of at most `max_points` points per series, as frame rows
    /// named `name`.
    #[allow(clippy::too_many_arguments)]
    pub async fn query_range(
        &self,
        name: &str,
        promql: &str,
        start: i64,
        end: i64,
        step: i64,
        shape: &Shape,
        points: &mut Vec<Point>,
        rejected: &mut Vec<Rejected>,
        stats: &mut FetchStats,
    ) -> Result<(), MetricsError> {
        let mut series_keys = std::collections::BTreeSet::new();
        let mut n = 0u64;
        for (s, e) in windows(start, end, step, self.opts.max_points) {
            let form = [
                ("query", promql.to_string()),
                ("start", secs(s)),
                ("end", secs(e)),
                ("step", secs(step)),
            ];
            let data = self.post(&form, stats).await.map_err(|err| match err {
                MetricsError::Server {
                    url,
                    status,
                    message,
                } => MetricsError::Server {
                    url,
                    status,
                    message: format!("query {name} ({promql}): {message}"),
                },
                other => other,
            })?;
            let result = data
                .get("result")
                .and_then(|r| r.as_array())
                .cloned()
                .unwrap_or_default();
            for series in result {
                let labels: Vec<(String, String)> = series
                    .get("metric")
                    .and_then(|m| m.as_object())
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                series_keys.insert(format!("{labels:?}"));
                for v in series
                    .get("values")
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                {
                    let (Some(t), Some(x)) = (
                        v.get(0).and_then(|t| t.as_f64()),
                        v.get(1).and_then(|x| x.as_str()),
                    ) else {
                        rejected.push(Rejected::new(
                            name,
                            0,
                            &format!("a sample that is not [time, \"value\"]: {v}"),
                        ));
                        continue;
                    };
                    let Some(value) = crate::openmetrics::number(x) else {
                        rejected.push(Rejected::new(
                            name,
                            0,
                            &format!("value \"{x}\" is not a number"),
                        ));
                        continue;
                    };
                    points.push(shape.point(name, &labels, (t * 1000.0).round() as i64, value));
                    n += 1;
                }
            }
        }
        if series_keys.is_empty() {
            stats.empty.push(name.to_string());
        }
        stats
            .series
            .insert(name.to_string(), series_keys.len() as u64);
        stats.points.insert(name.to_string(), n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_range_once_within_the_limit() {
        let m = 60_000;
        let w = windows(0, 1439 * m, m, 300);
        assert_eq!(w.len(), 5);
        assert_eq!(w[0], (0, 299 * m));
        assert_eq!(w[1].0, 300 * m);
        assert_eq!(w[4], (1200 * m, 1439 * m));
        for (s, e) in &w {
            assert!((e - s) / m < 300);
        }
        assert_eq!(windows(0, 0, m, 11_000), vec![(0, 0)]);
    }
}

/// What [`incident`] fetched.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// The frame.
    pub frame: crate::Frame,
    /// Requests, series and points per query, empty queries, warnings.
    pub stats: FetchStats,
    /// Samples set aside.
    pub rejected: Vec<Rejected>,
    /// Duplicates and non-finite values.
    pub tally: crate::Tally,
    /// The queries asked, by name.
    pub queries: Vec<(String, String)>,
}

/// Overrides of `[sources.metrics]` from the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Base URL.
    pub url: Option<String>,
    /// Queries by name (replace the configured ones).
    pub queries: Vec<(String, String)>,
    /// Step in ms.
    pub step_ms: Option<i64>,
    /// Most points per request.
    pub max_points: Option<u32>,
    /// First instant, UTC ms (default the window's start).
    pub from: Option<i64>,
    /// First instant after, UTC ms (default the window's end).
    pub to: Option<i64>,
}

/// Fetches the incident's queries over its window (`[from, to)`, half-open: the
/// last point is one step before the end).
pub async fn incident(inc: &sidik_core::Incident, o: &Overrides) -> Result<Fetched, MetricsError> {
    let m = inc.file.sources.metrics.clone().unwrap_or_default();
    let url = o.url.clone().or(m.prometheus_url.clone()).ok_or_else(|| {
        MetricsError::Config(
            "no metrics server: set prometheus_url in [sources.metrics] or pass --url".into(),
        )
    })?;
    let env = |name: &str| {
        std::env::var(name).map_err(|_| {
            MetricsError::Config(format!("${name} (named in [sources.metrics]) is not set"))
        })
    };
    let auth = match (&m.token_env, &m.username, &m.password_env) {
        (Some(t), _, _) => Auth::Bearer(env(t)?),
        (None, Some(u), Some(p)) => Auth::Basic(u.clone(), env(p)?),
        (None, Some(u), None) => Auth::Basic(u.clone(), String::new()),
        _ => Auth::None,
    };
    let mut shape = Shape::of(inc)?;
    if let Some(s) = o.step_ms {
        shape.step_ms = s;
    }
    let timeout = match &m.timeout {
        Some(t) => sidik_core::time::parse_go_duration(t.get_ref())
            .map_err(|e| MetricsError::Config(format!("sources.metrics.timeout: {e}")))?
            .to_std()
            .unwrap_or(Duration::from_secs(30)),
        None => Duration::from_secs(30),
    };
    let client = Client::new(Options {
        url,
        auth,
        max_points: o.max_points.or(m.max_points).unwrap_or(11_000),
        timeout,
        ..Default::default()
    })?;
    let (from, to) = match (o.from, o.to, inc.window) {
        (Some(a), Some(b), _) => (a, b),
        (a, b, Some(w)) => (
            a.unwrap_or(w.start.timestamp_millis()),
            b.unwrap_or(w.end.timestamp_millis()),
        ),
        _ => {
            return Err(MetricsError::Config(
                "no time range: set [incident.window] or pass --from and --to".into(),
            ))
        }
    };
    let step = shape.step_ms;
    let start = from.div_euclid(step) * step;
    let end = (to - 1).div_euclid(step) * step;
    if end < start {
        return Err(MetricsError::Config(
            "the time range is shorter than one step".into(),
        ));
    }
    let queries: Vec<(String, String)> = if !o.queries.is_empty() {
        o.queries.clone()
    } else if !m.queries.is_empty() {
        m.queries.clone().into_iter().collect()
    } else {
        SHIPPED
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let mut out = Fetched {
        queries: queries.clone(),
        ..Default::default()
    };
    let mut points = Vec::new();
    for (name, q) in &queries {
        client
            .query_range(
                name,
                q,
                start,
                end,
                step,
                &shape,
                &mut points,
                &mut out.rejected,
                &mut out.stats,
            )
            .await?;
    }
    out.frame = crate::Frame::build(points, &mut out.tally);
    Ok(out)
}
