//! Consent: the permissions a plugin can hold, what a plugin may see of a lead, and the
//! audit record of every decision. The checks themselves run in the host calls
//! ([`crate::host`]), against the grants the call read as it started
//! (`CallContext::started`), so that a revocation holds from the next call.

use crate::domain::lead::Lead;

/// The permission, purpose-limit, personal-field, do-not-contact and messaging-window rules,
/// in one pure file shared with the SDK's fake host: both compile the same source, so a
/// plugin's unit tests and the real host cannot disagree.
pub use crate::domain::policy;

pub use crate::domain::permission::Permission;

/// What a plugin is shown of a lead: personal fields only with `leads:read-pii`, and never
/// for a do-not-contact lead.
pub fn project_lead(lead: &Lead, pii_granted: bool) -> Lead {
    let mut seen = lead.clone();
    if !policy::shows_personal_fields(pii_granted, lead.is_do_not_contact()) {
        seen.email = None;
        seen.phone = None;
        seen.notes = None;
        seen.custom.clear();
    }
    seen.dnc_reason = None;
    seen
}

/// What replaces personal data in text that leaves the machine.
pub const REDACTED: &str = "[redacted]";

/// Text bound for a recipient outside the host (the AI provider), with the personal data of
/// `leads` taken out: their stored email, phone, notes and custom field values, and anything
/// shaped like an email address or a phone number (leads write those into messages too).
pub fn redact_personal(text: &str, leads: &[Lead]) -> String {
    let mut stored: Vec<&str> = leads
        .iter()
        .flat_map(|lead| {
            [&lead.email, &lead.phone, &lead.notes]
                .into_iter()
                .flatten()
                .chain(lead.custom.values())
        })
        .map(|v| v.trim())
        .filter(|v| v.len() >= 4)
        .collect();
    // Longest first: a short value inside a longer one (a city in a note) would otherwise be
    // taken out first and leave the rest of the longer one unmatched.
    stored.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    stored.dedup();
    let mut text = text.to_owned();
    for value in stored {
        text = replace_ignoring_ascii_case(&text, value, REDACTED);
    }
    redact_phone_numbers(&redact_email_addresses(&text))
}

fn replace_ignoring_ascii_case(text: &str, needle: &str, with: &str) -> String {
    // ASCII lower-casing keeps byte offsets, so positions found in the copy hold in the original.
    let (haystack, needle_lower) = (text.to_ascii_lowercase(), needle.to_ascii_lowercase());
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    while let Some(found) = haystack[rest..].find(&needle_lower) {
        out.push_str(&text[rest..rest + found]);
        out.push_str(with);
        rest += found + needle.len();
    }
    out.push_str(&text[rest..]);
    out
}

fn redact_email_addresses(text: &str) -> String {
    let words: Vec<String> = text
        .split(' ')
        .map(|word| {
            let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
            let looks_like_email = bare.split_once('@').is_some_and(|(user, domain)| {
                !user.is_empty() && domain.contains('.') && !domain.starts_with('.')
            });
            if looks_like_email {
                word.replace(bare, REDACTED)
            } else {
                word.to_owned()
            }
        })
        .collect();
    words.join(" ")
}

/// Runs of digits with the separators people write numbers with (`+`, `.`, `/`, parentheses,
/// and any kind of space or dash) holding at least seven digits, except calendar dates.
fn redact_phone_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            || ("+(".contains(chars[i]) && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        if let Some(len) = date_at(&chars[i..]) {
            out.extend(&chars[i..i + len]);
            i += len;
            continue;
        }
        let mut end = i;
        while end < chars.len() && (chars[end].is_ascii_digit() || is_number_separator(chars[end]))
        {
            end += 1;
        }
        // Separators at the end belong to the sentence, not the number...
        while end > i && !chars[end - 1].is_ascii_digit() {
            end -= 1;
        }
        // ...and so does an opening parenthesis the number does not close: "(0151 2345678)".
        if chars[i] == '(' && !chars[i..end].contains(&')') {
            out.push('(');
            i += 1;
            continue;
        }
        let digits = chars[i..end].iter().filter(|c| c.is_ascii_digit()).count();
        if digits >= 7 {
            out.push_str(REDACTED);
        } else {
            out.extend(&chars[i..end]);
        }
        i = end.max(i + 1);
    }
    out
}

