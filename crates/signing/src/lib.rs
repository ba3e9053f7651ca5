//! Signed plugins: who built a component, and that nobody changed it since.
//!
//! A publisher signs a component with an Ed25519 key ([`KeyPair`]); the signature travels
//! inside the component, in a `signature` custom section written as the WebAssembly
//! tool-conventions `Signatures.md` describes (the format of `wasmsign2`, whose key files
//! this crate reads and writes too: see [`section`] for how it applies to components). A
//! host that trusts the publisher's public key ([`PublicKey`], under a name the user gave
//! it) accepts the component ([`verify`]); anything else is refused with the reason
//! ([`Refusal`]).

pub mod section;

use aws_lc_rs::digest::{Context, SHA256};
use aws_lc_rs::signature::{self as ed25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use self::section::{ED25519, ED25519_KEY_PAIR, Parts, Signature};

/// Why a component is not accepted as signed by a trusted publisher.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("it is not a WebAssembly component")]
    NotWasm,
    #[error("it is not signed")]
    Unsigned,
    #[error("its signature section is unreadable: {0}")]
    Malformed(String),
    #[error(
        "it is signed by a key this host does not trust (key {0}); trust the publisher with `outreach plugin keys add NAME KEY.pub`"
    )]
    UnknownKey(String),
    #[error("its signature by {0} does not verify: the signature was altered or forged")]
    BadSignature(String),
    #[error("it was changed after {0} signed it")]
    Changed(String),
}

/// A publisher's public key: `0x01 ‖ 32 bytes` as a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        match bytes {
            [ED25519, key @ ..] if key.len() == 32 => Ok(Self(key.try_into().expect("32"))),
            [ED25519_KEY_PAIR, ..] => {
                Err("this is a secret key; give the public one (the `.pub` file)".into())
            }
            _ => Err(format!(
                "not an Ed25519 public key (expected 33 bytes starting with 0x01, got {} bytes)",
                bytes.len()
            )),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![ED25519];
        out.extend_from_slice(&self.0);
        out
    }

    /// The key's identifier in signatures: the first 8 bytes of the SHA-256 of its file form.
    pub fn key_id(&self) -> Vec<u8> {
        aws_lc_rs::digest::digest(&SHA256, &self.to_bytes()).as_ref()[..8].to_vec()
    }

    /// The key identifier as people compare it: 16 hex digits.
    pub fn fingerprint(&self) -> String {
        hex::encode(self.key_id())
    }

    fn verifies(&self, message: &[u8], signature: &Signature) -> bool {
        signature.algorithm == ED25519
            && UnparsedPublicKey::new(&ed25519::ED25519, self.0)
                .verify(message, &signature.bytes)
                .is_ok()
    }
}

/// A publisher's signing key: `0x81 ‖ secret (32) ‖ public (32)` as a file.
pub struct KeyPair {
    pair: Ed25519KeyPair,
    seed: [u8; 32],
}

impl KeyPair {
    pub fn generate() -> Result<Self, String> {
        let mut seed = [0u8; 32];
        aws_lc_rs::rand::fill(&mut seed).map_err(|_| "no randomness for a new key")?;
        Self::from_seed(seed)
    }

    fn from_seed(seed: [u8; 32]) -> Result<Self, String> {
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|e| e.to_string())?;
        Ok(Self { pair, seed })
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        match bytes {
            [ED25519_KEY_PAIR, key @ ..] if key.len() == 64 => {
                let pair = Self::from_seed(key[..32].try_into().expect("32"))?;
                if pair.public().0 != key[32..] {
                    return Err("the key pair's public half does not match its secret".into());
                }
                Ok(pair)
            }
            [ED25519, ..] => Err("this is a public key; signing needs the secret one".into()),
            _ => Err(format!(
                "not an Ed25519 key pair (expected 65 bytes starting with 0x81, got {} bytes)",
                bytes.len()
            )),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![ED25519_KEY_PAIR];
        out.extend_from_slice(&self.seed);
        out.extend_from_slice(&self.public().0);
        out
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(
            self.pair
                .public_key()
                .as_ref()
                .try_into()
                .expect("Ed25519 public keys are 32 bytes"),
        )
    }
}

