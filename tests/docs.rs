//! The architecture document is read by whoever carries the code on: every file or folder it
//! names must exist, so a move or a rename that forgets the document fails here.

use std::path::Path;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Paths in backquotes that start at one of the repository's top folders.
fn named_paths(text: &str) -> Vec<String> {
    const TOPS: [&str; 9] = [
        "host/",
        "crates/",
        "sdk/",
        "plugins/",
        "tests/",
        "examples/",
        "docs/",
        "vendor/",
        "wit/",
    ];
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|quoted| TOPS.iter().any(|top| quoted.starts_with(top)))
        .filter(|quoted| !quoted.contains(['<', '*', ' ']) && !quoted.contains("NNNN"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_path_the_architecture_document_names_exists() {
    let text = std::fs::read_to_string(Path::new(REPO).join("ARCHITECTURE.md")).unwrap();
    let paths = named_paths(&text);
    assert!(
        paths.len() > 50,
        "found only {} paths: {paths:?}",
        paths.len()
    );
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| !Path::new(REPO).join(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}

/// The outreach crates a crate's `[dependencies]` name (dev-dependencies left out).
fn outreach_dependencies(manifest: &str) -> Vec<String> {
    let mut in_dependencies = false;
    let mut found = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
        } else if in_dependencies && line.starts_with("outreach-") {
            found.push(line.split(['.', ' ', '=']).next().unwrap().to_owned());
        }
    }
    found.sort();
    found
}

/// The layers of ARCHITECTURE.md's table are what cargo builds: each crate depends on
/// exactly the crates the table says, so a dependency that runs up a layer (which cargo
/// itself allows when it makes no circle, say the AI client on the engine) fails here.
#[test]
fn each_crate_depends_on_the_layers_below_it_that_the_architecture_names() {
    let text = std::fs::read_to_string(Path::new(REPO).join("ARCHITECTURE.md")).unwrap();
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("| `outreach-"))
        .collect();
    assert!(rows.len() >= 7, "the layer table has {} rows", rows.len());
    let short = |name: &str| name.trim_start_matches("outreach-").to_owned();
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (name, folder, depends_on) = (cells[1].trim_matches('`'), cells[2], cells[4]);
        let manifest = Path::new(REPO)
            .join(folder.trim_matches('`'))
            .join("Cargo.toml");
        let manifest = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("{name}: {}: {e}", manifest.display()));
        let actual: Vec<String> = outreach_dependencies(&manifest)
            .iter()
            .map(|d| short(d))
            .collect();
        let mut documented: Vec<String> = if depends_on == "—" {
            Vec::new()
        } else {
            depends_on.split(", ").map(str::to_owned).collect()
        };
        documented.sort();
        assert_eq!(
            actual, documented,
            "{name} depends on {actual:?}; ARCHITECTURE.md says {depends_on:?}"
        );
    }
}
