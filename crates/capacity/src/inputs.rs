//! What phase 5 reads: the per-minute series phases 1–3 left in `evidence/`
//! (through the root-cause analysis' reader), the order journeys that broke,
//! the reconciliation's breaks and stuck orders, and `rca.json`'s primary cause.

use sidik_core::Incident;
use sidik_evidence::logs::JourneyRow;
use sidik_evidence::rca::RcaFile;
use sidik_evidence::time::parse_ms;
use sidik_evidence::Files;
use sidik_rca::evidence::{minute_of, Evidence, Minute};
use sidik_rca::phases::{self, Phases};

use crate::CapacityError;

/// One order whose journey broke.
#[derive(Debug, Clone)]
pub struct Broken {
    /// When, ms.
    pub at: i64,
    /// The service that logged it.
    pub service: String,
    /// Its error class (empty when unclassified).
    pub class: String,
    /// The message, lower-cased.
    pub message: String,
}

/// Everything phase 5 works from.
pub struct Inputs {
    /// The evidence series.
    pub ev: Evidence,
    /// The incident's phases (spike, onset, degradation, recovery).
    pub phases: Phases,
    /// First and last minute covered (the window, else the series' span).
    pub span: (Minute, Minute),
    /// `rca.json`, when phase 3 ran.
    pub rca: Option<RcaFile>,
    /// Broken order journeys (`evidence/logs/journeys.csv`).
    pub broken: Vec<Broken>,
    /// Reconciliation breaks: (category, when HO's posting was due, ms) —
    /// the `due` column, else the charge's time (`at`) for files written
    /// before it existed.
    pub breaks: Vec<(String, i64)>,
    /// Stuck orders: when each should have completed, ms.
    pub stuck: Vec<i64>,
    /// The files read, relative to the incident, for the reports.
    pub read: Vec<String>,
}

impl Inputs {
    /// Reads the incident's evidence; nothing is required, what is absent is
    /// listed in `ev.missing`.
    pub fn load(inc: &Incident) -> Result<Inputs, CapacityError> {
        let ev = Evidence::load(inc).map_err(CapacityError::Rca)?;
        let phases = phases::detect(&ev);
        let span = ev.window.or_else(|| phases::span(&ev)).unwrap_or((0, 0));
        let files = Files::of(&inc.dir);
        let mut read = Vec::new();
        if let Some(l) = &ev.logs {
            read.push(l.source.clone());
        }
        if let Some(m) = &ev.metrics {
            read.push(m.source.clone());
        }
        let rca = if files.rca().is_file() {
            read.push(inc.dir.relative(&files.rca()));
            Some(sidik_evidence::read_json::<RcaFile>(&files.rca())?)
        } else {
            None
        };
        let mut broken = Vec::new();
        let jpath = files.journeys();
        let had = JourneyRow::each(&jpath, |_, row| {
            if row.broke() {
                if let Some(at) = parse_ms(row.broken_at) {
                    broken.push(Broken {
                        at,
                        service: row.broken_service.to_string(),
                        class: row.broken_class.to_string(),
                        message: row.broken_message.to_lowercase(),
                    });
                }
            }
            Ok(())
        })?;
        if had {
            read.push(inc.dir.relative(&jpath));
        }
        let mut breaks = Vec::new();
        let bpath = files.recon_dir().join("breaks.csv");
        if let Some(f) = sidik_evidence::csvfile::CsvFile::open(&bpath)? {
            read.push(inc.dir.relative(&bpath));
            let cat = f.column("category", "run the reconciliation again")?;
            let at = f.column("at", "run the reconciliation again")?;
            let due = f.header().iter().position(|h| h == "due");
            let mut f = f;
            let mut rec = csv::StringRecord::new();
            while f.next_row(&mut rec)?.is_some() {
                let t = due
                    .and_then(|i| rec.get(i))
                    .and_then(parse_ms)
                    .or_else(|| rec.get(at).and_then(parse_ms));
                if let Some(t) = t {
                    breaks.push((rec.get(cat).unwrap_or("").to_string(), t));
                }
            }
        }
        let mut stuck = Vec::new();
        let spath = files.stuck_orders();
        if let Some(f) = sidik_evidence::csvfile::CsvFile::open(&spath)? {
            read.push(inc.dir.relative(&spath));
            let at = f.column("trip_end_at", "run the reconciliation again")?;
            let mut f = f;
            let mut rec = csv::StringRecord::new();
            while f.next_row(&mut rec)?.is_some() {
                if let Some(t) = rec.get(at).and_then(parse_ms) {
                    stuck.push(t);
                }
            }
        }
        Ok(Inputs {
            ev,
            phases,
            span,
            rca,
            broken,
            breaks,
            stuck,
            read,
        })
    }

