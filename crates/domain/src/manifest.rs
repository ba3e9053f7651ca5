//! What a plugin declares about itself: its name, version, hooks and the permissions it
//! requests.

use serde::{Deserialize, Serialize};

use super::permission::Permission;

/// A hook a plugin implements: the SDK's own definition, names and all, so the two cannot
/// drift.
#[path = "../../../sdk/src/hook.rs"]
mod named;
pub use named::Hook;

impl std::str::FromStr for Hook {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::from_name(text)
            .ok_or_else(|| format!("{text:?} is not a hook: filter, reply or follow-up"))
    }
}

impl Serialize for Hook {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Hook {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

pub const VERSION_MAX_CHARS: usize = 64;
pub const DESCRIPTION_MAX_CHARS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub description: String,
    pub hooks: Vec<Hook>,
    #[serde(with = "permission_names")]
    pub permissions: Vec<Permission>,
}

impl Manifest {
    pub fn permission_list(&self) -> String {
        if self.permissions.is_empty() {
            return "nothing".into();
        }
        self.permissions
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

mod permission_names {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::permission::Permission;

    pub fn serialize<S: Serializer>(perms: &[Permission], s: S) -> Result<S::Ok, S::Error> {
        perms.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Permission>, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        names
            .iter()
            .map(|n| n.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}
