//! Conveniences on [`Lead`] for reading its name and imported columns.

use crate::Lead;

impl Lead {
    /// The first word of the lead's name, if it has a name.
    pub fn first_name(&self) -> Option<&str> {
        self.name.as_deref()?.split_whitespace().next()
    }

    /// The imported column `key` (matched ignoring ASCII case, as CSV headers vary).
    /// Custom fields are personal: they are empty unless the plugin holds `leads:read-pii`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.custom_fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}