    /// The minute the spike started, else the error onset.
    pub fn spike(&self) -> Option<Minute> {
        self.phases
            .spike_start
            .as_ref()
            .or(self.phases.error_onset.as_ref())
            .map(|p| minute_of(p.at))
    }

    /// The minute the incident's errors began, else the spike.
    pub fn onset(&self) -> Option<Minute> {
        self.phases
            .error_onset
            .as_ref()
            .map(|p| minute_of(p.at))
            .or_else(|| self.spike())
    }

    /// The minute degradation started, else the onset.
    pub fn degradation(&self) -> Option<Minute> {
        self.phases
            .degradation_start
            .as_ref()
            .map(|p| minute_of(p.at))
            .or_else(|| self.onset())
    }

    /// The minute the errors ended, else the end of the span.
    pub fn recovery(&self) -> Minute {
        self.phases
            .recovery
            .as_ref()
            .map(|p| minute_of(p.at))
            .unwrap_or(self.span.1)
    }

    /// The normal part of the day: from the start of the span to the spike.
    pub fn normal(&self) -> (Minute, Minute) {
        (self.span.0, self.spike().unwrap_or(self.span.1))
    }

    /// The incident: from the spike to the recovery.
    pub fn incident(&self) -> (Minute, Minute) {
        let from = self.spike().unwrap_or(self.span.0);
        (from, self.recovery().max(from + 1))
    }

    /// The primary cause's tracker number, from `rca.json`.
    pub fn primary(&self) -> Option<u32> {
        let r = self.rca.as_ref()?;
        let id = r.primary.as_ref()?;
        r.hypotheses.iter().find(|h| &h.id == id).map(|h| h.number)
    }

    /// Requests per second of `service` in each minute of `from..to`
    /// (metrics' `request_rate`, else the log timeline's requests), with the source.
    pub fn rate(
        &self,
        service: &str,
        from: Minute,
        to: Minute,
    ) -> Option<(Vec<f64>, &'static str)> {
        if let Some(m) = &self.ev.metrics {
            let v = m.dense("request_rate", Some(service), from, to, false);
            if v.iter().any(|x| x.is_finite()) {
                return Some((v, "metrics request_rate"));
            }
        }
        let l = self.ev.logs.as_ref()?;
        let s = l.services.get(service)?;
        let v: Vec<f64> = (from..to)
            .map(|t| l.at(&s.requests, t).map_or(f64::NAN, |x| x / 60.0))
            .collect();
        v.iter()
            .any(|x| x.is_finite() && *x > 0.0)
            .then_some((v, "log timeline requests"))
    }

    /// p99 latency of `service` in ms per minute (metrics, else logs), with the source.
    pub fn p99(&self, service: &str, from: Minute, to: Minute) -> Option<(Vec<f64>, &'static str)> {
        if let Some(m) = &self.ev.metrics {
            let v = m.dense("latency_p99_ms", Some(service), from, to, true);
            if v.iter().any(|x| x.is_finite()) {
                return Some((v, "metrics latency_p99_ms"));
            }
        }
        self.log_series(service, from, to, |s| &s.p99)
            .map(|v| (v, "log timeline latency_p99_ms"))
    }

    /// The higher of the metrics' and the logs' p99 of `service` per minute:
    /// a service's own gauge can miss the slow calls its callers and its log
    /// lines record.
    pub fn p99_worst(
        &self,
        service: &str,
        from: Minute,
        to: Minute,
    ) -> Option<(Vec<f64>, &'static str)> {
        let m = self.ev.metrics.as_ref().and_then(|m| {
            let v = m.dense("latency_p99_ms", Some(service), from, to, true);
            v.iter().any(|x| x.is_finite()).then_some(v)
        });
        let l = self.log_series(service, from, to, |s| &s.p99);
        match (m, l) {
            (Some(m), Some(l)) => Some((
                m.iter()
                    .zip(&l)
                    .map(|(a, b)| match (a.is_finite(), b.is_finite()) {
                        (true, true) => a.max(*b),
                        (true, false) => *a,
                        _ => *b,
                    })
                    .collect(),
                "the higher of metrics latency_p99_ms and the log timeline's p99",
            )),
            (Some(m), None) => Some((m, "metrics latency_p99_ms")),
            (None, Some(l)) => Some((l, "log timeline latency_p99_ms")),
            (None, None) => None,
        }
    }

    /// Median latency of `service` in ms per minute, from the logs.
    pub fn p50(&self, service: &str, from: Minute, to: Minute) -> Option<Vec<f64>> {
        self.log_series(service, from, to, |s| &s.p50)
    }

