//! sidik-logs: log ingestion.
pub mod classify;
pub mod input;
pub mod parse;
pub mod record;
pub mod ts;
