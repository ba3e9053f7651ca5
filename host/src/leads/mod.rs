//! Leads as the host knows them, and getting them in: CSV parsing ([`csv_import`]) and
//! merging parsed records into the store ([`import`]). The lead itself is a domain type
//! ([`crate::domain::lead`]).

pub mod csv_import;
pub mod import;

pub use crate::domain::lead::*;
