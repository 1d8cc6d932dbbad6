//! The customer communication (`sidik notify`): the affected customers and
//! corporate accounts grouped by what happened to them, each with a message
//! rendered from editable templates in Bahasa Indonesia and English, into a
//! CSV ready for a CRM or messaging import. Nothing is sent.
//!
//! The groups come from the recovery plan: charged while the order stayed
//! open (a stuck order), charged twice (a duplicate charge), a refund due (a
//! cancelled order that kept its charge), and the ledger-only findings (a
//! charge or refund missing in HO, a late posting), which touch no customer
//! and get no message. The orders export has no customer id, so a row is an
//! order: the CRM joins it to the customer; an order of a corporate account
//! (`corporate_id`) is also counted in one message to that account.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sidik_core::fmt::{count, idr};
use sidik_core::Incident;

use crate::plan::Step;
use crate::RecoverError;

/// What happened to a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// Charged, and the order stayed open (stuck in ACTIVE).
    ChargedNotCompleted,
    /// Charged twice.
    ChargedTwice,
    /// The order was cancelled and the charge kept: a refund is due.
    RefundDue,
    /// Only the ledger is wrong (missing or late in HO): no customer impact.
    LedgerOnly,
}

impl Group {
    /// The word used in files and template names.
    pub fn word(self) -> &'static str {
        match self {
            Group::ChargedNotCompleted => "charged_not_completed",
            Group::ChargedTwice => "charged_twice",
            Group::RefundDue => "refund_due",
            Group::LedgerOnly => "ledger_only",
        }
    }

    /// In words, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Group::ChargedNotCompleted => "charged, order left open (stuck)",
            Group::ChargedTwice => "charged twice",
            Group::RefundDue => "order cancelled, charge kept: refund due",
            Group::LedgerOnly => {
                "ledger only (missing or late in HO): no customer impact, no message"
            }
        }
    }

    /// The group of a plan step.
    pub fn of(s: &Step) -> Group {
        match (s.category.as_str(), s.reason.as_str()) {
            ("STATUS_MISMATCH", "stuck") => Group::ChargedNotCompleted,
            ("STATUS_MISMATCH", "cancelled_with_charge") => Group::RefundDue,
            ("DUPLICATE_CHARGE", _) => Group::ChargedTwice,
            _ => Group::LedgerOnly,
        }
    }

    const MESSAGED: [Group; 3] = [
        Group::ChargedNotCompleted,
        Group::ChargedTwice,
        Group::RefundDue,
    ];
}

/// The shipped templates: (file, text).
pub const SHIPPED: [(&str, &str); 8] = [
    (
        "charged_not_completed.id.txt",
        include_str!("../templates/charged_not_completed.id.txt"),
    ),
    (
        "charged_not_completed.en.txt",
        include_str!("../templates/charged_not_completed.en.txt"),
    ),
    (
        "charged_twice.id.txt",
        include_str!("../templates/charged_twice.id.txt"),
    ),
    (
        "charged_twice.en.txt",
        include_str!("../templates/charged_twice.en.txt"),
    ),
    (
        "refund_due.id.txt",
        include_str!("../templates/refund_due.id.txt"),
    ),
    (
        "refund_due.en.txt",
        include_str!("../templates/refund_due.en.txt"),
    ),
    (
        "corporate.id.txt",
        include_str!("../templates/corporate.id.txt"),
    ),
    (
        "corporate.en.txt",
        include_str!("../templates/corporate.en.txt"),
    ),
];

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 7] = [
    "incident_date",
    "order_id",
    "amount",
    "payment_method",
    "sender",
    "corporate_id",
    "orders",
];

/// A message template: its subject line and body.
#[derive(Debug, Clone)]
pub struct Template {
    /// Where it was read.
    pub file: String,
    /// `Subject:` line.
    pub subject: String,
    /// The rest.
    pub body: String,
}

impl Template {
    /// Parses a template; an unknown `{placeholder}` or a missing subject is
    /// an error naming the file and line.
    pub fn parse(file: &str, text: &str) -> Result<Template, RecoverError> {
        let text = text.replace("\r\n", "\n");
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first
            .strip_prefix("Subject:")
            .ok_or_else(|| {
                RecoverError::Config(format!(
                    "{file}:1: a template starts with `Subject: …`, then a blank line and the message"
                ))
            })?
            .trim()
            .to_string();
        for (i, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(start) = rest.find('{') {
                let after = &rest[start + 1..];
                let Some(end) = after.find('}') else { break };
                let name = &after[..end];
                if !PLACEHOLDERS.contains(&name) {
                    return Err(RecoverError::Config(format!(
                        "{file}:{}: unknown placeholder {{{name}}}; a template may use {}",
                        i + 1,
                        PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                    )));
                }
                rest = &after[end + 1..];
            }
        }
        Ok(Template {
            file: file.to_string(),
            subject,
            body: rest.trim_start_matches('\n').trim_end().to_string(),
        })
    }

