//! `outreach plugin new`: a plugin project that builds, tests and installs as written,
//! outside any workspace, with a unit test per hook and a lead for `outreach plugin call`.
//! Rust: the SDK, the guest stack setting, tests on the SDK's fake host. Python:
//! componentize-py, the contract in `wit/`, tests that run natively on its bindings.
//! JavaScript: componentize-js pinned in package.json, node tests with the host's imports
//! resolved to a fake.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::domain::manifest::Hook;
use crate::domain::permission::Permission;

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
    let dir = Path::new(name);
    anyhow::ensure!(
        !dir.exists(),
        "{} already exists; choose another name or remove it",
        dir.display()
    );
    let first_hook = args.hooks.first().map_or("filter", |h| h.as_str());
    let hook_list = args
        .hooks
        .iter()
        .map(|h| h.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let (files, wasm, built_with, build) = match args.lang {
        Lang::Rust => {
            let sdk = sdk_dependency(args.sdk.as_deref())?;
            (
                rust_project(name, &args.hooks, &sdk),
                format!(
                    "target/wasm32-wasip2/release/{}.wasm",
                    name.replace('-', "_")
                ),
                format!("SDK: {}", sdk.described),
                "cargo test && cargo build --release --target wasm32-wasip2".to_string(),
            )
        }
        Lang::Python => (
            python_project(name, &args.hooks),
            format!("{name}.wasm"),
            format!("componentize-py {COMPONENTIZE_PY}"),
            format!(
                "componentize-py -d wit -w plugin bindings . && python3 -m unittest test_app && componentize-py -d wit -w plugin componentize app -o {name}.wasm"
            ),
        ),
        Lang::Js => (
            js_project(name, &args.hooks),
            format!("{name}.wasm"),
            format!("componentize-js {COMPONENTIZE_JS}"),
            "npm install && npm test && npm run build".to_string(),
        ),
    };
    for (path, contents) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a file in the project"))?;
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("wrote {name}/ (hooks: {hook_list}; {built_with})");
    println!("  cd {name} && {build}");
    println!(
        "  outreach plugin call {wasm} --hook {first_hook} --lead lead.json --grant-requested"
    );
    Ok(())
}

/// The componentize-py the Python projects are written for and checked with.
const COMPONENTIZE_PY: &str = "0.25.1";

/// The componentize-js (and the WASI shim it loads) the JavaScript projects pin.
const COMPONENTIZE_JS: &str = "0.23.0";
const PREVIEW2_SHIM: &str = "0.25.0";

/// What a plugin with these hooks asks for: the filter reads custom fields (personal), the
/// reply and follow-up send.
fn requested_permissions(hooks: &[Hook]) -> Vec<Permission> {
    let mut permissions = Vec::new();
    if hooks.contains(&Hook::Filter) {
        permissions.push(Permission::LeadsReadPii);
    }
    if hooks.contains(&Hook::Reply) || hooks.contains(&Hook::FollowUp) {
        permissions.push(Permission::MessagesSend);
    }
    permissions
}

