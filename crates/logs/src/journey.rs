//! Order journeys: per order, what the logs of every service say about it,
//! the payment ids they link to it, and the first broken hop (the first
//! record with an error class or at error level).

use std::fmt::Write as _;

use crate::classify::Classifier;
use crate::ingest::Event;
use crate::ts::Millis;

/// The first broken hop of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    /// When.
    pub at: Millis,
    /// Which service logged it.
    pub service: String,
    /// Its class, if classified.
    pub class: Option<String>,
    /// Its message (and error).
    pub message: String,
}

/// One order's journey summary.
#[derive(Debug, Clone, Default)]
pub struct Journey {
    /// First record.
    pub first: Millis,
    /// Last record.
    pub last: Millis,
    /// Records.
    pub events: u32,
    /// Services that logged it, in order of first appearance.
    pub services: Vec<String>,
    /// Payment ids seen with it.
    pub payment_ids: Vec<String>,
    /// Records at error level or with a class.
    pub errors: u32,
    /// The first of those.
    pub broken: Option<Broken>,
}

/// Journeys of every order seen in the logs.
#[derive(Debug, Clone, Default)]
pub struct Journeys {
    /// order id → journey.
    pub map: rustc_hash::FxHashMap<String, Journey>,
}

impl Journeys {
    /// Adds one event.
    pub fn add(&mut self, e: &Event, service: &str, classifier: &Classifier) {
        let Some(id) = &e.rec.order_id else { return };
        let t = e.rec.time.unwrap_or(0);
        // Look up by reference: most records belong to an order already seen.
        if !self.map.contains_key(id.as_str()) {
            self.map.insert(
                id.clone(),
                Journey {
                    first: t,
                    last: t,
                    ..Default::default()
                },
            );
        }
        let j = self.map.get_mut(id.as_str()).expect("just inserted");
        j.first = j.first.min(t);
        j.last = j.last.max(t);
        j.events += 1;
        if !j.services.iter().any(|s| s == service) {
            j.services.push(service.to_string());
        }
        if let Some(p) = &e.rec.payment_id {
            if !j.payment_ids.contains(p) {
                j.payment_ids.push(p.clone());
            }
        }
        if e.class.is_some() || e.rec.level.is_some_and(|l| l.is_error()) {
            j.errors += 1;
            let msg = match &e.rec.error {
                Some(err) => format!("{}: {err}", e.rec.message),
                None => e.rec.message.clone(),
            };
            if j.broken.as_ref().is_none_or(|b| t < b.at) {
                j.broken = Some(Broken {
                    at: t,
                    service: service.to_string(),
                    class: e.class.map(|c| classifier.name(c).to_string()),
                    message: msg,
                });
            }
        }
    }

    /// Adds another thread's journeys.
    pub fn merge(&mut self, other: Journeys) {
        for (id, o) in other.map {
            match self.map.get_mut(&id) {
                None => {
                    self.map.insert(id, o);
                }
                Some(j) => {
                    j.first = j.first.min(o.first);
                    j.last = j.last.max(o.last);
                    j.events += o.events;
                    j.errors += o.errors;
                    for s in o.services {
                        if !j.services.contains(&s) {
                            j.services.push(s);
                        }
                    }
                    for p in o.payment_ids {
                        if !j.payment_ids.contains(&p) {
                            j.payment_ids.push(p);
                        }
                    }
                    if let Some(b) = o.broken {
                        if j.broken.as_ref().is_none_or(|x| b.at < x.at) {
                            j.broken = Some(b);
                        }
                    }
                }
            }
        }
    }

    /// All journeys as CSV, sorted by order id.
    pub fn to_csv(&self) -> String {
        let iso = |t: Millis| {
            chrono::DateTime::from_timestamp_millis(t)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default()
        };
        let q = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let mut ids: Vec<&String> = self.map.keys().collect();
        ids.sort();
        let mut s = String::from("order_id,first_seen,last_seen,events,services,payment_ids,errors,broken_at,broken_service,broken_class,broken_message\n");
        for id in ids {
            let j = &self.map[id];
            let (ba, bs, bc, bm) = match &j.broken {
                Some(b) => (
                    iso(b.at),
                    b.service.clone(),
                    b.class.clone().unwrap_or_default(),
                    b.message.clone(),
                ),
                None => Default::default(),
            };
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{ba},{bs},{bc},{}",
                q(id),
                iso(j.first),
                iso(j.last),
                j.events,
                j.services.join("+"),
                j.payment_ids.join(";"),
                j.errors,
                q(&bm)
            );
        }
        s
    }
}
