//! sidik-recon reconciles three sources: UPG payments, HO journal postings
//! and the orders, and says where money went missing: charged but never
//! posted, posted without a charge, duplicates, refunds not posted, amounts
//! that differ, orders whose status contradicts their money, and timing items
//! that are not breaks (a charge for a trip after the cut-off; a posting in a
//! later ledger period).
//!
//! The sources are read through the column and value maps of `[recon]` in
//! `incident.toml` ([`settings`]), matched per order ([`engine`]) and written
//! as a breaks table, a report and a re-push batch ([`output`]).
//! The sources can also be read from the incident's database ([`db`]); the
//! playbook steps `recon.run` and `collect.export` are in [`actions`].

#![deny(missing_docs)]

pub mod actions;
pub mod db;
pub mod engine;
pub mod inspect;
pub mod output;
pub mod profile;
pub mod read;
pub mod settings;
pub mod source;
pub mod values;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ReconError {
    /// `[recon]` cannot be used.
    #[error("{0}")]
    Config(String),
    /// A source cannot be read: the message names the file and line.
    #[error("{0}")]
    Input(String),
    /// An output cannot be written.
    #[error("{0}")]
    Output(String),
    /// Ids listed twice in one source; [`engine::reconcile_sources`] sets
    /// the repeated rows aside and reconciles the rest.
    #[error("{} rows repeat an id listed earlier in their source (the first: {} row {} repeats line {}); an export lists each id once", .0.len(), .0[0].source, .0[0].row + 1, .0[0].first_line)]
    Repeated(Vec<engine::Repeat>),
}
