//! Apply through the services' own API: each plan step whose decision has a
//! `[[recover.http.endpoint]]` becomes one request (URL and body templates
//! filled from the step), sent with an idempotency key derived from the
//! order, payment, journal line, decision and amount, so a repeat is the
//! same operation to the service and a different operation has a different
//! key (Stripe's rule).
//!
//! Requests go one at a time under a rate limit. A dropped connection, a
//! timeout, 408, 409, 429 and 5xx are retried with exponential backoff, or
//! after the `Retry-After` the service asked for; 401/403 stop apply (the
//! credentials are wrong for every request); another 4xx is the service
//! refusing that one step, which is reported as skipped. Every request and
//! its answer go to the audit; the cursor moves after each step, and after a
//! crash the step in flight is sent again with the same key.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::Digest;
use sidik_core::Incident;

use crate::guards::Guards;
use crate::journal::{self, Entry, Journal, Outcome, State};
use crate::plan::{Decision, Step};
use crate::sql::{Stop, Summary};
use crate::RecoverError;

/// A request template.
#[derive(Debug, Clone)]
pub struct Template {
    /// GET, POST, PUT …
    pub method: reqwest::Method,
    /// URL with `{field}` holes.
    pub url: String,
    /// Body with `{field}` holes (JSON: values are escaped).
    pub body: Option<String>,
}

/// One configured endpoint, its headers resolved from the environment.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The decision it carries out.
    pub decision: Decision,
    /// The request.
    pub request: Template,
    /// The reversing request, when configured.
    pub undo: Option<Template>,
    /// Headers (values already read from the environment; never written anywhere).
    headers: Vec<(String, String)>,
    /// The idempotency key's header.
    pub key_header: String,
}

/// `[recover.http]`, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Most requests per second.
    pub rate: f64,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Attempts per request.
    pub attempts: u32,
    /// The endpoints.
    pub endpoints: Vec<Endpoint>,
}

fn method(s: Option<&str>, what: &str) -> Result<reqwest::Method, RecoverError> {
    let m = s.unwrap_or("POST").to_ascii_uppercase();
    reqwest::Method::from_bytes(m.as_bytes())
        .ok()
        .filter(|m| m.as_str().chars().all(|c| c.is_ascii_uppercase()))
        .ok_or_else(|| {
            RecoverError::Config(format!(
                "incident.toml {what}: method `{m}` is not an HTTP method (POST, PUT, PATCH …)"
            ))
        })
}

