//! A plugin's manifest as the host stores and shows it, read from the component's own
//! `manifest` export and validated before anything is installed.

use crate::domain::manifest::{DESCRIPTION_MAX_CHARS, VERSION_MAX_CHARS};
pub use crate::domain::manifest::{Hook, Manifest};
use crate::domain::permission::Permission;

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
