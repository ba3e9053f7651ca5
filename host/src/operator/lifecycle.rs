//! A plugin's life after `plugin new`: whose signature the host trusts, installing or
//! upgrading a component with only the grants the user agreed to, and rolling an upgrade
//! back. Each change is one write transaction with its audit row, as in [`super::admin`].

use anyhow::Context as _;
use outreach_signing::{self as signing, PublicKey, Refusal, TrustedKey};

use crate::clock::Millis;
use crate::domain::permission::Permission;
use crate::runtime::bundled;
use crate::runtime::manifest::Manifest;
use crate::store::plugins::{Component, InstalledPlugin, PreviousVersion};
use crate::store::{self, Db};

/// The keys this host trusts: the bundled plugins' own, then those the user added.
pub fn trusted_keys(db: &Db) -> anyhow::Result<Vec<TrustedKey>> {
    let bundled = TrustedKey {
        publisher: bundled::PUBLISHER.into(),
        key: PublicKey::from_bytes(bundled::PUBLISHER_KEY).map_err(anyhow::Error::msg)?,
    };
    let added = db.read(store::publishers::list)?;
    let mut keys = vec![bundled];
    for k in added {
        let key = PublicKey::from_bytes(&k.public_key)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("the stored key of publisher {:?} is unreadable", k.name))?;
        keys.push(TrustedKey {
            publisher: k.name,
            key,
        });
    }
    Ok(keys)
}

/// Who signed `wasm`, among the publishers this host trusts. A component that is unsigned
/// or signed by an unknown key passes only with `allow_unsigned` (and has no publisher);
/// one whose signature does not hold (changed after signing, a forged signature, an
/// unreadable section) never does.
pub fn check_signature(
    db: &Db,
    wasm: &[u8],
    source: &str,
    allow_unsigned: bool,
) -> anyhow::Result<Option<String>> {
    let keys = trusted_keys(db)?;
    match signing::verify(wasm, &keys) {
        Ok(signer) => Ok(Some(signer.publisher.clone())),
        Err(Refusal::Unsigned | Refusal::UnknownKey(_)) if allow_unsigned => Ok(None),
        Err(why @ (Refusal::Unsigned | Refusal::UnknownKey(_))) => anyhow::bail!(
            "refusing {source}: {why}. Install it anyway only if you trust where it came from: `--allow-unsigned`"
        ),
        Err(why) => anyhow::bail!("refusing {source}: {why}"),
    }
}

/// What an install changed.
pub struct Installed {
    /// The version it replaced, if the plugin was installed already.
    pub replaced: Option<String>,
    /// Everything it holds now: grants kept from the version it replaced and those given.
    pub granted: Vec<Permission>,
}

/// What an install of `manifest`, signed by `publisher`, over `installed` (the version
/// installed now, if any) must ask the user for: on an upgrade by the installed version's
/// publisher, the permissions it newly requests (the rest stay granted as they are);
/// otherwise everything it requests.
pub fn to_ask_for(
    installed: Option<&InstalledPlugin>,
    manifest: &Manifest,
    publisher: Option<&str>,
) -> Vec<Permission> {
    let kept_from = installed.filter(|i| store::plugins::keeps_grants(i, publisher));
    (manifest.permissions.iter())
        .filter(|p| kept_from.is_none_or(|i| !i.manifest.permissions.contains(p)))
        .copied()
        .collect()
}

/// Installs `component` (an upgrade when a version is installed: that one is kept for a
/// rollback, with the grants it held) and grants `grants`, which the user agreed to.
pub fn install(
    db: &Db,
    actor: &str,
    component: &Component<'_>,
    grants: &[Permission],
    now: Millis,
) -> anyhow::Result<Installed> {
    let manifest = component.manifest;
    db.write(|tx| {
        let replaced = store::plugins::get(tx, &manifest.name)?.map(|p| p.manifest.version);
        store::plugins::install(tx, component, now)?;
        for p in grants {
            store::plugins::grant(tx, &manifest.name, *p, now)?;
        }
        let granted = store::plugins::require(tx, &manifest.name)?.granted;
        let (action, versions) = match &replaced {
            Some(old) => ("plugins.upgrade", format!("{old} → {}", manifest.version)),
            None => ("plugins.install", manifest.version.clone()),
        };
        let detail = format!(
            "{} {versions}, {}, sha256 {}; granted: {}",
            manifest.name,
            component
                .publisher
                .map_or("unsigned".to_owned(), |p| format!("signed by {p}")),
            component.sha256,
            super::admin::permission_names(&granted)
        );
        super::admin::audit(tx, actor, action, None, &detail, now)?;
        Ok(Installed { replaced, granted })
    })
}

/// Returns plugin `name` to the version its last upgrade replaced, with that version's
/// grants; audited. A version signed by a publisher this host no longer trusts is not
/// returned to.
pub fn rollback(db: &Db, actor: &str, name: &str, now: Millis) -> anyhow::Result<PreviousVersion> {
    let kept = db.read(|c| {
        let Some(back) = store::plugins::previous(c, name)? else {
            return Ok(None);
        };
        let wasm = store::plugins::wasm_of_version(c, name, &back.sha256)?;
        Ok(Some((back, wasm)))
    })?;
    if let Some((back, wasm)) = kept
        && let Some(publisher) = &back.publisher
    {
        let keys = trusted_keys(db)?;
        let still = signing::verify(&wasm, &keys).is_ok_and(|s| &s.publisher == publisher);
        anyhow::ensure!(
            still,
            "{name} {} was signed by {publisher}, whom this host no longer trusts: not returning to it",
            back.manifest.version
        );
    }
    db.write(|tx| {
        let from = store::plugins::require(tx, name)?.manifest.version;
        let back = store::plugins::rollback(tx, name, now)?;
        let detail = format!(
            "{name} {from} → {}; granted: {}",
            back.manifest.version,
            super::admin::permission_names(&back.granted)
        );
        super::admin::audit(tx, actor, "plugins.rollback", None, &detail, now)?;
        Ok(back)
    })
}

/// Trusts `key` as publisher `name`'s; audited.
pub fn add_key(
    db: &Db,
    actor: &str,
    name: &str,
    key: &PublicKey,
    now: Millis,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.trim().is_empty() && name != bundled::PUBLISHER,
        "give the publisher a name of your own (not empty, not {:?})",
        bundled::PUBLISHER
    );
    db.write(|tx| {
        store::publishers::add(tx, name, &key.to_bytes(), now)?;
        let detail = format!("{name}: key {}", key.fingerprint());
        super::admin::audit(tx, actor, "publishers.add", None, &detail, now)
    })
}

/// Stops trusting publisher `name`; audited. Plugins it signed stay installed.
pub fn remove_key(db: &Db, actor: &str, name: &str, now: Millis) -> anyhow::Result<()> {
    db.write(|tx| {
        anyhow::ensure!(
            store::publishers::remove(tx, name)?,
            "no publisher named {name:?} is trusted (see `outreach plugin keys list`)"
        );
        super::admin::audit(tx, actor, "publishers.remove", None, name, now)
    })
}