/// Fills `${NAME}` from the environment; the error names the variable.
fn env_value(v: &str, header: &str) -> Result<String, RecoverError> {
    let mut out = String::new();
    let mut rest = v;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| {
            RecoverError::Config(format!(
                "incident.toml [[recover.http.endpoint]] header {header}: `${{` without a closing `}}`"
            ))
        })?;
        let name = &after[..end];
        let value = std::env::var(name).map_err(|_| {
            RecoverError::Refused(format!(
                "header {header} needs ${name}, which is not set; export it (tokens are read from the environment, never from files); nothing was sent"
            ))
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Settings {
    /// The endpoints of an incident, their headers read from the environment.
    pub fn for_incident(inc: &Incident) -> Result<Settings, RecoverError> {
        let h = &inc.file.recover.http;
        let mut endpoints = Vec::new();
        for (i, e) in h.endpoint.iter().enumerate() {
            let what = format!("[[recover.http.endpoint]] #{} ({})", i + 1, e.decision);
            let decision: Decision =
                serde_json::from_value(serde_json::Value::String(e.decision.clone())).map_err(
                    |_| {
                        RecoverError::Config(format!(
                            "incident.toml {what}: unknown decision; expected complete, cancel_refund, refund_duplicate, repost or post_refund"
                        ))
                    },
                )?;
            if endpoints.iter().any(|x: &Endpoint| x.decision == decision) {
                return Err(RecoverError::Config(format!(
                    "incident.toml {what}: a second endpoint for `{}`; keep one",
                    e.decision
                )));
            }
            if !e.url.starts_with("http://") && !e.url.starts_with("https://") {
                return Err(RecoverError::Config(format!(
                    "incident.toml {what}: url `{}` must start with http:// or https://",
                    e.url
                )));
            }
            let mut headers = Vec::new();
            for (k, v) in &e.headers {
                headers.push((k.clone(), env_value(v, k)?));
            }
            endpoints.push(Endpoint {
                decision,
                request: Template {
                    method: method(e.method.as_deref(), &what)?,
                    url: e.url.clone(),
                    body: e.body.clone(),
                },
                undo: match &e.undo_url {
                    Some(u) => Some(Template {
                        method: method(e.undo_method.as_deref(), &what)?,
                        url: u.clone(),
                        body: e.undo_body.clone(),
                    }),
                    None => None,
                },
                headers,
                key_header: e
                    .idempotency_header
                    .clone()
                    .unwrap_or_else(|| "Idempotency-Key".into()),
            });
        }
        let dur = |v: &Option<toml::Spanned<String>>, key: &str, d: Duration| {
            match v {
            None => Ok(d),
            Some(s) => sidik_core::time::parse_go_duration(s.get_ref())
                .ok()
                .and_then(|d| d.to_std().ok())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    RecoverError::Config(format!(
                        "incident.toml [recover.http] {key} = \"{}\": expected a Go duration like 10s",
                        s.get_ref()
                    ))
                }),
        }
        };
        let rate = h.rate.unwrap_or(10.0);
        if !(rate > 0.0 && rate <= 10_000.0) {
            return Err(RecoverError::Config(format!(
                "incident.toml [recover.http] rate = {rate}: expected requests per second above 0"
            )));
        }
        Ok(Settings {
            rate,
            timeout: dur(&h.timeout, "timeout", Duration::from_secs(10))?,
            attempts: h.attempts.unwrap_or(8).max(1),
            endpoints,
        })
    }
}

/// The idempotency key of a step: the same step always gets the same key,
/// and any other order, payment, line, decision or amount another one.
pub fn key(s: &Step) -> String {
    let text = format!(
        "sidik-recover|{}|{}|{}|{}|{}",
        s.decision.word(),
        s.order_id,
        s.payment_id.as_deref().unwrap_or(""),
        s.posting_id.as_deref().unwrap_or(""),
        s.amount
    );
    let d = sha2::Sha256::digest(text.as_bytes());
    format!("sidik-{:x}", d)[..38].to_string()
}

fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("a string serialises");
    quoted[1..quoted.len() - 1].to_string()
}

/// Fills `{order_id}`, `{payment_id}`, `{posting_id}`, `{amount}`,
/// `{decision}` and `{key}`; in a body the text values are JSON-escaped, in
/// a URL percent-encoded.
pub fn fill(template: &str, s: &Step, key: &str, body: bool) -> String {
    let enc = |v: &str| {
        if body {
            json_escape(v)
        } else {
            v.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        }
    };
    template
        .replace("{order_id}", &enc(&s.order_id))
        .replace("{payment_id}", &enc(s.payment_id.as_deref().unwrap_or("")))
        .replace("{posting_id}", &enc(s.posting_id.as_deref().unwrap_or("")))
        .replace("{amount}", &s.amount.to_string())
        .replace("{decision}", s.decision.word())
        .replace("{key}", key)
}

/// How one request ended.
enum Sent {
    /// 2xx.
    Accepted {
        status: u16,
        body: String,
        attempts: u32,
    },
    /// A 4xx the service meant for this step.
    Refused { status: u16, body: String },
}

fn excerpt(b: &str) -> String {
    let one: String = b.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = one.chars().take(300).collect();
    sidik_core::redact(&cut).into_owned()
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

struct Sender<'a> {
    client: reqwest::Client,
    settings: &'a Settings,
    guards: &'a Guards,
    next_at: Instant,
    retries: u64,
    waited: Duration,
}

