//! Which version of the `outreach:plugin` contract a component was built for, read from the
//! names of what it imports and exports (`outreach:plugin/hooks@0.1.0`), and whether this
//! host speaks it. The runtime reads the names from the component
//! (`outreach_runtime::contract::spoken_by`) before linking, so a plugin built for another
//! version is refused with one sentence instead of the linker's list of missing imports.

use std::collections::BTreeSet;

/// The contract this host implements: `wit/plugin.wit`'s package version.
pub const HOST: Version = Version(0, 2, 0);

/// Every contract this host runs plugins of, oldest first: the frozen ones in
/// `wit/since_v*/`, each with its module in [`crate::bindings`], then [`HOST`].
pub const SPOKEN: [Version; 2] = [Version(0, 1, 0), HOST];

const PACKAGE: &str = "outreach:plugin/";

/// A `major.minor.patch` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u64, pub u64, pub u64);

impl Version {
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
        let version = Self(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(version)
    }

    /// The versions this one can stand in for, as semver has it: the same major, or under
    /// 1.0 the same minor.
    fn track(self) -> String {
        match self {
            Self(0, minor, _) => format!("0.{minor}.x"),
            Self(major, ..) => format!("{major}.x"),
        }
    }

    fn same_track(self, other: Self) -> bool {
        self.track() == other.track()
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Decides on the import and export names of a component.
pub fn check(names: &[&str], spoken: &[Version]) -> anyhow::Result<Version> {
    let versions: BTreeSet<&str> = names
        .iter()
        .filter_map(|name| name.strip_prefix(PACKAGE)?.split_once('@'))
        .map(|(_, version)| version)
        .collect();
    let first = match versions.len() {
        0 => anyhow::bail!(
            "not an outreach plugin: it neither imports nor exports any outreach:plugin \
             interface (a plugin exports outreach:plugin/hooks; see wit/plugin.wit)"
        ),
        1 => *versions.first().expect("one version"),
        _ => anyhow::bail!(
            "it mixes versions of outreach:plugin ({}); build it against one wit/ only",
            versions.into_iter().collect::<Vec<_>>().join(", ")
        ),
    };
    let Some(built_for) = Version::parse(first) else {
        anyhow::bail!("built for outreach:plugin@{first}, which is not a version number");
    };
    let newest = *spoken.last().expect("the host speaks its own contract");
    let Some(&track) = spoken.iter().find(|v| v.same_track(built_for)) else {
        anyhow::ensure!(
            built_for < newest,
            "built for outreach:plugin@{built_for}, newer than this host's {newest}: \
             upgrade outreach to run it"
        );
        anyhow::bail!(
            "built for outreach:plugin@{built_for}; this host speaks {}: rebuild the plugin \
             against this host's wit/ (or its SDK)",
            spoken
                .iter()
                .map(|v| v.track())
                .collect::<Vec<_>>()
                .join(" and ")
        );
    };
    anyhow::ensure!(
        built_for <= track,
        "built for outreach:plugin@{built_for}, newer than this host's {track}: it may call \
         what this host does not have; upgrade outreach"
    );
    Ok(built_for)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOOKS_01: &str = "outreach:plugin/hooks@0.1.0";
    const HOOKS_02: &str = "outreach:plugin/hooks@0.2.0";

    fn refusal(names: &[&str]) -> String {
        check(names, &SPOKEN).unwrap_err().to_string()
    }

    #[test]
    fn plugins_of_every_contract_the_host_speaks_are_accepted_with_their_version() {
        let names = [
            "wasi:cli/environment@0.2.6",
            "outreach:plugin/leads@0.1.0",
            HOOKS_01,
        ];
        assert_eq!(check(&names, &SPOKEN).unwrap(), Version(0, 1, 0));
        assert_eq!(check(&[HOOKS_02], &SPOKEN).unwrap(), Version(0, 2, 0));
        // A patch of a track the host already has is fine.
        assert_eq!(
            check(&[HOOKS_01], &[Version(0, 1, 3)]).unwrap(),
            Version(0, 1, 0)
        );
    }

    #[test]
    fn a_newer_contract_is_refused_in_one_sentence() {
        let message = refusal(&["outreach:plugin/hooks@0.3.0"]);
        assert_eq!(
            message,
            "built for outreach:plugin@0.3.0, newer than this host's 0.2.0: upgrade outreach \
             to run it"
        );
        let message = refusal(&["outreach:plugin/hooks@1.0.0"]);
        assert!(
            message.contains("newer than this host's 0.2.0"),
            "{message}"
        );
    }

    #[test]
    fn an_older_track_the_host_dropped_is_refused_with_what_it_speaks() {
        let message = refusal(&["outreach:plugin/hooks@0.0.9"]);
        assert!(
            message
                .starts_with("built for outreach:plugin@0.0.9; this host speaks 0.1.x and 0.2.x"),
            "{message}"
        );
    }

    #[test]
    fn a_newer_patch_than_the_host_is_refused() {
        let message = refusal(&["outreach:plugin/hooks@0.1.4"]);
        assert!(
            message.contains("newer than this host's 0.1.0"),
            "{message}"
        );
        let message = refusal(&["outreach:plugin/hooks@0.2.1"]);
        assert!(
            message.contains("newer than this host's 0.2.0"),
            "{message}"
        );
    }

    #[test]
    fn a_component_that_is_not_a_plugin_or_mixes_versions_is_refused() {
        let message = refusal(&["wasi:cli/run@0.2.6"]);
        assert!(message.starts_with("not an outreach plugin"), "{message}");
        let message = refusal(&[HOOKS_01, "outreach:plugin/leads@0.2.0"]);
        assert!(message.contains("mixes versions"), "{message}");
        let message = refusal(&["outreach:plugin/hooks@next"]);
        assert!(message.contains("not a version number"), "{message}");
    }
}
