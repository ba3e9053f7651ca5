//! What a plugin declares about itself: its name, version, hooks and the permissions it
//! requests.

use serde::{Deserialize, Serialize};

use super::permission::Permission;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    Filter,
    Reply,
    FollowUp,
}

impl Hook {
    pub const ALL: [Hook; 3] = [Self::Filter, Self::Reply, Self::FollowUp];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Filter => "filter",
            Self::Reply => "reply",
            Self::FollowUp => "follow-up",
        }
    }
}

impl std::str::FromStr for Hook {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|h| h.as_str() == text)
            .ok_or_else(|| format!("{text:?} is not a hook: filter, reply or follow-up"))
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
