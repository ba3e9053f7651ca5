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
