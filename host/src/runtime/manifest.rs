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

const VERSION_MAX_CHARS: usize = 64;
const DESCRIPTION_MAX_CHARS: usize = 1000;

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

    /// Checks what the plugin declared; the error names the field. Every field is shown to
    /// the user before anything is granted, so none may be long enough to push the
    /// permission list off the screen or hold characters that rewrite the terminal.
    pub fn from_wit(m: wit::PluginManifest) -> Result<Self, String> {
        let name_ok = !m.name.is_empty()
            && m.name.len() <= 64
            && m.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return Err(format!(
                "manifest field `name` is \"{}\"; it must be 1-64 of lower-case letters, digits and '-'",
                crate::text::from_plugin(&m.name, 80)
            ));
        }
        if m.version.trim().is_empty() {
            return Err("manifest field `version` is empty".into());
        }
        for (field, value, max_chars) in [
            ("version", &m.version, VERSION_MAX_CHARS),
            ("description", &m.description, DESCRIPTION_MAX_CHARS),
        ] {
            let chars = value.chars().count();
            if chars > max_chars {
                return Err(format!(
                    "manifest field `{field}` has {chars} characters; the limit is {max_chars}"
                ));
            }
            crate::text::reject_unsafe(value, false)
                .map_err(|why| format!("manifest field `{field}` {why}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, version: &str, description: &str) -> wit::PluginManifest {
        wit::PluginManifest {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            hooks: vec![wit::Hook::Reply],
            permissions: vec![wit::Permission::MessagesSend],
        }
    }

    #[test]
    fn fields_shown_before_granting_are_bounded_and_inert() {
        assert!(Manifest::from_wit(manifest("ok", "1.0.0", "Fine.")).is_ok());
        let hidden = "\u{1b}[8mrequests: nothing";
        let error = Manifest::from_wit(manifest("ok", "1.0.0", hidden)).unwrap_err();
        assert_eq!(
            error,
            "manifest field `description` contains the control character U+001B at character 1"
        );
        let error = Manifest::from_wit(manifest("ok", "1.0\u{202E}", "")).unwrap_err();
        assert!(
            error.starts_with("manifest field `version` contains"),
            "{error}"
        );
        let error = Manifest::from_wit(manifest("ok", "1", &"x".repeat(1 << 20))).unwrap_err();
        assert_eq!(
            error,
            "manifest field `description` has 1048576 characters; the limit is 1000"
        );
        let error = Manifest::from_wit(manifest(
            &format!("\u{1b}]0;{}", "x".repeat(1 << 20)),
            "1",
            "",
        ))
        .unwrap_err();
        assert!(error.len() < 300 && !error.contains('\u{1b}'), "{error}");
    }
}