    fn log_series(
        &self,
        service: &str,
        from: Minute,
        to: Minute,
        pick: impl Fn(&sidik_rca::evidence::ServiceSeries) -> &Vec<f64>,
    ) -> Option<Vec<f64>> {
        let l = self.ev.logs.as_ref()?;
        let s = l.services.get(service)?;
        let v: Vec<f64> = (from..to)
            .map(|t| l.at(pick(s), t).unwrap_or(f64::NAN))
            .collect();
        v.iter().any(|x| x.is_finite()).then_some(v)
    }

    /// Share of failed requests of `service` per minute (5xx over requests
    /// from metrics, else error lines over requests from logs), with the source.
    pub fn error_ratio(
        &self,
        service: &str,
        from: Minute,
        to: Minute,
    ) -> Option<(Vec<f64>, &'static str)> {
        if let Some(m) = &self.ev.metrics {
            let e = m.dense("http_5xx_rate", Some(service), from, to, false);
            let r = m.dense("request_rate", Some(service), from, to, false);
            if e.iter().any(|x| x.is_finite()) {
                let v = e
                    .iter()
                    .zip(&r)
                    .map(|(e, r)| if *r > 0.0 { e / r } else { f64::NAN })
                    .collect();
                return Some((v, "metrics http_5xx_rate / request_rate"));
            }
        }
        let l = self.ev.logs.as_ref()?;
        let s = l.services.get(service)?;
        let v = (from..to)
            .map(|t| match (l.at(&s.errors, t), l.at(&s.requests, t)) {
                (Some(e), Some(r)) if r > 0.0 => e / r,
                _ => f64::NAN,
            })
            .collect();
        Some((v, "log timeline errors / requests"))
    }

    /// Database connections of `service` per minute: (per replica, all replicas).
    pub fn connections(
        &self,
        service: &str,
        from: Minute,
        to: Minute,
    ) -> Option<(Vec<f64>, Vec<f64>)> {
        let m = self.ev.metrics.as_ref()?;
        let per = m.dense("db_connections", Some(service), from, to, true);
        if !per.iter().any(|x| x.is_finite()) {
            return None;
        }
        Some((
            per,
            m.dense("db_connections", Some(service), from, to, false),
        ))
    }

    /// Replicas of `service` seen in the metrics (most instances in a minute).
    pub fn instances(&self, service: &str) -> Option<u32> {
        let m = self.ev.metrics.as_ref()?;
        m.series
            .iter()
            .filter(|((_, s), _)| s == service)
            .flat_map(|(_, pts)| pts.values().map(|(_, n)| *n))
            .max()
    }

    /// The database server in the metrics: the service reporting
    /// `db_max_connections`, its `max_connections`, and its connections per minute.
    pub fn server(&self, from: Minute, to: Minute) -> Option<(String, f64, Vec<f64>)> {
        let m = self.ev.metrics.as_ref()?;
        let name = m.services("db_max_connections").into_iter().next()?;
        let max = m
            .dense("db_max_connections", Some(&name), from, to, true)
            .into_iter()
            .filter(|x| x.is_finite())
            .fold(f64::NAN, f64::max);
        let conns = m.dense("db_connections", Some(&name), from, to, false);
        Some((name, max, conns))
    }

    /// Log lines of `class` at `service` per minute in `from..to`.
    pub fn class_lines(&self, service: &str, class: &str, from: Minute, to: Minute) -> Vec<f64> {
        let Some(l) = &self.ev.logs else {
            return vec![0.0; (to - from).max(0) as usize];
        };
        let s = l.services.get(service).and_then(|s| s.classes.get(class));
        (from..to)
            .map(|t| s.and_then(|v| l.at(v, t)).unwrap_or(0.0))
            .collect()
    }
}

/// The highest finite value of `v`.
pub fn max(v: &[f64]) -> Option<f64> {
    v.iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(None, |m, x| Some(m.map_or(x, |m: f64| m.max(x))))
}

/// The `q` quantile (0–1) of the finite values of `v`.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    let mut w: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if w.is_empty() {
        return None;
    }
    w.sort_by(f64::total_cmp);
    let i = ((w.len() - 1) as f64 * q).round() as usize;
    Some(w[i])
}

/// Index and value of the highest finite value.
pub fn argmax(v: &[f64]) -> Option<(usize, f64)> {
    v.iter()
        .copied()
        .enumerate()
        .filter(|(_, x)| x.is_finite())
        .fold(None, |m, (i, x)| match m {
            Some((_, b)) if b >= x => m,
            _ => Some((i, x)),
        })
}