impl<'a> Sender<'a> {
    fn new(settings: &'a Settings, guards: &'a Guards) -> Result<Sender<'a>, RecoverError> {
        Ok(Sender {
            client: client(settings)?,
            settings,
            guards,
            next_at: Instant::now(),
            retries: 0,
            waited: Duration::ZERO,
        })
    }

    /// Sends one request until it is accepted or refused, within the attempts and max_wait.
    async fn send(
        &mut self,
        e: &Endpoint,
        t: &Template,
        url: &str,
        body: Option<&str>,
        key: &str,
        stop: &AtomicBool,
    ) -> Result<Result<Sent, Stop>, RecoverError> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(200);
        let mut last = String::new();
        for attempt in 1..=self.settings.attempts {
            let now = Instant::now();
            if self.next_at > now {
                tokio::time::sleep(self.next_at - now).await;
            }
            self.next_at = Instant::now() + Duration::from_secs_f64(1.0 / self.settings.rate);
            let mut rb = self
                .client
                .request(t.method.clone(), url)
                .header(e.key_header.as_str(), key);
            for (k, v) in &e.headers {
                rb = rb.header(k.as_str(), v.as_str());
            }
            if let Some(b) = body {
                rb = rb
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.to_string());
            }
            let wait = match rb.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let after = retry_after(resp.headers());
                    let text = resp.text().await.unwrap_or_default();
                    match status {
                        200..=299 => {
                            return Ok(Ok(Sent::Accepted {
                                status,
                                body: excerpt(&text),
                                attempts: attempt,
                            }))
                        }
                        401 | 403 => {
                            return Err(RecoverError::Http(format!(
                                "{url} refused the credentials ({status}: {}); check the endpoint's headers in incident.toml and the variables they read; the cursor is saved",
                                excerpt(&text)
                            )))
                        }
                        408 | 409 | 425 | 429 | 500..=599 => {
                            last = format!("{status} {}", excerpt(&text));
                            after.unwrap_or(backoff)
                        }
                        _ => {
                            return Ok(Ok(Sent::Refused {
                                status,
                                body: excerpt(&text),
                            }))
                        }
                    }
                }
                Err(err) => {
                    last = format!("{}", sidik_core::redact(&err.to_string()));
                    backoff
                }
            };
            if attempt == self.settings.attempts {
                break;
            }
            if started.elapsed() + wait > self.guards.max_wait {
                return Ok(Err(Stop::Limits(format!(
                    "{url} asked to wait {:.1} s more after {attempt} attempts (last: {last}), past max_wait",
                    wait.as_secs_f64()
                ))));
            }
            self.retries += 1;
            self.waited += wait;
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
            if stop.load(Ordering::SeqCst) {
                return Ok(Err(Stop::Interrupted));
            }
        }
        Ok(Err(Stop::Limits(format!(
            "{url} did not accept the request after {} attempts (last: {last})",
            self.settings.attempts
        ))))
    }
}

/// The client: the request timeout, no redirects (a redirected POST is not
/// the request that was approved), sidik's user agent.
fn client(s: &Settings) -> Result<reqwest::Client, RecoverError> {
    reqwest::Client::builder()
        .timeout(s.timeout)
        .connect_timeout(s.timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sidik/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| RecoverError::Http(format!("cannot build the HTTP client: {e}")))
}