/// Shows the public half only: a secret never reaches a log or an error.
impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPair({})", self.public().fingerprint())
    }
}

/// A key this host trusts, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub publisher: String,
    pub key: PublicKey,
}

/// The SHA-256 of what a signature of `parts` covers.
fn covered_hash(parts: &Parts<'_>) -> [u8; 32] {
    let mut hash = Context::new(&SHA256);
    for part in parts.covered {
        hash.update(part);
    }
    hash.finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// `wasm` signed by `key`, replacing any signature it had.
pub fn sign(wasm: &[u8], key: &KeyPair) -> Result<Vec<u8>, String> {
    let parts = section::split(wasm)?;
    let hash = covered_hash(&parts);
    Ok(section::signed(&parts, hash, key.public().key_id(), |m| {
        key.pair.sign(m).as_ref().to_vec()
    }))
}

/// Unknown keys named in a refusal at most.
const UNKNOWN_KEYS_NAMED: usize = 3;

/// Who among `trusted` signed `wasm`, if its signature holds for the whole of it.
pub fn verify<'k>(wasm: &[u8], trusted: &'k [TrustedKey]) -> Result<&'k TrustedKey, Refusal> {
    if !section::is_wasm(wasm) {
        return Err(Refusal::NotWasm);
    }
    let parts = section::split(wasm).map_err(Refusal::Malformed)?;
    let payload = parts.signature.ok_or(Refusal::Unsigned)?;
    let sets = section::decode(payload).map_err(Refusal::Malformed)?;
    // The whole binary is hashed once, however many signatures there are.
    let covered = [covered_hash(&parts)];
    let mut unknown = Vec::new();
    let mut refusal = None;
    for set in &sets {
        let message = set.message();
        for signature in &set.signatures {
            if signature.algorithm != ED25519 {
                let why = format!(
                    "signature algorithm {} is not Ed25519 (1)",
                    signature.algorithm
                );
                refusal.get_or_insert(Refusal::Malformed(why));
                continue;
            }
            let candidates: Vec<&TrustedKey> = trusted
                .iter()
                .filter(|t| signature.key_id.is_empty() || t.key.key_id() == signature.key_id)
                .collect();
            if candidates.is_empty() {
                unknown.push(hex::encode(&signature.key_id));
                continue;
            }
            let Some(signer) = candidates
                .iter()
                .find(|t| t.key.verifies(&message, signature))
            else {
                let claimed = match candidates.as_slice() {
                    [one] => one.publisher.clone(),
                    _ => "a trusted publisher".to_owned(),
                };
                refusal.get_or_insert(Refusal::BadSignature(claimed));
                continue;
            };
            // A signature over hashes of parts (a partial signature) is not accepted: the
            // whole component must be what was signed.
            if set.hashes.as_slice() != covered {
                refusal = Some(Refusal::Changed(signer.publisher.clone()));
                continue;
            }
            return Ok(signer);
        }
    }
    // Without a trusted key the signer is unknown, but a component that no longer matches
    // the hashes it carries was changed after signing, whoever signed it.
    let intact = sets.iter().any(|set| set.hashes.as_slice() == covered);
    let named = match unknown.len() > UNKNOWN_KEYS_NAMED {
        true => format!(
            "{} and {} more",
            unknown[..UNKNOWN_KEYS_NAMED].join(", "),
            unknown.len() - UNKNOWN_KEYS_NAMED
        ),
        false => unknown.join(", "),
    };
    Err(
        refusal.unwrap_or_else(|| match (unknown.is_empty(), intact) {
            (true, _) => Refusal::Unsigned,
            (false, false) => Refusal::Changed("its publisher".into()),
            (false, true) => Refusal::UnknownKey(named),
        }),
    )
}

#[cfg(test)]
mod tests;
