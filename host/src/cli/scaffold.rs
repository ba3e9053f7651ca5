//! `outreach plugin new`: a plugin project that builds, tests and installs as written,
//! outside any workspace, with the SDK, the guest stack setting, a unit test per hook on the
//! SDK's fake host, and a lead for `outreach plugin call`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::runtime::manifest::Hook;

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name (lowercase letters, digits and dashes); also its directory.
    name: String,
    /// The language to write it in.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// The hooks it implements, comma-separated: filter, reply, follow-up.
    #[arg(long, value_delimiter = ',', default_value = "filter")]
    hooks: Vec<Hook>,
    /// Where the SDK is: a path to the `sdk` directory of an outreach checkout. Without it,
    /// the SDK this outreach was built from when it is still there, else the registry's.
    #[arg(long, value_name = "PATH")]
    sdk: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
}

pub fn new(args: NewArgs) -> anyhow::Result<()> {
    let name = valid_name(&args.name)?;
    match args.lang {
        Lang::Rust => {}
        Lang::Python | Lang::Js => anyhow::bail!(
            "this outreach writes Rust plugin projects only; a {:?} plugin can be built by hand \
             against wit/plugin.wit and tried with `outreach plugin call`",
            args.lang
        ),
    }
    let dir = Path::new(name);
    anyhow::ensure!(
        !dir.exists(),
        "{} already exists; choose another name or remove it",
        dir.display()
    );
    let sdk = sdk_dependency(args.sdk.as_deref())?;
    for (path, contents) in rust_project(name, &args.hooks, &sdk) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a file in the project"))?;
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "wrote {name}/ (hooks: {}; SDK: {})",
        args.hooks
            .iter()
            .map(|h| h.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        sdk.described
    );
    println!("  cd {name} && cargo test && cargo build --release --target wasm32-wasip2");
    println!(
        "  outreach plugin call target/wasm32-wasip2/release/{}.wasm --hook {} --lead lead.json --grant-requested",
        name.replace('-', "_"),
        args.hooks.first().map_or("filter", |h| h.as_str())
    );
    Ok(())
}

fn valid_name(name: &str) -> anyhow::Result<&str> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    anyhow::ensure!(
        ok,
        "plugin name {name:?}: use lowercase letters, digits and dashes, starting with a letter"
    );
    Ok(name)
}

/// How the project depends on the SDK.
struct Sdk {
    /// The dependency's value in Cargo.toml.
    spec: String,
    /// The same, with the fake host for unit tests.
    testing: String,
    described: String,
}

fn sdk_dependency(given: Option<&Path>) -> anyhow::Result<Sdk> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    let path = match given {
        Some(path) => Some(
            std::fs::canonicalize(path)
                .with_context(|| format!("--sdk {}: no such directory", path.display()))?,
        ),
        None => std::fs::canonicalize(&built_from).ok(),
    };
    let version = env!("CARGO_PKG_VERSION");
    Ok(match path {
        Some(path) => {
            anyhow::ensure!(
                path.join("Cargo.toml").exists(),
                "{} has no Cargo.toml: not the SDK",
                path.display()
            );
            let path = path.display().to_string().replace('\\', "/");
            Sdk {
                spec: format!("{{ version = \"{version}\", path = \"{path}\" }}"),
                testing: format!(
                    "{{ version = \"{version}\", path = \"{path}\", features = [\"testing\"] }}"
                ),
                described: path,
            }
        }
        None => Sdk {
            spec: format!("\"{version}\""),
            testing: format!("{{ version = \"{version}\", features = [\"testing\"] }}"),
            described: format!("outreach-sdk {version} from crates.io"),
        },
    })
}

/// The files of a Rust plugin project, by path in it.
fn rust_project(name: &str, hooks: &[Hook], sdk: &Sdk) -> Vec<(&'static str, String)> {
    let type_name: String = name
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    let has = |hook: Hook| hooks.contains(&hook);
    let mut imports = vec!["Hook", "Manifest", "Permission", "Plugin", "Result"];
    let mut permissions = Vec::new();
    if has(Hook::Filter) {
        imports.extend(["FilterDecision", "Lead", "settings"]);
        permissions.push("Permission::LeadsReadPii");
    }
    if has(Hook::Reply) {
        imports.extend(["Inbound", "ReplyAction", "settings", "template"]);
        permissions.push("Permission::MessagesSend");
    }
    if has(Hook::FollowUp) {
        imports.extend(["FollowUpAction", "FollowUpDue", "FollowUpSend", "template"]);
        permissions.push("Permission::MessagesSend");
    }
    imports.sort_by_key(|i| (i.starts_with(char::is_lowercase), *i));
    imports.dedup();
    permissions.dedup();
    let hook_variants: Vec<&str> = hooks
        .iter()
        .map(|h| match h {
            Hook::Filter => "Hook::Filter",
            Hook::Reply => "Hook::Reply",
            Hook::FollowUp => "Hook::FollowUp",
        })
        .collect();
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{type}}", &type_name)
            .replace("{{imports}}", &imports.join(", "))
            .replace("{{hooks}}", &hook_variants.join(", "))
            .replace("{{permissions}}", &permissions.join(", "))
            .replace("{{sdk}}", &sdk.spec)
            .replace("{{sdk_testing}}", &sdk.testing)
            .replace(
                "{{first_hook}}",
                hooks.first().map_or("filter", |h| h.as_str()),
            )
    };
    let mut lib = fill(include_str!("scaffold/lib_head.rs.tmpl"));
    let mut tests = String::new();
    for hook in Hook::ALL {
        if !has(hook) {
            continue;
        }
        let (code, test) = match hook {
            Hook::Filter => (
                include_str!("scaffold/filter.rs.tmpl"),
                include_str!("scaffold/filter_test.rs.tmpl"),
            ),
            Hook::Reply => (
                include_str!("scaffold/reply.rs.tmpl"),
                include_str!("scaffold/reply_test.rs.tmpl"),
            ),
            Hook::FollowUp => (
                include_str!("scaffold/follow_up.rs.tmpl"),
                include_str!("scaffold/follow_up_test.rs.tmpl"),
            ),
        };
        lib.push_str(&fill(code));
        tests.push_str(&fill(test));
    }
    lib.push_str(&fill(include_str!("scaffold/lib_tail.rs.tmpl")));
    lib.push_str(&tests);
    lib.push_str("}\n");
    vec![
        ("Cargo.toml", fill(include_str!("scaffold/Cargo.toml.tmpl"))),
        (
            ".cargo/config.toml",
            include_str!("scaffold/cargo-config.toml").into(),
        ),
        ("src/lib.rs", lib),
        ("lead.json", include_str!("scaffold/lead.json").into()),
        ("README.md", fill(include_str!("scaffold/README.md.tmpl"))),
        (".gitignore", "/target\n".into()),
    ]
}