/// Applies the plan's steps through the configured endpoints, from the cursor on.
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    inc: &Incident,
    steps: &[Step],
    digest: &str,
    settings: &Settings,
    g: &Guards,
    restart: bool,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Summary),
) -> Result<Summary, RecoverError> {
    let began = Instant::now();
    let j = Journal::of(inc, "http");
    let mut state = j.resume(digest, restart, "every request carries its idempotency key")?;
    if state.plan != digest || restart {
        state = State::fresh(digest, "http");
    }
    let by: BTreeMap<Decision, &Endpoint> =
        settings.endpoints.iter().map(|e| (e.decision, e)).collect();
    let mut summary = Summary {
        total: steps.len(),
        started_at: state.next,
        ..Summary::default()
    };
    summary.count_not_applicable(&steps[state.next.min(steps.len())..], |d| {
        by.contains_key(&d)
    });
    // The step in flight when the last run ended (the first one with an
    // endpoint at the cursor) may have been answered and audited already.
    if let Some(i) = (state.next..steps.len()).find(|&i| by.contains_key(&steps[i].decision)) {
        if j.audited_request(&key(&steps[i]))? {
            state.next = i + 1;
            j.save(&state)?;
            summary.recovered = Some(format!(
                "the request in flight last time (order {}) had been answered and audited: went on after it",
                steps[i].order_id
            ));
        }
    }
    let who = journal::operator();
    let mut sender = Sender::new(settings, g)?;
    while state.next < steps.len() {
        let i = state.next;
        let s = &steps[i];
        let Some(e) = by.get(&s.decision) else {
            state.next += 1;
            continue;
        };
        if stop.load(Ordering::SeqCst) {
            summary.stopped = Some(Stop::Interrupted);
            break;
        }
        if g.sentinel.exists() {
            summary.stopped = Some(Stop::Sentinel(g.sentinel.display().to_string()));
            break;
        }
        let k = key(s);
        let url = fill(&e.request.url, s, &k, false);
        let body = e.request.body.as_deref().map(|b| fill(b, s, &k, true));
        let sent = sender
            .send(e, &e.request, &url, body.as_deref(), &k, stop)
            .await?;
        let base = Entry {
            at: journal::now(),
            who: who.clone(),
            via: "http".into(),
            xid: None,
            step: i,
            order_id: s.order_id.clone(),
            decision: s.decision.word().into(),
            by: format!("{} {}", e.request.method, e.request.url),
            outcome: Outcome::Changed,
            reason: None,
            table: None,
            key: None,
            id: Some(k.clone()),
            before: Some(serde_json::json!({
                "method": e.request.method.as_str(),
                "url": url,
                "body": body,
                "step": {
                    "order_id": s.order_id,
                    "payment_id": s.payment_id,
                    "posting_id": s.posting_id,
                    "amount": s.amount,
                },
            })),
            after: None,
        };
        let entry = match sent {
            Err(why) => {
                summary.stopped = Some(why);
                break;
            }
            Ok(Sent::Accepted {
                status,
                body,
                attempts,
            }) => {
                *summary.changed.entry(s.decision).or_default() += 1;
                state.changed += 1;
                Entry {
                    after: Some(
                        serde_json::json!({"status": status, "body": body, "attempts": attempts}),
                    ),
                    ..base
                }
            }
            Ok(Sent::Refused { status, body }) => {
                state.skipped += 1;
                let e = Entry {
                    outcome: Outcome::Skipped,
                    reason: Some(format!("refused by the service ({status}): {body}")),
                    after: Some(serde_json::json!({"status": status, "body": body})),
                    ..base
                };
                summary.skipped.push(e.clone());
                e
            }
        };
        j.append(std::slice::from_ref(&entry))?;
        state.next = i + 1;
        state.throttled = sender.retries;
        j.save(&state)?;
        summary.next = state.next;
        summary.batches += 1;
        progress(&summary);
    }
    summary.throttled = sender.retries;
    summary.waited = sender.waited;
    state.waited_s += sender.waited.as_secs_f64();
    state.finish_if_done(steps.len());
    j.save(&state)?;
    summary.next = state.next;
    summary.elapsed = began.elapsed();
    Ok(summary)
}