/// The files of a JavaScript plugin project, by path in it.
fn js_project(name: &str, hooks: &[Hook]) -> Vec<(&'static str, String)> {
    let quoted = |items: Vec<String>| {
        items
            .iter()
            .map(|item| format!("'{item}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let hook_names = quoted(hooks.iter().map(|h| h.as_str().to_string()).collect());
    let permissions = quoted(
        requested_permissions(hooks)
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
    );
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{hooks}}", &hook_names)
            .replace("{{permissions}}", &permissions)
            .replace("{{componentize_js}}", COMPONENTIZE_JS)
            .replace("{{preview2_shim}}", PREVIEW2_SHIM)
            .replace(
                "{{first_hook}}",
                hooks.first().map_or("filter", |h| h.as_str()),
            )
    };
    let mut app = fill(include_str!("scaffold/js/app_head.js.tmpl"));
    let mut tests = fill(include_str!("scaffold/js/test_head.js.tmpl"));
    for hook in Hook::ALL {
        let (code, test, export) = match hook {
            Hook::Filter => (
                include_str!("scaffold/js/filter.js.tmpl"),
                include_str!("scaffold/js/filter_test.js.tmpl"),
                "filter",
            ),
            Hook::Reply => (
                include_str!("scaffold/js/reply.js.tmpl"),
                include_str!("scaffold/js/reply_test.js.tmpl"),
                "reply",
            ),
            Hook::FollowUp => (
                include_str!("scaffold/js/follow_up.js.tmpl"),
                include_str!("scaffold/js/follow_up_test.js.tmpl"),
                "followUp",
            ),
        };
        if hooks.contains(&hook) {
            app.push_str(&fill(code));
            tests.push_str(&fill(test));
        } else {
            app.push_str(
                &fill(include_str!("scaffold/js/missing.js.tmpl"))
                    .replace("{{method}}", export)
                    .replace("{{hook}}", hook.as_str()),
            );
        }
    }
    app.push_str("};\n");
    vec![
        (
            "package.json",
            fill(include_str!("scaffold/js/package.json.tmpl")),
        ),
        ("app.js", app),
        ("test/app.test.js", tests),
        (
            "test/register.mjs",
            include_str!("scaffold/js/register.mjs").into(),
        ),
        (
            "test/resolve-host.mjs",
            include_str!("scaffold/js/resolve-host.mjs").into(),
        ),
        (
            "test/fake-host.mjs",
            include_str!("scaffold/js/fake-host.mjs").into(),
        ),
        ("wit/plugin.wit", CONTRACT.into()),
        ("lead.json", include_str!("scaffold/lead.json").into()),
        (
            "README.md",
            fill(include_str!("scaffold/js/README.md.tmpl")),
        ),
        (".gitignore", "/node_modules/\n*.wasm\n".into()),
    ]
}

/// The contract, for the projects whose tools read it from `wit/`.
const CONTRACT: &str = include_str!("../../../sdk/wit/plugin.wit");

/// The files of a Python plugin project, by path in it.
fn python_project(name: &str, hooks: &[Hook]) -> Vec<(&'static str, String)> {
    let hook_names: Vec<String> = hooks
        .iter()
        .map(|h| format!("\"{}\"", h.as_str()))
        .collect();
    let permissions: Vec<String> = requested_permissions(hooks)
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect();
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{hooks}}", &hook_names.join(", "))
            .replace("{{permissions}}", &permissions.join(", "))
            .replace("{{componentize_py}}", COMPONENTIZE_PY)
            .replace(
                "{{first_hook}}",
                hooks.first().map_or("filter", |h| h.as_str()),
            )
    };
    let mut app = fill(include_str!("scaffold/python/app_head.py.tmpl"));
    let mut tests = fill(include_str!("scaffold/python/test_head.py.tmpl"));
    for hook in Hook::ALL {
        let (code, test) = match hook {
            Hook::Filter => (
                include_str!("scaffold/python/filter.py.tmpl"),
                include_str!("scaffold/python/filter_test.py.tmpl"),
            ),
            Hook::Reply => (
                include_str!("scaffold/python/reply.py.tmpl"),
                include_str!("scaffold/python/reply_test.py.tmpl"),
            ),
            Hook::FollowUp => (
                include_str!("scaffold/python/follow_up.py.tmpl"),
                include_str!("scaffold/python/follow_up_test.py.tmpl"),
            ),
        };
        if hooks.contains(&hook) {
            app.push_str(&fill(code));
            tests.push_str(&fill(test));
        } else {
            // componentize-py needs every export; a hook not asked for is never called.
            app.push_str(
                &fill(include_str!("scaffold/python/missing.py.tmpl"))
                    .replace("{{method}}", &hook.as_str().replace('-', "_"))
                    .replace("{{hook}}", hook.as_str()),
            );
        }
    }
    vec![
        ("app.py", app),
        ("test_app.py", tests),
        ("wit/plugin.wit", CONTRACT.into()),
        ("lead.json", include_str!("scaffold/lead.json").into()),
        (
            "README.md",
            fill(include_str!("scaffold/python/README.md.tmpl")),
        ),
        (
            ".gitignore",
            "/wit_world/\n/componentize_py_*\n/poll_loop.py\n__pycache__/\n*.wasm\n".into(),
        ),
    ]
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
    if has(Hook::Filter) {
        imports.extend(["FilterDecision", "Lead", "settings"]);
    }
    if has(Hook::Reply) {
        imports.extend(["Inbound", "ReplyAction", "settings", "template"]);
    }
    if has(Hook::FollowUp) {
        imports.extend(["FollowUpAction", "FollowUpDue", "FollowUpSend", "template"]);
    }
    imports.sort_by_key(|i| (i.starts_with(char::is_lowercase), *i));
    imports.dedup();
    let permissions: Vec<String> = requested_permissions(hooks)
        .iter()
        .map(|p| format!("Permission::{p:?}"))
        .collect();
    let hook_variants: Vec<String> = hooks.iter().map(|h| format!("Hook::{h:?}")).collect();
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
