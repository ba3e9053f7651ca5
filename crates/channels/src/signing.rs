//! HMAC-SHA256 request signatures in the `sha256=<hex>` form. Meta signs its webhooks this
//! way (`X-Hub-Signature-256`), and the bridge channel uses the same scheme both ways
//! (`X-Outreach-Signature`), so one implementation serves both.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const PREFIX: &str = "sha256=";

fn mac(key: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    mac
}

/// The header value for `body` signed with `secret`: `sha256=<hex>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!(
        "{PREFIX}{}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

/// The digest a `sha256=<hex>` header value claims; the error says what is wrong with it.
pub fn claimed_digest(value: Option<&str>, header: &str) -> Result<Vec<u8>, String> {
    let value = value.ok_or_else(|| format!("missing {header}"))?;
    let hex_digest = value
        .strip_prefix(PREFIX)
        .ok_or_else(|| "malformed signature: expected sha256=<hex digest>".to_string())?;
    let digest =
        hex::decode(hex_digest).map_err(|e| format!("malformed signature: not hex ({e})"))?;
    let expected = <Sha256 as Digest>::output_size();
    if digest.len() != expected {
        return Err(format!(
            "malformed signature: expected a {expected}-byte digest, got {} bytes",
            digest.len()
        ));
    }
    Ok(digest)
}

/// Whether `claimed` is the body's MAC under `secret`, compared in constant time.
pub fn verify(secret: &[u8], body: &[u8], claimed: &[u8]) -> bool {
    mac(secret, body).verify_slice(claimed).is_ok()
}
