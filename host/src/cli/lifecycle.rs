//! `outreach plugin sign | keys | publish | rollback`: signing a component as its
//! publisher, the publishers this host trusts, pushing a component to an OCI registry, and
//! returning to the version an upgrade replaced.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use outreach_registry::{self as registry, Reference};
use outreach_signing::{KeyPair, PublicKey};

use super::App;
use super::data::OPERATOR;
use super::output::{json, safe, table};
use super::plugin_args::names;
use crate::operator::lifecycle;
use crate::runtime::bundled;

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The component (.wasm) to sign.
    file: PathBuf,
    /// Your key pair file (from `outreach plugin keys new`).
    #[arg(long)]
    key: PathBuf,
    /// Where to write the signed component (default: over FILE).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a publisher key pair: FILE (secret: keep it to yourself) and FILE.pub (give it
    /// to those who install your plugins). The format is wasmsign2's.
    New { file: PathBuf },
    /// Trust the public key in FILE as publisher NAME's.
    Add { name: String, file: PathBuf },
    /// The trusted publishers, the bundled plugins' own first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting publisher NAME (plugins it signed stay installed).
    Remove { name: String },
}

fn read_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))
}

pub fn sign(args: SignArgs) -> anyhow::Result<()> {
    let key = KeyPair::from_bytes(&read_key_file(&args.key)?)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot sign with {}", args.key.display()))?;
    let wasm = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let signed = outreach_signing::sign(&wasm, &key)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot sign {}", args.file.display()))?;
    let output = args.output.as_ref().unwrap_or(&args.file);
    std::fs::write(output, signed).with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "signed {} with key {}",
        output.display(),
        key.public().fingerprint()
    );
    Ok(())
}

pub fn keys(app: &App, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::New { file } => new_key(&file),
        KeysCommand::Add { name, file } => {
            let key = PublicKey::from_bytes(&read_key_file(&file)?)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("cannot trust {}", file.display()))?;
            lifecycle::add_key(&app.db, OPERATOR, &name, &key, app.now())?;
            println!(
                "trusting {} as {} (key {})",
                file.display(),
                safe(&name),
                key.fingerprint()
            );
            Ok(())
        }
        KeysCommand::List { json: as_json } => {
            let keys = lifecycle::trusted_keys(&app.db)?;
            let rows: Vec<[String; 2]> = keys
                .iter()
                .map(|k| [k.publisher.clone(), k.key.fingerprint()])
                .collect();
            if as_json {
                let listed: Vec<_> = rows
                    .iter()
                    .map(|[publisher, key]| serde_json::json!({"publisher": publisher, "key": key}))
                    .collect();
                return json(&listed);
            }
            let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
            table(&["PUBLISHER", "KEY"], &rows);
            Ok(())
        }
        KeysCommand::Remove { name } => {
            anyhow::ensure!(
                name != bundled::PUBLISHER,
                "the bundled plugins' key is part of this binary and cannot be removed"
            );
            lifecycle::remove_key(&app.db, OPERATOR, &name, app.now())?;
            println!("no longer trusting {}", safe(&name));
            Ok(())
        }
    }
}

fn new_key(file: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let public_file = PathBuf::from(format!("{}.pub", file.display()));
    let pair = KeyPair::generate().map_err(anyhow::Error::msg)?;
    // Readable by its owner only, and never over an existing key.
    let mut secret = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("cannot create {}", file.display()))?;
    secret.write_all(&pair.to_bytes())?;
    std::fs::write(&public_file, pair.public().to_bytes())
        .with_context(|| format!("cannot write {}", public_file.display()))?;
    println!(
        "made key {}: secret in {} (keep it to yourself), public in {}",
        pair.public().fingerprint(),
        file.display(),
        public_file.display()
    );
    Ok(())
}

pub async fn publish(app: &App, file: &str, reference: &str) -> anyhow::Result<()> {
    let reference: Reference = reference.parse()?;
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {file}"))?;
    let manifest = app
        .runtime()?
        .read_manifest(&wasm, app.services())
        .await
        .with_context(|| format!("cannot publish {file}"))?;
    // Refuses a component whose signature no longer holds; an unsigned one (or one signed
    // by a key this host does not know) may go, and is said to be.
    let publisher = lifecycle::check_signature(&app.db, &wasm, file, true)?;
    let mut client = registry::Client::new(reference.clone(), registry::Credentials::from_env())?;
    let pushed = client
        .push(
            &wasm,
            &[
                ("org.opencontainers.image.title", &manifest.name),
                ("org.opencontainers.image.version", &manifest.version),
                (
                    "org.opencontainers.image.description",
                    &manifest.description,
                ),
            ],
        )
        .await
        .with_context(|| format!("cannot publish {file} to {reference}"))?;
    println!(
        "published {} {} to {reference} ({}); the component is {}",
        safe(&manifest.name),
        safe(&manifest.version),
        match &publisher {
            Some(p) => format!("signed by {}", safe(p)),
            None => "not signed by a publisher this host trusts".into(),
        },
        pushed.layer_digest
    );
    println!(
        "  this push exactly: oci://{}/{}@{}",
        reference.registry, reference.repository, pushed.manifest_digest
    );
    Ok(())
}

pub fn rollback(app: &App, name: &str) -> anyhow::Result<()> {
    let back = lifecycle::rollback(&app.db, OPERATOR, name, app.now())?;
    println!(
        "{} is back at {}; granted: {}",
        safe(name),
        safe(&back.manifest.version),
        names(&back.granted)
    );
    Ok(())
}
