//! Credentials at rest: channel tokens and bridge secrets are sealed with
//! ChaCha20-Poly1305 under a key from the environment variable `OUTREACH_SECRET_KEY`
//! before they touch the database, and opened only to make a request. Nothing here is
//! ever printed, logged or exported.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::Digest as _;

pub const KEY_ENV: &str = "OUTREACH_SECRET_KEY";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "{KEY_ENV} is not set: it holds the key that encrypts account credentials (any long random string)"
    )]
    NoKey,
    #[error("{KEY_ENV} is shorter than 16 characters")]
    WeakKey,
    #[error(
        "stored credentials cannot be decrypted: {KEY_ENV} is not the key they were saved with"
    )]
    WrongKey,
}

/// The key that seals credentials.
pub struct SecretKey(ChaCha20Poly1305);

impl SecretKey {
    /// From `OUTREACH_SECRET_KEY` (any string of 16 or more characters; it is hashed into a key).
    pub fn from_env() -> Result<Self, SecretError> {
        Self::from_passphrase(&std::env::var(KEY_ENV).map_err(|_| SecretError::NoKey)?)
    }

    pub fn from_passphrase(passphrase: &str) -> Result<Self, SecretError> {
        if passphrase.chars().count() < 16 {
            return Err(SecretError::WeakKey);
        }
        let digest = sha2::Sha256::digest(passphrase.as_bytes());
        Ok(Self(ChaCha20Poly1305::new(Key::from_slice(&digest))))
    }

    /// A random nonce followed by the ciphertext.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .0
            .encrypt(&nonce, plaintext)
            .expect("sealing in memory cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        if sealed.len() < NONCE_LEN {
            return Err(SecretError::WrongKey);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_credentials_open_only_with_the_same_key() {
        let key = SecretKey::from_passphrase("correct horse battery staple").unwrap();
        let sealed = key.seal(b"IGQVJ-token");
        assert!(
            !sealed.windows(5).any(|w| w == b"IGQVJ"),
            "no plaintext in the sealed bytes"
        );
        assert_eq!(key.open(&sealed).unwrap(), b"IGQVJ-token");
        let other = SecretKey::from_passphrase("another long passphrase").unwrap();
        assert!(matches!(other.open(&sealed), Err(SecretError::WrongKey)));
        assert!(matches!(
            SecretKey::from_passphrase("short"),
            Err(SecretError::WeakKey)
        ));
    }
}
