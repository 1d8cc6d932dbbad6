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

/// One order's journey summary (kept small: there is one per order).
#[derive(Debug, Clone, Default)]
pub struct Journey {
    /// First record.
    pub first: Millis,
    /// Last record.
    pub last: Millis,
    /// Records.
    pub events: u32,
    /// Records at error level or with a class.
    pub errors: u32,
    /// Services that logged it, as a bit set over service indices.
    pub services: u64,
    /// Payment ids seen with it.
    pub payment_ids: Vec<Box<str>>,
    /// The first broken hop.
    pub broken: Option<Box<Broken>>,
}

/// Journeys of every order seen in the logs.
#[derive(Debug, Clone, Default)]
pub struct Journeys {
    /// order id → journey.
    pub map: rustc_hash::FxHashMap<Box<str>, Journey>,
    /// Service names, by the indices of [`Journey::services`].
    pub services: Vec<String>,
}

impl Journeys {
    /// Adds one event.
    pub fn add(&mut self, e: &Event, service: &str, classifier: &Classifier) {
        let Some(id) = &e.rec.order_id else { return };
        let t = e.rec.time.unwrap_or(0);
        let bit = 1u64 << (e.service as u64).min(63);
        if self.services.len() <= e.service as usize {
            self.services.resize(e.service as usize + 1, String::new());
        }
        if self.services[e.service as usize].is_empty() {
            self.services[e.service as usize] = service.to_string();
        }
        // Look up by reference: most records belong to an order already seen.
        let j = match self.map.get_mut(id.as_str()) {
            Some(j) => j,
            None => self.map.entry(id.as_str().into()).or_insert(Journey {
                first: t,
                last: t,
                ..Default::default()
            }),
        };
        j.first = j.first.min(t);
        j.last = j.last.max(t);
        j.events += 1;
        j.services |= bit;
        if let Some(p) = &e.rec.payment_id {
            if !j.payment_ids.iter().any(|x| **x == **p) {
                j.payment_ids.push(p.as_str().into());
            }
        }
        if e.class.is_some() || e.rec.level.is_some_and(|l| l.is_error()) {
            j.errors += 1;
            if j.broken.as_ref().is_none_or(|b| t < b.at) {
                let message = match &e.rec.error {
                    Some(err) => format!("{}: {err}", e.rec.message),
                    None => e.rec.message.clone(),
                };
                j.broken = Some(Box::new(Broken {
                    at: t,
                    service: service.to_string(),
                    class: e.class.map(|c| classifier.name(c).to_string()),
                    message,
                }));
            }
        }
    }

    /// The service names of a journey, in service order.
    pub fn service_names(&self, j: &Journey) -> Vec<&str> {
        self.services
            .iter()
            .enumerate()
            .filter(|(i, s)| !s.is_empty() && j.services & (1u64 << (*i as u64).min(63)) != 0)
            .map(|(_, s)| s.as_str())
            .collect()
    }

    /// Adds another thread's journeys.
    pub fn merge(&mut self, mut other: Journeys) {
        // Merge the smaller map into the larger one.
        if other.map.len() > self.map.len() {
            std::mem::swap(&mut self.map, &mut other.map);
        }
        for (i, name) in other.services.iter().enumerate() {
            if self.services.len() <= i {
                self.services.resize(i + 1, String::new());
            }
            if !name.is_empty() {
                self.services[i] = name.clone();
            }
        }
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
                    j.services |= o.services;
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

    /// All journeys as CSV, sorted by order id (rows formatted on two threads).
    pub fn to_csv(&self) -> String {
        let mut ids: Vec<(&str, &Journey)> = self.map.iter().map(|(k, v)| (&**k, v)).collect();
        ids.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let half = ids.len() / 2;
        let (a, b) = ids.split_at(half);
        let (sa, sb) = std::thread::scope(|s| {
            let ha = s.spawn(|| self.rows_csv(a));
            let hb = s.spawn(|| self.rows_csv(b));
            (
                ha.join().expect("csv thread"),
                hb.join().expect("csv thread"),
            )
        });
        let mut out = String::with_capacity(sa.len() + sb.len() + 128);
        out.push_str("order_id,first_seen,last_seen,events,services,payment_ids,errors,broken_at,broken_service,broken_class,broken_message\n");
        out.push_str(&sa);
        out.push_str(&sb);
        out
    }

    fn rows_csv(&self, rows: &[(&str, &Journey)]) -> String {
        let (iso, q) = (crate::iso_ms, crate::csv_field);
        let mut s = String::with_capacity(rows.len() * 160);
        for (id, j) in rows {
            let (ba, bs, bc, bm) = match &j.broken {
                Some(b) => (
                    iso(b.at),
                    b.service.as_str(),
                    b.class.as_deref().unwrap_or(""),
                    b.message.as_str(),
                ),
                None => (String::new(), "", "", ""),
            };
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{ba},{bs},{bc},{}",
                q(id),
                iso(j.first),
                iso(j.last),
                j.events,
                self.service_names(j).join("+"),
                j.payment_ids.join(";"),
                j.errors,
                q(bm)
            );
        }
        s
    }
}
