//! Template mining: Drain-style clustering (the `logdrain` crate, an
//! implementation of Drain with Drain3's masking) of each service's messages
//! after masking ids, UUIDs, addresses, durations, amounts and numbers; per
//! template and class, the count, first and last time and a sample line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use logdrain::{builtin_masks, Mask, Miner};

use crate::ts::Millis;

/// One template (per class) of one service.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// Records.
    pub count: u64,
    /// First record.
    pub first: Millis,
    /// Last record.
    pub last: Millis,
    /// `file:line` of the first record.
    pub sample_at: String,
    /// Its text.
    pub sample: String,
    /// Records at error level or worse (ERROR, FATAL, PANIC).
    pub errors: u64,
}

/// The templates of one service.
pub struct Patterns {
    miner: Miner,
    /// Stats per (template, class), and where each key's stats are.
    stats: Vec<Pattern>,
    index: rustc_hash::FxHashMap<(u64, Option<u16>), usize>,
    // Most texts repeat exactly ("order status changed"): their template is remembered.
    seen: rustc_hash::FxHashMap<String, u64>,
    /// The last texts seen, in slots chosen by their length and a few bytes:
    /// a hit costs a comparison instead of hashing the text and a map lookup.
    memo: Vec<Memo>,
}

/// A text (with its class) whose template and stats are known.
#[derive(Default)]
struct Memo {
    used: bool,
    text: String,
    class: Option<u16>,
    id: u64,
    stat: usize,
}

/// Slots of [`Patterns`]' memo (a power of two).
const MEMO_SLOTS: usize = 256;

fn memo_slot(text: &str) -> usize {
    let b = text.as_bytes();
    let (first, mid, last) = match b {
        [] => (0, 0, 0),
        _ => (b[0], b[b.len() / 2], b[b.len() - 1]),
    };
    let h = (b.len() as u32)
        .wrapping_mul(0x9E37_79B1)
        .wrapping_add(u32::from(first) << 16 | u32::from(mid) << 8 | u32::from(last))
        .wrapping_mul(0x85EB_CA6B);
    (h >> 24) as usize % MEMO_SLOTS
}

