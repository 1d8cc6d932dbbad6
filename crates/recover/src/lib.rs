//! sidik-recover is phase 4 of the investigation: putting right what the
//! reconciliation found. Today it makes the **recovery plan**
//! ([`plan`]): one decision per finding (complete a stuck order, refund a
//! kept or duplicate charge, re-post a charge or a refund to HO, leave a
//! timing item, or hand it to a person) with its reason and rupiah, from a
//! decision table that is data the user can change. The plan only reads: it
//! writes `evidence/recovery/plan.*` and `reports/recovery-plan.md` and
//! nothing else. The playbook step `recover.plan` is in [`actions`].

#![deny(missing_docs)]

pub mod actions;
pub mod apply;
pub mod guards;
pub mod http;
pub mod journal;
pub mod notify;
pub mod plan;
pub mod process;
pub mod sql;
pub mod statements;
pub mod undo;
pub mod verify;

/// What went wrong, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// The decision table cannot be used: the message names the file and line.
    #[error("{0}")]
    Config(String),
    /// The reconciliation could not run.
    #[error(transparent)]
    Recon(#[from] sidik_recon::ReconError),
    /// An output could not be written.
    #[error(transparent)]
    Core(#[from] sidik_core::Error),
    /// Apply or undo refused to start: the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// The database failed in a way waiting does not cure.
    #[error("{0}")]
    Database(String),
    /// A batch failed on one order; a lock or a timeout is retried.
    #[error("{message}")]
    Batch {
        /// The SQLSTATE.
        sqlstate: String,
        /// The server's message, redacted.
        message: String,
        /// The order whose statement failed.
        order_id: String,
    },
    /// An HTTP endpoint failed in a way retrying does not cure.
    #[error("{0}")]
    Http(String),
}
