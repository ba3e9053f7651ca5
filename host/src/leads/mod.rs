//! Leads as the host knows them, and getting them in: CSV parsing ([`csv_import`], the
//! `outreach-csv` crate, where it can be fuzzed without the rest) and merging parsed
//! records into the store ([`import`]). The lead itself is a domain type
//! ([`crate::domain::lead`]).

pub use outreach_csv as csv_import;
pub mod import;

pub use crate::domain::lead::*;
