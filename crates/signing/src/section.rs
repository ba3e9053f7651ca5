//! The `signature` custom section of a WebAssembly binary, in the format of the WebAssembly
//! tool-conventions (`Signatures.md`, what `wasmsign2` writes), without any cryptography:
//! finding the section, reading and writing its payload, and the bytes a signature covers.
//! The runtime's build script includes this file to sign the bundled plugins.
//!
//! A component is laid out like a module (an 8-byte preamble, then sections of an id, a
//! LEB128 size and a payload; custom sections have id 0 in both), so the format applies as
//! written. Only whole-binary signatures are made and accepted: one part, one hash, no
//! delimiters. The hash covers the preamble and every section after the signature section,
//! so a signed component can be neither changed nor turned into another kind of binary.

/// The name of the custom section holding signatures.
pub const SECTION_NAME: &str = "signature";
/// What every signature signs first (the format's domain separation).
const DOMAIN: &[u8] = b"wasmsig";
const SPEC_VERSION: u8 = 0x01;
/// `0x01` is the only content type the format defines ("WebAssembly modules"); the
/// preamble inside the hash tells a component from a module.
const CONTENT_TYPE: u8 = 0x01;
const HASH_SHA256: u8 = 0x01;
/// The format's identifier of Ed25519, for signatures and public keys.
pub const ED25519: u8 = 0x01;
/// The identifier of a serialized Ed25519 key pair.
pub const ED25519_KEY_PAIR: u8 = 0x81;

const PREAMBLE_LEN: usize = 8;
/// Sets of hashes, and signatures in a set, read at most: more is refused unread, so a
/// crafted section cannot make verification work for long.
const MAX_SETS: u32 = 8;
const MAX_SIGNATURES: u32 = 16;
const MAGIC: &[u8] = b"\0asm";

/// A binary split around its leading signature section.
pub struct Parts<'a> {
    /// The payload of the signature section, when the binary starts with one.
    pub signature: Option<&'a [u8]>,
    /// The preamble and every section after the signature section: what the hash covers.
    pub covered: [&'a [u8]; 2],
}

/// One signature: who made it (an identifier of the key, may be empty) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub key_id: Vec<u8>,
    pub algorithm: u8,
    pub bytes: Vec<u8>,
}

/// A set of hashes and the signatures over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHashes {
    pub hashes: Vec<[u8; 32]>,
    pub signatures: Vec<Signature>,
}

impl SignedHashes {
    /// What each signature of this set signs.
    pub fn message(&self) -> Vec<u8> {
        message(&self.hashes)
    }
}

/// What a signature over `hashes` signs.
pub fn message(hashes: &[[u8; 32]]) -> Vec<u8> {
    let mut m = DOMAIN.to_vec();
    m.extend([SPEC_VERSION, CONTENT_TYPE, HASH_SHA256]);
    for h in hashes {
        m.extend_from_slice(h);
    }
    m
}

/// Whether `bytes` start as a WebAssembly module or component does.
pub fn is_wasm(bytes: &[u8]) -> bool {
    bytes.len() >= PREAMBLE_LEN && &bytes[..4] == MAGIC
}

/// `parts` as a binary signed by one signature: `hash` is the SHA-256 of what `parts`
/// covers, `sign` makes an Ed25519 signature of the bytes it is given with the key whose
/// identifier is `key_id`.
pub fn signed(
    parts: &Parts<'_>,
    hash: [u8; 32],
    key_id: Vec<u8>,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    let hashes = vec![hash];
    let bytes = sign(&message(&hashes));
    let payload = encode(&[SignedHashes {
        hashes,
        signatures: vec![Signature {
            key_id,
            algorithm: ED25519,
            bytes,
        }],
    }]);
    embed(parts, &payload)
}

/// Splits `wasm` into its signature section (if it starts with one) and what is covered.
pub fn split(wasm: &[u8]) -> Result<Parts<'_>, String> {
    if !is_wasm(wasm) {
        return Err("not a WebAssembly binary (no `\\0asm` preamble)".into());
    }
    let (preamble, sections) = wasm.split_at(PREAMBLE_LEN);
    let unsigned = Parts {
        signature: None,
        covered: [preamble, sections],
    };
    let Some((&0, after_id)) = sections.split_first() else {
        return Ok(unsigned);
    };
    let (size, size_len) = read_u32(after_id).ok_or("the first section's size is unreadable")?;
    let payload = after_id
        .get(size_len..size_len + size as usize)
        .ok_or("the first section runs past the end of the file")?;
    let (name_len, name_len_len) =
        read_u32(payload).ok_or("a custom section's name is unreadable")?;
    let name = payload.get(name_len_len..name_len_len + name_len as usize);
    if name != Some(SECTION_NAME.as_bytes()) {
        return Ok(unsigned);
    }
    let rest = &after_id[size_len + size as usize..];
    Ok(Parts {
        signature: Some(&payload[name_len_len + name_len as usize..]),
        covered: [preamble, rest],
    })
}

