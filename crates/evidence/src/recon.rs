//! `recon/recon.json`: the reconciliation's totals.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Rows and rupiah of one category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Rupiah.
    pub amount: i64,
    /// Rows.
    pub count: u64,
}

/// The rows each source held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// Orders.
    pub orders: u64,
    /// UPG payments.
    pub payments: u64,
    /// HO journal lines.
    pub postings: u64,
}

/// `recon/recon.json`. Fields are in alphabetical order, as the file has
/// always listed them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconFile {
    /// The cut-off (RFC 3339 with the incident's offset).
    pub as_of: String,
    /// Category (`MISSING_IN_HO` …, `MATCHED`) → rows and rupiah.
    pub by_category: BTreeMap<String, Tally>,
    /// Hour of the money's time (`YYYY-MM-DD HH:00`, incident time) → category → tally.
    pub by_hour: BTreeMap<String, BTreeMap<String, Tally>>,
    /// Service line → category → tally.
    pub by_service_line: BTreeMap<String, BTreeMap<String, Tally>>,
    /// Whether every input row was reconciled (none set aside).
    pub complete: bool,
    /// Whether anything other than timing items broke.
    pub has_breaks: bool,
    /// Rows per source.
    pub inputs: Inputs,
    /// Orders with no break.
    pub matched_orders: u64,
    /// Input rows set aside, and their rupiah.
    pub rejected: Tally,
    /// Stuck orders.
    pub stuck_orders: u64,
    /// [`crate::VERSION`].
    pub version: u32,
}
