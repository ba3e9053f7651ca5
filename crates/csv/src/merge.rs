//! Rows of one file that name the same handle become one record: the first row wins, later
//! ones fill its gaps.

use std::collections::HashMap;

use super::{LeadRecord, Parsed, Reject};

/// Accumulates the result, folding rows with a handle seen before into the
/// first row with that handle.
#[derive(Default)]
pub(super) struct Collector {
    records: Vec<LeadRecord>,
    pub(super) rejects: Vec<Reject>,
    merged_in_file: usize,
    index_by_handle: HashMap<String, usize>,
}

impl Collector {
    pub(super) fn add(&mut self, lead: LeadRecord) {
        match self.index_by_handle.get(&lead.handle) {
            Some(&index) => {
                merge_into(&mut self.records[index], lead);
                self.merged_in_file += 1;
            }
            None => {
                self.index_by_handle
                    .insert(lead.handle.clone(), self.records.len());
                self.records.push(lead);
            }
        }
    }

    pub(super) fn finish(self) -> Parsed {
        Parsed {
            records: self.records,
            rejects: self.rejects,
            merged_in_file: self.merged_in_file,
        }
    }
}

/// The first row wins every conflict; the later one only fills gaps.
fn merge_into(first: &mut LeadRecord, later: LeadRecord) {
    fill_gap(&mut first.name, later.name);
    fill_gap(&mut first.email, later.email);
    fill_gap(&mut first.phone, later.phone);
    fill_gap(&mut first.notes, later.notes);
    first.tags.extend(later.tags);
    first.tags.sort();
    first.tags.dedup();
    for (key, value) in later.custom {
        first.custom.entry(key).or_insert(value);
    }
}

fn fill_gap(slot: &mut Option<String>, value: Option<String>) {
    if slot.is_none() {
        *slot = value;
    }
}