/// Reads a signature section's payload.
pub fn decode(payload: &[u8]) -> Result<Vec<SignedHashes>, String> {
    let mut r = Reader(payload);
    let header = (r.byte()?, r.byte()?, r.byte()?);
    if header != (SPEC_VERSION, CONTENT_TYPE, HASH_SHA256) {
        return Err(format!(
            "signature format {}.{}.{} is not one this host reads (1.1.1: version 1, WebAssembly, SHA-256)",
            header.0, header.1, header.2
        ));
    }
    let mut sets = Vec::new();
    for _ in 0..r.count_up_to(MAX_SETS, "sets of hashes")? {
        let mut hashes = Vec::new();
        for _ in 0..r.count()? {
            hashes.push(r.take(32)?.try_into().expect("32 bytes"));
        }
        let mut signatures = Vec::new();
        for _ in 0..r.count_up_to(MAX_SIGNATURES, "signatures")? {
            let key_id = r.vec()?;
            let algorithm = r.byte()?;
            let bytes = r.vec()?;
            signatures.push(Signature {
                key_id,
                algorithm,
                bytes,
            });
        }
        sets.push(SignedHashes { hashes, signatures });
    }
    if !r.0.is_empty() {
        return Err("the signature section has bytes after its last signature".into());
    }
    Ok(sets)
}

/// Writes a signature section's payload.
pub fn encode(sets: &[SignedHashes]) -> Vec<u8> {
    let mut out = vec![SPEC_VERSION, CONTENT_TYPE, HASH_SHA256];
    write_u32(&mut out, sets.len() as u32);
    for set in sets {
        write_u32(&mut out, set.hashes.len() as u32);
        for h in &set.hashes {
            out.extend_from_slice(h);
        }
        write_u32(&mut out, set.signatures.len() as u32);
        for s in &set.signatures {
            write_u32(&mut out, s.key_id.len() as u32);
            out.extend_from_slice(&s.key_id);
            out.push(s.algorithm);
            write_u32(&mut out, s.bytes.len() as u32);
            out.extend_from_slice(&s.bytes);
        }
    }
    out
}

/// The binary whose parts are `parts` with `payload` as its (new) signature section.
pub fn embed(parts: &Parts<'_>, payload: &[u8]) -> Vec<u8> {
    let [preamble, rest] = parts.covered;
    let mut section = Vec::new();
    write_u32(&mut section, SECTION_NAME.len() as u32);
    section.extend_from_slice(SECTION_NAME.as_bytes());
    section.extend_from_slice(payload);
    let mut out = Vec::with_capacity(preamble.len() + section.len() + rest.len() + 6);
    out.extend_from_slice(preamble);
    out.push(0);
    write_u32(&mut out, section.len() as u32);
    out.extend_from_slice(&section);
    out.extend_from_slice(rest);
    out
}

fn read_u32(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(5) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return u32::try_from(value).ok().map(|v| (v, i + 1));
        }
    }
    None
}

fn write_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("the signature section ends too early".into());
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }

    fn count(&mut self) -> Result<u32, String> {
        let (value, len) =
            read_u32(self.0).ok_or("a count in the signature section is unreadable")?;
        self.0 = &self.0[len..];
        // Every counted item takes at least a byte: a count larger than what is left is a lie
        // (and must not make anyone allocate for it).
        if value as usize > self.0.len() {
            return Err("a count in the signature section is larger than the section".into());
        }
        Ok(value)
    }

    fn count_up_to(&mut self, max: u32, what: &str) -> Result<u32, String> {
        let n = self.count()?;
        match n <= max {
            true => Ok(n),
            false => Err(format!(
                "the signature section holds {n} {what}; at most {max} are read"
            )),
        }
    }

    fn vec(&mut self) -> Result<Vec<u8>, String> {
        let n = self.count()?;
        Ok(self.take(n as usize)?.to_vec())
    }
}
