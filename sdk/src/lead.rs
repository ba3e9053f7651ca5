//! Conveniences on [`Lead`] for reading its name and imported columns.

use crate::Lead;

impl crate::template::Variables for Lead {
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn handle(&self) -> &str {
        &self.handle
    }
    fn field(&self, key: &str) -> Option<&str> {
        Lead::field(self, key)
    }
}

impl Lead {
    /// The first word of the lead's name, if it has a name.
    pub fn first_name(&self) -> Option<&str> {
        crate::template::Variables::first_name(self)
    }

    /// The imported column `key` (matched ignoring ASCII case, as CSV headers vary).
    /// Custom fields are personal: they are empty unless the plugin holds `leads:read-pii`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.custom_fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The field `key` read as a count the way people write one in a spreadsheet: "800",
    /// "12,300", "12.3k", "12,3k", "1.2M". `None` when the field is missing (or not
    /// readable without `leads:read-pii`) or is not a count.
    pub fn count(&self, key: &str) -> Option<f64> {
        parse_count(self.field(key)?)
    }
}

/// Parses counts as people write them: "800", "12,300", "12.3k", "12,3k", "1.2M".
pub fn parse_count(raw: &str) -> Option<f64> {
    let raw = raw.trim().to_lowercase();
    let (number, scale) = if let Some(n) = raw.strip_suffix('k') {
        (n, 1e3)
    } else if let Some(n) = raw.strip_suffix('m') {
        (n, 1e6)
    } else {
        (raw.as_str(), 1.0)
    };
    // Before a suffix a comma is a decimal mark ("12,3k"); in a plain number it groups
    // thousands ("12,300").
    let number = if scale > 1.0 {
        number.replace(',', ".")
    } else {
        number.replace(',', "")
    };
    let count: f64 = number.trim().parse().ok()?;
    (count.is_finite() && count >= 0.0).then_some(count * scale)
}

#[cfg(test)]
mod tests {
    use super::parse_count;

    #[test]
    fn parses_counts_as_people_write_them() {
        assert_eq!(parse_count("800"), Some(800.0));
        assert_eq!(parse_count(" 12,300 "), Some(12_300.0));
        assert_eq!(parse_count("12.3k"), Some(12_300.0));
        assert_eq!(parse_count("12,3K"), Some(12_300.0));
        assert_eq!(parse_count("1.5M"), Some(1_500_000.0));
        assert_eq!(parse_count("3.2k"), Some(3_200.0));
        assert_eq!(parse_count("lots"), None);
        assert_eq!(parse_count("-5"), None);
        assert_eq!(parse_count("k"), None);
    }
}