    fn fill(text: &str, v: &BTreeMap<&str, String>) -> String {
        let mut out = text.to_string();
        for (k, val) in v {
            out = out.replace(&format!("{{{k}}}"), val);
        }
        out
    }

    /// (subject, body) with the values filled in.
    pub fn render(&self, v: &BTreeMap<&str, String>) -> (String, String) {
        (Self::fill(&self.subject, v), Self::fill(&self.body, v))
    }
}

/// The templates in force: `<name>.<lang>.txt` from the incident's folder
/// (`[recover.notify] templates`) where it has one, else the shipped one.
pub fn templates(
    inc: &Incident,
    languages: &[String],
) -> Result<BTreeMap<(String, String), Template>, RecoverError> {
    let folder = inc
        .file
        .recover
        .notify
        .templates
        .as_deref()
        .map(|t| inc.dir.resolve(t));
    let mut out = BTreeMap::new();
    let names = Group::MESSAGED
        .iter()
        .map(|g| g.word())
        .chain(["corporate"]);
    for name in names {
        for lang in languages {
            let file = format!("{name}.{lang}.txt");
            let own = folder
                .as_ref()
                .map(|f| f.join(&file))
                .filter(|p| p.is_file());
            let t = match own {
                Some(p) => {
                    let text = std::fs::read_to_string(&p).map_err(|e| {
                        RecoverError::Config(format!("cannot read {}: {e}", p.display()))
                    })?;
                    Template::parse(&p.display().to_string(), &text)?
                }
                None => match SHIPPED.iter().find(|(f, _)| *f == file) {
                    Some((f, text)) => Template::parse(&format!("crates/recover/templates/{f}"), text)?,
                    None => {
                        return Err(RecoverError::Config(format!(
                            "no template {file}: sidik ships `id` and `en`; write {file} into {} for language `{lang}`",
                            folder
                                .as_ref()
                                .map_or("the folder [recover.notify] templates names".to_string(), |f| f.display().to_string())
                        )))
                    }
                },
            };
            out.insert((name.to_string(), lang.clone()), t);
        }
    }
    Ok(out)
}

/// Writes the shipped templates into `dir` for editing; existing files are kept.
pub fn write_templates(dir: &Path) -> Result<Vec<PathBuf>, RecoverError> {
    std::fs::create_dir_all(dir).map_err(|e| sidik_core::Error::io("create folder", dir, e))?;
    let mut written = Vec::new();
    for (f, text) in SHIPPED {
        let p = dir.join(f);
        if !p.exists() {
            std::fs::write(&p, text).map_err(|e| sidik_core::Error::io("write", &p, e))?;
            written.push(p);
        }
    }
    Ok(written)
}

/// What [`run`] made.
#[derive(Debug, Clone, Default)]
pub struct Notify {
    /// Orders per group, and their rupiah.
    pub groups: BTreeMap<Group, (u64, i64)>,
    /// Rows of the customer list (messages).
    pub customers: u64,
    /// Corporate accounts messaged.
    pub corporates: u64,
    /// Orders export rows that did not fit its header (not in the list).
    pub unreadable: usize,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// `reports/communication.md`.
    pub report: PathBuf,
}

/// Per order: (payment method, corporate id).
type Details = BTreeMap<String, (String, String)>;