/// Sends the reversing request of every accepted request, newest first
/// (`sidik recover undo --via http`); requests whose endpoint has no
/// `undo_url` are listed, not guessed.
pub async fn undo(
    inc: &Incident,
    settings: &Settings,
    g: &Guards,
) -> Result<crate::undo::Undone, RecoverError> {
    let j = Journal::of(inc, "http");
    let entries: Vec<Entry> = journal::read_entries(&j.undo)?
        .into_iter()
        .filter(|e| e.via == "http" && e.outcome == Outcome::Changed)
        .rev()
        .collect();
    let mut out = crate::undo::Undone::default();
    let mut sender = Sender::new(settings, g)?;
    let stop = AtomicBool::new(false);
    let mut audit = Vec::new();
    for e in &entries {
        let step_of = |v: &serde_json::Value| -> Option<Step> {
            let s = v.get("step")?;
            Some(Step {
                order_id: s["order_id"].as_str()?.to_string(),
                payment_id: s["payment_id"].as_str().map(str::to_string),
                posting_id: s["posting_id"].as_str().map(str::to_string),
                category: String::new(),
                reason: String::new(),
                decision: serde_json::from_value(serde_json::Value::String(e.decision.clone()))
                    .ok()?,
                amount: s["amount"].as_i64()?,
                why: String::new(),
                source: String::new(),
            })
        };
        let Some(step) = e.before.as_ref().and_then(step_of) else {
            continue;
        };
        let Some(endpoint) = settings
            .endpoints
            .iter()
            .find(|x| x.decision == step.decision)
        else {
            out.changed_since.push((
                "http".into(),
                e.id.clone().unwrap_or_default(),
                e.order_id.clone(),
            ));
            continue;
        };
        let Some(t) = &endpoint.undo else {
            out.changed_since.push((
                "http".into(),
                e.id.clone().unwrap_or_default(),
                e.order_id.clone(),
            ));
            continue;
        };
        let k = format!("undo-{}", e.id.clone().unwrap_or_default());
        let url = fill(&t.url, &step, &k, false);
        let body = t.body.as_deref().map(|b| fill(b, &step, &k, true));
        match sender
            .send(endpoint, t, &url, body.as_deref(), &k, &stop)
            .await?
        {
            Ok(Sent::Accepted { status, body, .. }) => {
                out.restored += 1;
                audit.push(Entry {
                    at: journal::now(),
                    who: format!("{} (undo)", journal::operator()),
                    outcome: Outcome::Restored,
                    id: Some(k),
                    after: Some(serde_json::json!({"status": status, "body": body})),
                    ..e.clone()
                });
            }
            Ok(Sent::Refused { .. }) => out.changed_since.push((
                "http".into(),
                e.id.clone().unwrap_or_default(),
                e.order_id.clone(),
            )),
            Err(stop) => {
                journal::append_audit(&j.audit, &audit)?;
                return Err(RecoverError::Http(stop.describe()));
            }
        }
    }
    journal::append_audit(&j.audit, &audit)?;
    if out.changed_since.is_empty() && !entries.is_empty() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let archived = j
            .undo
            .with_file_name(format!("undo-http-done-{stamp}.jsonl"));
        std::fs::rename(&j.undo, &archived)
            .map_err(|e| RecoverError::Core(sidik_core::Error::io("rename", &j.undo, e)))?;
        let _ = std::fs::remove_file(&j.state);
        out.archived = Some(archived);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(amount: i64) -> Step {
        Step {
            order_id: "ORD \"1\"/x".into(),
            payment_id: Some("PAY-1".into()),
            posting_id: None,
            category: "MISSING_IN_HO".into(),
            reason: String::new(),
            decision: Decision::Repost,
            amount,
            why: String::new(),
            source: String::new(),
        }
    }

    #[test]
    fn one_key_per_operation() {
        assert_eq!(key(&step(100)), key(&step(100)));
        assert_ne!(key(&step(100)), key(&step(101)));
        assert!(key(&step(100)).starts_with("sidik-") && key(&step(100)).len() == 38);
    }

    #[test]
    fn values_are_escaped_where_they_go() {
        let s = step(5);
        let body = fill(
            "{\"o\":\"{order_id}\",\"a\":{amount},\"k\":\"{key}\"}",
            &s,
            "K",
            true,
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["o"], "ORD \"1\"/x");
        assert_eq!(v["a"], 5);
        assert_eq!(v["k"], "K");
        assert_eq!(
            fill("http://h/o/{order_id}", &s, "K", false),
            "http://h/o/ORD%20%221%22%2Fx"
        );
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past");
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
