use super::*;

/// The smallest component: the preamble of a component and one custom section.
fn component() -> Vec<u8> {
    let mut wasm = b"\0asm\x0d\x00\x01\x00".to_vec();
    wasm.extend([0, 6, 5]);
    wasm.extend(b"hello");
    wasm
}

fn trusted(name: &str, key: &KeyPair) -> TrustedKey {
    TrustedKey {
        publisher: name.into(),
        key: key.public(),
    }
}

#[test]
fn a_signed_component_verifies_with_its_publishers_key_only() {
    let acme = KeyPair::generate().unwrap();
    let other = KeyPair::generate().unwrap();
    let signed = sign(&component(), &acme).unwrap();
    assert!(
        signed.ends_with(&component()[8..]),
        "the sections are kept as they were"
    );
    let keys = [trusted("other", &other), trusted("acme", &acme)];
    assert_eq!(verify(&signed, &keys).unwrap().publisher, "acme");
    assert_eq!(
        verify(&signed, &keys[..1]),
        Err(Refusal::UnknownKey(acme.public().fingerprint()))
    );
    assert_eq!(verify(&component(), &keys), Err(Refusal::Unsigned));
}

#[test]
fn a_change_after_signing_is_named() {
    let acme = KeyPair::generate().unwrap();
    let keys = [trusted("acme", &acme)];
    let signed = sign(&component(), &acme).unwrap();
    let mut changed = signed.clone();
    *changed.last_mut().unwrap() ^= 1;
    assert_eq!(
        verify(&changed, &keys),
        Err(Refusal::Changed("acme".into()))
    );
    assert_eq!(
        verify(&changed, &[]),
        Err(Refusal::Changed("its publisher".into())),
        "changed is changed, whoever signed it"
    );
    let mut appended = signed.clone();
    appended.extend([0, 2, 1, b'x']);
    assert_eq!(
        verify(&appended, &keys),
        Err(Refusal::Changed("acme".into()))
    );
    // The signature's own bytes altered.
    let at = signed.len() - component().len() + 8 - 1;
    let mut forged = signed.clone();
    forged[at] ^= 1;
    assert_eq!(
        verify(&forged, &keys),
        Err(Refusal::BadSignature("acme".into()))
    );
}

#[test]
fn signing_again_replaces_the_signature() {
    let (acme, beta) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let twice = sign(&sign(&component(), &acme).unwrap(), &beta).unwrap();
    assert_eq!(
        verify(&twice, &[trusted("acme", &acme), trusted("beta", &beta)])
            .unwrap()
            .publisher,
        "beta"
    );
    assert_eq!(twice.len(), sign(&component(), &beta).unwrap().len());
}

#[test]
fn key_files_round_trip_and_are_told_apart() {
    let pair = KeyPair::generate().unwrap();
    let again = KeyPair::from_bytes(&pair.to_bytes()).unwrap();
    assert_eq!(again.public(), pair.public());
    let public = pair.public().to_bytes();
    assert_eq!(PublicKey::from_bytes(&public).unwrap(), pair.public());
    assert!(
        KeyPair::from_bytes(&public)
            .unwrap_err()
            .contains("public key")
    );
    assert!(
        PublicKey::from_bytes(&pair.to_bytes())
            .unwrap_err()
            .contains("secret key")
    );
    let mut mismatched = pair.to_bytes();
    mismatched[40] ^= 1;
    assert!(KeyPair::from_bytes(&mismatched).is_err());
}

#[test]
fn garbage_is_refused_without_panicking() {
    assert_eq!(verify(b"MZ\x90\x00", &[]), Err(Refusal::NotWasm));
    let mut lying = b"\0asm\x0d\x00\x01\x00".to_vec();
    // A signature section claiming a billion signatures.
    lying.extend([0, 16, 9]);
    lying.extend(b"signature");
    lying.extend([1, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x03]);
    assert!(matches!(verify(&lying, &[]), Err(Refusal::Malformed(_))));
}

#[test]
fn a_section_of_many_empty_sets_is_refused_before_any_work() {
    let mut payload = vec![1, 1, 1];
    payload.extend([0x80, 0x80, 0x04]); // 65,536 sets
    payload.extend(std::iter::repeat_n([0u8, 0u8], 65_536).flatten());
    let unsigned = component();
    let wasm = section::embed(&section::split(&unsigned).unwrap(), &payload);
    match verify(&wasm, &[]) {
        Err(Refusal::Malformed(why)) => assert!(why.contains("at most 8"), "{why}"),
        other => panic!("{other:?}"),
    }
}
