//! A plugin's manifest as the host stores and shows it, read from the component's own
//! `manifest` export and validated before anything is installed.

use serde::{Deserialize, Serialize};

use super::bindings::wit;
use crate::consent::Permission;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    Filter,
    Reply,
    FollowUp,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Filter => "filter",
            Self::Reply => "reply",
            Self::FollowUp => "follow-up",
        }
    }
}

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

    /// Checks what the plugin declared; the error names the field.
    pub fn from_wit(m: wit::PluginManifest) -> Result<Self, String> {
        let name_ok = !m.name.is_empty()
            && m.name.len() <= 64
            && m.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return Err(format!(
                "manifest field `name` is {:?}; it must be 1-64 of lower-case letters, digits and '-'",
                m.name
            ));
        }
        if m.version.trim().is_empty() {
            return Err("manifest field `version` is empty".into());
        }
        let mut hooks: Vec<Hook> = m
            .hooks
            .into_iter()
            .map(|h| match h {
                wit::Hook::Filter => Hook::Filter,
                wit::Hook::Reply => Hook::Reply,
                wit::Hook::FollowUp => Hook::FollowUp,
            })
            .collect();
        hooks.sort();
        hooks.dedup();
        let mut permissions: Vec<Permission> =
            m.permissions.into_iter().map(Permission::from).collect();
        permissions.sort();
        permissions.dedup();
        Ok(Self {
            name: m.name,
            version: m.version,
            description: m.description,
            hooks,
            permissions,
        })
    }
}

mod permission_names {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::consent::Permission;

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
