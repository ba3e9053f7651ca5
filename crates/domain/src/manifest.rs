//! What a plugin declares about itself: its name, version, hooks and the permissions it
//! requests, and the checks it passes before anything is installed ([`check`]).

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

/// A manifest as a plugin's `manifest` export returned it, whichever contract version it
/// speaks (hooks and permissions by name), not checked yet.
#[derive(Debug, Clone)]
pub struct Declared {
    pub name: String,
    pub version: String,
    pub description: String,
    pub hooks: Vec<String>,
    pub permissions: Vec<String>,
}

/// Checks what the plugin declared; the error names the field. Every field is shown to
/// the user before anything is granted, so none may be long enough to push the
/// permission list off the screen or hold characters that rewrite the terminal.
pub fn check(m: Declared) -> Result<Manifest, String> {
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
    let mut hooks = names("hooks", &m.hooks)?;
    hooks.sort();
    hooks.dedup();
    let mut permissions: Vec<Permission> = names("permissions", &m.permissions)?;
    permissions.sort();
    permissions.dedup();
    Ok(Manifest {
        name: m.name,
        version: m.version,
        description: m.description,
        hooks,
        permissions,
    })
}

/// The hooks or permissions a manifest names; the error names the field and the first name
/// this host does not know (shown safely: it is the plugin's text).
fn names<T: std::str::FromStr<Err = String>>(
    field: &str,
    names: &[String],
) -> Result<Vec<T>, String> {
    names
        .iter()
        .map(|name| {
            name.parse().map_err(|why: String| {
                format!(
                    "manifest field `{field}`: {}",
                    crate::text::from_plugin(&why, 300)
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, version: &str, description: &str) -> Declared {
        Declared {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            hooks: vec!["reply".into()],
            permissions: vec!["messages:send".into()],
        }
    }

    #[test]
    fn fields_shown_before_granting_are_bounded_and_inert() {
        assert!(check(manifest("ok", "1.0.0", "Fine.")).is_ok());
        let hidden = "\u{1b}[8mrequests: nothing";
        let error = check(manifest("ok", "1.0.0", hidden)).unwrap_err();
        assert_eq!(
            error,
            "manifest field `description` contains the control character U+001B at character 1"
        );
        let error = check(manifest("ok", "1.0\u{202E}", "")).unwrap_err();
        assert!(
            error.starts_with("manifest field `version` contains"),
            "{error}"
        );
        let error = check(manifest("ok", "1", &"x".repeat(1 << 20))).unwrap_err();
        assert_eq!(
            error,
            "manifest field `description` has 1048576 characters; the limit is 1000"
        );
        let error = check(manifest(
            &format!("\u{1b}]0;{}", "x".repeat(1 << 20)),
            "1",
            "",
        ))
        .unwrap_err();
        assert!(error.len() < 300 && !error.contains('\u{1b}'), "{error}");
    }

    #[test]
    fn a_hook_or_permission_this_host_does_not_know_is_refused_by_name() {
        let mut unknown = manifest("ok", "1", "");
        unknown.permissions.push("comments:delete".into());
        let error = check(unknown).unwrap_err();
        assert!(
            error.starts_with(
                "manifest field `permissions`: unknown permission \"comments:delete\""
            ),
            "{error}"
        );
        let mut unknown = manifest("ok", "1", "");
        unknown.hooks = vec!["reply".into(), "\u{1b}[2Jcomment".into()];
        let error = check(unknown).unwrap_err();
        assert!(
            error.starts_with("manifest field `hooks`: ") && !error.contains('\u{1b}'),
            "{error}"
        );
    }
}
