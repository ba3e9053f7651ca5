//! One data row into a lead record: every field normalised (handle, email, phone, tags), every
//! problem of the row reported together.

use std::collections::BTreeSet;

use csv::StringRecord;

use super::header::{Column, Layout};
use super::{LeadRecord, normalize_handle};

const MIN_PHONE_DIGITS: usize = 7;

/// Builds a lead from one data row. All problems in the row are reported
/// together so the user can fix them in one pass.
pub(super) fn lead_from_row(
    layout: &Layout,
    line: u64,
    row: &StringRecord,
) -> Result<LeadRecord, String> {
    if row.len() != layout.len() {
        return Err(format!(
            "has {}, the header has {}",
            field_count(row.len()),
            layout.len()
        ));
    }
    let mut lead = LeadRecord::new(line, "");
    let mut problems = Vec::new();
    for (column, raw) in layout.iter().zip(row.iter()) {
        if let Some(column) = column
            && let Err(problem) = fill_field(&mut lead, column, raw.trim())
        {
            problems.push(problem);
        }
    }
    if problems.is_empty() {
        Ok(lead)
    } else {
        Err(problems.join("; "))
    }
}

fn field_count(count: usize) -> String {
    if count == 1 {
        "1 field".to_owned()
    } else {
        format!("{count} fields")
    }
}

fn fill_field(lead: &mut LeadRecord, column: &Column, value: &str) -> Result<(), String> {
    match column {
        Column::Handle => lead.handle = normalize_handle(value)?,
        Column::Name => lead.name = non_empty(value),
        Column::Email => lead.email = non_empty(value).as_deref().map(check_email).transpose()?,
        Column::Phone => {
            lead.phone = non_empty(value)
                .as_deref()
                .map(normalize_phone)
                .transpose()?
        }
        Column::Tags => lead.tags = parse_tags(value),
        Column::Notes => lead.notes = non_empty(value),
        Column::Custom(key) => {
            if let Some(value) = non_empty(value) {
                lead.custom.insert(key.clone(), value);
            }
        }
    }
    Ok(())
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// A plausibility check, not RFC 5322: it catches values put in the wrong
/// column, which is the common mistake.
fn check_email(email: &str) -> Result<String, String> {
    let plausible = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !email.contains(char::is_whitespace);
    if plausible {
        Ok(email.to_owned())
    } else {
        Err(format!("email {email:?} is not an email address"))
    }
}

fn normalize_phone(phone: &str) -> Result<String, String> {
    let (plus, rest) = match phone.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", phone),
    };
    let is_allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')');
    if let Some(bad) = rest.chars().find(|&c| !is_allowed(c)) {
        return Err(format!(
            "phone {phone:?} has {bad:?}; only digits, spaces, '-', '.', '(', ')' and a leading '+' are allowed"
        ));
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < MIN_PHONE_DIGITS {
        return Err(format!(
            "phone {phone:?} has fewer than {MIN_PHONE_DIGITS} digits"
        ));
    }
    Ok(format!("{plus}{digits}"))
}

fn parse_tags(value: &str) -> Vec<String> {
    value
        .split(';')
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_lowercase)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}