/// What may stand between the digits of a phone number. Spaces and dashes include the
/// Unicode ones that editors and phones put between digit groups (no-break, figure, narrow
/// and thin spaces; non-breaking hyphen, en dash, minus), but not line breaks, which end a
/// number.
fn is_number_separator(c: char) -> bool {
    matches!(
        c,
        '+' | '.'
            | '/'
            | '('
            | ')'
            | ' '
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
            | '-'
            | '\u{2010}'..='\u{2015}'
            | '\u{2212}'
            | '\u{fe58}'
            | '\u{fe63}'
            | '\u{ff0d}'
    )
}

/// The length of the calendar date `chars` starts with (`2026-11-27`, `27.11.2026`,
/// `11/27/2026`), whose eight digits would otherwise read as a phone number.
fn date_at(chars: &[char]) -> Option<usize> {
    let group = |from: usize| {
        let len = chars[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let value: u32 = chars[from..from + len]
            .iter()
            .collect::<String>()
            .parse()
            .ok()?;
        Some((len, value))
    };
    let (len1, first) = group(0)?;
    let separator = *chars.get(len1).filter(|c| "-./".contains(**c))?;
    let (len2, second) = group(len1 + 1)?;
    if chars.get(len1 + 1 + len2) != Some(&separator) {
        return None;
    }
    let (len3, third) = group(len1 + len2 + 2)?;
    let day_and_month =
        |a: u32, b: u32| (1..=31).contains(&a) && (1..=31).contains(&b) && a.min(b) <= 12;
    let is_date = match (len1, len2, len3) {
        (4, 1..=2, 1..=2) => (1..=12).contains(&second) && (1..=31).contains(&third),
        (1..=2, 1..=2, 4) => day_and_month(first, second),
        _ => false,
    };
    is_date.then_some(len1 + len2 + len3 + 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lead::LeadStatus;

    fn lead(status: LeadStatus) -> Lead {
        Lead {
            id: 1,
            account_id: 1,
            channel_user_id: None,
            handle: "anna".into(),
            name: Some("Anna".into()),
            email: Some("a@example.com".into()),
            phone: Some("+4912345678".into()),
            notes: Some("met at fair".into()),
            status,
            score: None,
            tags: vec!["vip".into()],
            custom: [("bio".to_string(), "coach".to_string())].into(),
            dnc_reason: Some("said STOP".into()),
            created_at: 0,
            last_inbound_at: None,
            last_outbound_at: None,
        }
    }

    #[test]
    fn personal_fields_need_the_grant_and_a_contactable_lead() {
        let hidden = project_lead(&lead(LeadStatus::New), false);
        assert_eq!(
            (hidden.email, hidden.phone, hidden.notes),
            (None, None, None)
        );
        assert!(hidden.custom.is_empty());
        assert_eq!(hidden.name.as_deref(), Some("Anna"));
        let shown = project_lead(&lead(LeadStatus::New), true);
        assert_eq!(shown.email.as_deref(), Some("a@example.com"));
        assert_eq!(shown.custom.len(), 1);
        let dnc = project_lead(&lead(LeadStatus::DoNotContact), true);
        assert_eq!(dnc.email, None);
        assert_eq!(dnc.dnc_reason, None);
    }

    #[test]
    fn personal_data_is_redacted_from_outgoing_text() {
        let l = [lead(LeadStatus::New)];
        let text = "Hi, I'm at A@Example.com or +49 151 2345678. Re: met at fair, coach life. Order 12 arrives 3.5 days";
        assert_eq!(
            redact_personal(text, &l),
            "Hi, I'm at [redacted] or [redacted]. Re: [redacted], [redacted] life. Order 12 arrives 3.5 days"
        );
        assert_eq!(
            redact_personal("mail me: bob@shop.io!", &l),
            "mail me: [redacted]!"
        );
        assert_eq!(
            redact_personal("call (030) 123-4567 today", &l),
            "call [redacted] today"
        );
    }

    #[test]
    fn every_given_leads_values_are_redacted_longest_first() {
        let anna = lead(LeadStatus::New);
        let mut ben = lead(LeadStatus::New);
        ben.email = Some("ben@example.com".into());
        ben.phone = None;
        ben.notes = Some("lives in Hamburg".into());
        ben.custom = [("city".to_string(), "Hamburg".to_string())].into();
        assert_eq!(
            redact_personal("Anna: coach. Ben lives in Hamburg.", &[anna, ben]),
            "Anna: [redacted]. Ben [redacted]."
        );
    }

    #[test]
    fn phone_numbers_are_redacted_as_people_write_them() {
        let numbers = [
            ("DE", "0151 23456789"),
            ("DE", "+49 (0)151 2345 6789"),
            ("DE", "0151/2345/6789"),
            ("DE", "030 12345678"),
            ("DE, thin spaces", "+49\u{2009}151\u{2009}2345\u{2009}6789"),
            ("US", "(555) 010-2345"),
            ("US", "+1 555.010.2345"),
            ("US, no-break spaces", "+1\u{a0}(555)\u{a0}010\u{a0}2345"),
            ("US, non-breaking hyphens", "555\u{2011}010\u{2011}2345"),
            ("US", "+1-555-010-2345"),
            ("UK", "+44 20 7946 0958"),
            ("UK", "07700 900123"),
            ("FR", "06 12 34 56 78"),
            ("FR", "+33 6 12 34 56 78"),
            (
                "FR, narrow no-break spaces",
                "06\u{202f}12\u{202f}34\u{202f}56\u{202f}78",
            ),
            ("FR", "06.12.34.56.78"),
            ("IN", "+91 98765 43210"),
            ("BR", "+55 11 91234-5678"),
            ("JP", "090-1234-5678"),
            ("JP, en dashes", "03\u{2013}1234\u{2013}5678"),
            ("ES", "+34 612 34 56 78"),
            ("IT", "+39 312 345 6789"),
            ("NL", "06-12345678"),
            ("AU", "0412 345 678"),
            ("CN", "+86 138 0013 8000"),
            ("figure spaces", "0151\u{2007}2345\u{2007}6789"),
        ];
        for (origin, number) in numbers {
            for (text, expected) in [
                (
                    format!("Call me at {number} after work, thanks"),
                    "Call me at [redacted] after work, thanks",
                ),
                (format!("My number: {number}."), "My number: [redacted]."),
                (
                    format!("Reach me ({number}) today"),
                    "Reach me ([redacted]) today",
                ),
            ] {
                assert_eq!(
                    redact_personal(&text, &[]),
                    expected,
                    "{origin}: {number:?}"
                );
            }
        }
    }

    #[test]
    fn dates_prices_times_and_short_numbers_are_not_phone_numbers() {
        for text in [
            "See you on 2026-11-27 at 10:30.",
            "Booked for 27.11.2026, room 4/12",
            "Due 11/27/2026 or 27/11/2026",
            "From 2026-11-27 - 2026-12-03",
            "It costs 12.50 EUR, or $1,299.00 a year",
            "Order 12 arrives in 3.5 days",
            "Open 10:30-18:00, version 1.2.3",
        ] {
            assert_eq!(redact_personal(text, &[]), text);
        }
    }

    #[test]
    fn permission_names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
        }
        assert!(
            "leads:delete"
                .parse::<Permission>()
                .unwrap_err()
                .contains("leads:read-pii")
        );
    }
}