/// Per order: (payment method, corporate id), from the orders export; and
/// the rows that did not fit its header.
fn order_details(
    inc: &Incident,
    wanted: &std::collections::BTreeSet<&str>,
) -> Result<(Details, usize), RecoverError> {
    let s = sidik_recon::output::settings(inc)?;
    let Some(rel) = inc
        .file
        .sources
        .recon
        .as_ref()
        .and_then(|r| r.orders.clone())
    else {
        return Ok((BTreeMap::new(), 0));
    };
    let rows = sidik_recon::output::file_rows(inc, "orders", &rel, &s)?;
    let mut out = BTreeMap::new();
    let bad = sidik_recon::source::walk(rows, "orders", &s, |col, row| {
        let get = |c: &str| {
            col(c)
                .and_then(|i| row.get(i).copied().flatten())
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let id = get("order_id");
        if wanted.contains(id.as_str()) {
            out.insert(id, (get("payment_method"), get("corporate_id")));
        }
    })?;
    Ok((out, bad))
}

/// Makes the customer list from the recovery plan and writes
/// `evidence/recovery/customers.csv`, `corporate.csv` and `reports/communication.md`.
pub fn run(inc: &Incident) -> Result<Notify, RecoverError> {
    let (steps, _) = crate::plan::read(inc)?;
    let n = &inc.file.recover.notify;
    let languages = n
        .languages
        .clone()
        .unwrap_or_else(|| vec!["id".into(), "en".into()]);
    let sender = n.sender.clone().unwrap_or_else(|| "Customer Care".into());
    let incident_date = inc
        .window
        .as_ref()
        .map(|w| {
            w.start
                .with_timezone(&inc.tz)
                .format("%d/%m/%Y")
                .to_string()
        })
        .unwrap_or_default();
    let tpl = templates(inc, &languages)?;
    let wanted: std::collections::BTreeSet<&str> = steps
        .iter()
        .filter(|s| Group::of(s) != Group::LedgerOnly)
        .map(|s| s.order_id.as_str())
        .collect();
    let (details, unreadable) = order_details(inc, &wanted)?;

    let mut out = Notify {
        unreadable,
        ..Notify::default()
    };
    // One row per order and group it is in; ledger-only orders that are in a
    // customer group already are not counted twice.
    let customer_orders: std::collections::BTreeSet<&str> = wanted.clone();
    let mut seen = std::collections::BTreeSet::new();
    let mut rows: Vec<(Group, &Step)> = Vec::new();
    for s in &steps {
        let g = Group::of(s);
        if sidik_recon::engine::code::TIMING.contains(&s.category.as_str()) {
            continue; // not due yet, or booked in the next period: nothing is wrong
        }
        if g == Group::LedgerOnly && customer_orders.contains(s.order_id.as_str()) {
            continue;
        }
        if !seen.insert((g, s.order_id.as_str(), s.payment_id.as_deref())) {
            continue;
        }
        let e = out.groups.entry(g).or_default();
        e.0 += 1;
        e.1 += s.amount;
        if g != Group::LedgerOnly {
            rows.push((g, s));
        }
    }

    let mut header = vec![
        "order_id".to_string(),
        "audience".into(),
        "corporate_id".into(),
        "group".into(),
        "amount".into(),
        "payment_method".into(),
    ];
    for l in &languages {
        header.push(format!("subject_{l}"));
        header.push(format!("message_{l}"));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| RecoverError::Config(format!("cannot write the customer list: {e}"));
    w.write_record(&header).map_err(err)?;
    let mut corporate: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    let mut samples: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for (g, s) in &rows {
        let (method, corp) = details.get(&s.order_id).cloned().unwrap_or_default();
        if !corp.is_empty() {
            let c = corporate.entry(corp.clone()).or_default();
            c.0 += 1;
            c.1 += s.amount;
        }
        let values: BTreeMap<&str, String> = [
            ("order_id", s.order_id.clone()),
            ("amount", idr(s.amount)),
            (
                "payment_method",
                if method.is_empty() {
                    "-".to_string()
                } else {
                    method.clone()
                },
            ),
            ("sender", sender.clone()),
            ("corporate_id", corp.clone()),
            ("orders", "1".into()),
            ("incident_date", incident_date.clone()),
        ]
        .into_iter()
        .collect();
        let mut rec = vec![
            s.order_id.clone(),
            if corp.is_empty() {
                "customer"
            } else {
                "corporate"
            }
            .to_string(),
            corp,
            g.word().to_string(),
            s.amount.to_string(),
            method,
        ];
        for l in &languages {
            let t = &tpl[&(g.word().to_string(), l.clone())];
            let (subject, body) = t.render(&values);
            samples
                .entry((g.word().to_string(), l.clone()))
                .or_insert_with(|| (subject.clone(), body.clone()));
            rec.push(subject);
            rec.push(body);
        }
        w.write_record(&rec).map_err(err)?;
        out.customers += 1;
    }
    let dir = inc.dir.evidence().join("recovery");
    std::fs::create_dir_all(&dir).map_err(|e| sidik_core::Error::io("create folder", &dir, e))?;
    let customers = dir.join("customers.csv");
    let bytes = w
        .into_inner()
        .map_err(|e| RecoverError::Config(format!("cannot write the customer list: {e}")))?;
    sidik_core::folder::write_atomic(&customers, &bytes)?;

    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["corporate_id".to_string(), "orders".into(), "amount".into()];
    for l in &languages {
        header.push(format!("subject_{l}"));
        header.push(format!("message_{l}"));
    }
    w.write_record(&header).map_err(err)?;
    for (c, (orders, amount)) in &corporate {
        let values: BTreeMap<&str, String> = [
            ("corporate_id", c.clone()),
            ("orders", count(*orders)),
            ("amount", idr(*amount)),
            ("sender", sender.clone()),
            ("order_id", String::new()),
            ("payment_method", String::new()),
            ("incident_date", incident_date.clone()),
        ]
        .into_iter()
        .collect();
        let mut rec = vec![c.clone(), orders.to_string(), amount.to_string()];
        for l in &languages {
            let (subject, body) = tpl[&("corporate".to_string(), l.clone())].render(&values);
            samples
                .entry(("corporate".to_string(), l.clone()))
                .or_insert_with(|| (subject.clone(), body.clone()));
            rec.push(subject);
            rec.push(body);
        }
        w.write_record(&rec).map_err(err)?;
    }
    out.corporates = corporate.len() as u64;
    let corp_path = dir.join("corporate.csv");
    let bytes = w
        .into_inner()
        .map_err(|e| RecoverError::Config(format!("cannot write the corporate list: {e}")))?;
    sidik_core::folder::write_atomic(&corp_path, &bytes)?;
    out.files = vec![customers, corp_path];

    out.report = inc.dir.reports().join("communication.md");
    let md = markdown(inc, &out, &languages, &samples, &tpl);
    if let Some(d) = out.report.parent() {
        std::fs::create_dir_all(d).map_err(|e| sidik_core::Error::io("create folder", d, e))?;
    }
    sidik_core::folder::write_atomic(&out.report, md.as_bytes())?;
    Ok(out)
}

fn markdown(
    inc: &Incident,
    n: &Notify,
    languages: &[String],
    samples: &BTreeMap<(String, String), (String, String)>,
    tpl: &BTreeMap<(String, String), Template>,
) -> String {
    let customers = inc.dir.relative(&n.files[0]);
    let corporate = inc.dir.relative(&n.files[1]);
    let mut md = format!(
        "# Customer communication plan\n\nWho to tell what, from the recovery plan. **Nothing has been sent**: [{customers}](../{customers}) holds one row per order and group with its message in {} (ready for a CRM or messaging import; the CRM joins the order to its customer), and [{corporate}](../{corporate}) one message per corporate account.\n\n| group | orders | rupiah | message |\n|---|---:|---:|---|\n",
        languages.join(" and ")
    );
    for (g, (orders, amount)) in &n.groups {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            g.describe(),
            count(*orders),
            idr(*amount),
            if *g == Group::LedgerOnly {
                "none".to_string()
            } else {
                format!("`{}`", g.word())
            }
        );
    }
    let _ = writeln!(
        md,
        "\n{} messages to customers, {} to corporate accounts.{}",
        count(n.customers),
        count(n.corporates),
        if n.unreadable > 0 {
            format!(
                " {} rows of the orders export did not fit its header and are not in the list: see `sidik recon`'s rejected rows.",
                count(n.unreadable as u64)
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        md,
        "\n## When to announce\n\n| when | what | owner |\n|---|---|---|\n\
         | as soon as the list is checked | status page and in-app note: the 12 January disruption, that charges are being checked, no action needed from customers | ______ |\n\
         | once UPG confirms the refunds | `charged_twice` and `refund_due` messages, with the refund's expected arrival | ______ |\n\
         | once `sidik recover verify` holds | `charged_not_completed` messages: the order is completed, nothing more to pay | ______ |\n\
         | with the next statement | corporate accounts: the corrected orders and e-voucher budget | ______ |\n\
         | after 14 working days | follow up on refunds customers report missing | ______ |"
    );
    let _ = writeln!(md, "\n## The messages\n\nEdit the templates (`sidik notify --write-templates` copies them into the incident folder; set `[recover.notify] templates`), then run `sidik notify` again.");
    for ((name, lang), (subject, body)) in samples {
        let file = tpl
            .get(&(name.clone(), lang.clone()))
            .map(|t| t.file.clone())
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "\n### {name} ({lang}), from {file}\n\n> **{subject}**\n>\n{}",
            body.lines()
                .map(|l| format!("> {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    md
}