impl Patterns {
    /// A miner with sidik's masks.
    pub fn new() -> Patterns {
        let masks = [
            Mask::new(r"\b[A-Z]{2,5}-[0-9A-Z]+(?:-[0-9A-Z]+)*\b", "<id>"),
            Mask::new(r"\b[0-9a-f]{16,64}\b", "<hex>"),
            Mask::new(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<ip>"),
            Mask::new(r"\b\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)\b", "<duration>"),
            Mask::new(r"\b\d+(?:[.,]\d+)*\b", "<num>"),
        ];
        let mut all = vec![builtin_masks::uuid()];
        all.extend(masks.into_iter().map(|m| m.expect("valid mask")));
        let miner = Miner::builder()
            .masks(all)
            .sim_threshold(0.4)
            .depth(4)
            .build()
            .expect("valid miner options");
        Patterns {
            miner,
            stats: Vec::new(),
            index: Default::default(),
            seen: Default::default(),
            memo: (0..MEMO_SLOTS).map(|_| Memo::default()).collect(),
        }
    }

    /// Adds a record (`error`: at error level or worse); returns its template id.
    pub fn add(
        &mut self,
        text: &str,
        class: Option<u16>,
        at: Millis,
        file: &str,
        line: u64,
        error: bool,
    ) -> u64 {
        let slot = memo_slot(text);
        let m = &self.memo[slot];
        let (id, stat) = if m.used && m.class == class && m.text == text {
            (m.id, m.stat)
        } else {
            let (id, remembered) = match self.seen.get(text) {
                Some(id) => (*id, true),
                None => {
                    let id = self.miner.add(text).cluster_id;
                    let room = self.seen.len() < 200_000;
                    if room {
                        self.seen.insert(text.to_string(), id);
                    }
                    (id, room)
                }
            };
            let stat = match self.index.get(&(id, class)) {
                Some(i) => *i,
                None => {
                    self.stats.push(Pattern {
                        count: 0,
                        first: at,
                        last: at,
                        sample_at: format!("{file}:{line}"),
                        sample: text.chars().take(300).collect(),
                        errors: 0,
                    });
                    self.index.insert((id, class), self.stats.len() - 1);
                    self.stats.len() - 1
                }
            };
            // Only texts the map remembers are memoised, so a text is always
            // given the template the map would give it.
            if remembered {
                let m = &mut self.memo[slot];
                m.used = true;
                m.text.clear();
                m.text.push_str(text);
                m.class = class;
                m.id = id;
                m.stat = stat;
            }
            (id, stat)
        };
        let p = &mut self.stats[stat];
        p.count += 1;
        p.errors += u64::from(error);
        p.first = p.first.min(at);
        p.last = p.last.max(at);
        id
    }

    /// Rows: (template id, class, template text, stats), most frequent first.
    pub fn rows(&self) -> Vec<(u64, Option<u16>, String, Pattern)> {
        let templates: BTreeMap<u64, String> = self
            .miner
            .clusters()
            .into_iter()
            .map(|c| (c.id(), c.template().to_string()))
            .collect();
        let mut rows: Vec<_> = self
            .index
            .iter()
            .map(|(&(id, class), &i)| {
                (
                    id,
                    class,
                    templates.get(&id).cloned().unwrap_or_default(),
                    self.stats[i].clone(),
                )
            })
            .collect();
        rows.sort_by(|a, b| {
            b.3.count
                .cmp(&a.3.count)
                .then(a.0.cmp(&b.0))
                .then(a.1.cmp(&b.1))
        });
        rows
    }
}

impl Default for Patterns {
    fn default() -> Self {
        Patterns::new()
    }
}

/// One template row: id, class name, template text, stats.
pub type Row = (u64, Option<String>, String, Pattern);

/// Records of unclaimed warning and error templates of one service:
/// (bucket, template id) → records.
pub type Unclaimed = rustc_hash::FxHashMap<(Millis, u64), u64>;

/// Template classes per service at most: the most frequent unclaimed
/// warning and error templates become classes, the rest stay unclassified.
pub const MAX_TEMPLATE_CLASSES: usize = 64;

/// The class name of an unclaimed template: `tpl_` and its first words
/// (masked parts left out), lower-cased (`tpl_hystrix_circuit_open`).
pub fn template_class_name(template: &str) -> String {
    let words: Vec<String> = template
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
        .take(6)
        .map(|w| w.to_lowercase())
        .collect();
    if words.is_empty() {
        "tpl_unnamed".into()
    } else {
        format!("tpl_{}", words.join("_"))
    }
}

/// Makes each warning and error template no rule claims a class of its
/// own: `unclaimed` holds, per service, (bucket, template id) → records.
/// The timeline gains a column per such class (the same name across
/// services when their templates read alike), and the templates' rows in
/// `patterns` name it. A class a rule does not know is then seen by onset
/// detection and by hypotheses that claim templates by keywords.
pub fn template_classes(
    timeline: &mut crate::timeline::Timeline,
    patterns: &mut [(String, Vec<Row>)],
    unclaimed: Vec<(u16, Unclaimed)>,
) {
    let mut names: BTreeMap<(u16, u64), String> = BTreeMap::new();
    for (si, counts) in &unclaimed {
        let mut totals: BTreeMap<u64, u64> = BTreeMap::new();
        for ((_, id), n) in counts {
            *totals.entry(*id).or_default() += n;
        }
        let mut ranked: Vec<(u64, u64)> = totals.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let Some((_, rows)) = patterns.get(*si as usize) else {
            continue;
        };
        for (id, _) in ranked.into_iter().take(MAX_TEMPLATE_CLASSES) {
            if let Some((_, _, template, _)) = rows.iter().find(|r| r.0 == id && r.1.is_none()) {
                names.insert((*si, id), template_class_name(template));
            }
        }
    }
    if names.is_empty() {
        return;
    }
    let mut columns: BTreeMap<&str, usize> = BTreeMap::new();
    for n in names.values() {
        if !columns.contains_key(n.as_str()) && !timeline.classes.iter().any(|c| c == n) {
            columns.insert(n, timeline.classes.len() + columns.len());
        }
    }
    let ordered: Vec<String> = {
        let mut v: Vec<(&str, usize)> = columns.iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_by_key(|x| x.1);
        v.into_iter().map(|x| x.0.to_string()).collect()
    };
    let width = timeline.classes.len() + ordered.len();
    timeline.classes.extend(ordered.iter().cloned());
    for cell in timeline.cells.values_mut() {
        cell.classes.resize(width, 0);
    }
    for (si, counts) in unclaimed {
        for ((bucket, id), n) in counts {
            let Some(name) = names.get(&(si, id)) else {
                continue;
            };
            let Some(col) = timeline.classes.iter().position(|c| c == name) else {
                continue;
            };
            if let Some(cell) = timeline.cells.get_mut(&(bucket, si)) {
                cell.classes[col] += n;
            }
        }
    }
    for (si, (_, rows)) in patterns.iter_mut().enumerate() {
        for r in rows.iter_mut() {
            if r.1.is_none() {
                if let Some(name) = names.get(&(si as u16, r.0)) {
                    r.1 = Some(name.clone());
                }
            }
        }
    }
}

/// The templates of every service as CSV.
pub fn to_csv(per_service: &[(String, Vec<Row>)]) -> String {
    let (iso, q) = (crate::iso_ms, crate::csv_field);
    let mut s = String::from(sidik_evidence::logs::PATTERNS_HEADER);
    for (svc, rows) in per_service {
        for (id, class, template, p) in rows {
            let _ = writeln!(
                s,
                "{svc},{},{id},{},{},{},{},{},{},{}",
                class.clone().unwrap_or_default(),
                q(template),
                p.count,
                iso(p.first),
                iso(p.last),
                q(&p.sample_at),
                q(&p.sample),
                p.errors
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_numbers_do_not_split_templates() {
        let mut p = Patterns::new();
        let a = p.add(
            "ho push failed: pq: sorry, too many clients already ORD-250112-00000001",
            Some(0),
            1,
            "f",
            1,
            true,
        );
        let b = p.add(
            "ho push failed: pq: sorry, too many clients already ORD-250112-00000977",
            Some(0),
            2,
            "f",
            2,
            true,
        );
        let c = p.add(
            "charge settled PAY-00000042-1 amount 150000 latency 245ms",
            None,
            3,
            "f",
            3,
            false,
        );
        let d = p.add(
            "charge settled PAY-00000043-2 amount 99500 latency 1.5s",
            None,
            4,
            "f",
            4,
            false,
        );
        assert_eq!(a, b);
        assert_eq!(c, d);
        assert_ne!(a, c);
        let rows = p.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].3.count, 2);
        // The error lines are counted apart, for onset dating by level.
        let errors: Vec<u64> = rows.iter().map(|r| r.3.errors).collect();
        assert!(errors.contains(&2) && errors.contains(&0), "{errors:?}");
        assert!(rows.iter().any(|r| r.2.contains("<id>")), "{rows:?}");
    }
}
