use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

#[test]
fn references_are_read_as_registries_write_them() {
    let r: Reference = "oci://127.0.0.1:5000/team/lead-scorer:0.2.0"
        .parse()
        .unwrap();
    assert_eq!(
        (
            r.registry.as_str(),
            r.repository.as_str(),
            r.reference.as_str()
        ),
        ("127.0.0.1:5000", "team/lead-scorer", "0.2.0")
    );
    assert_eq!(r.to_string(), "oci://127.0.0.1:5000/team/lead-scorer:0.2.0");
    assert_eq!(r.base(), "http://127.0.0.1:5000/v2/team/lead-scorer");
    let digest = format!("sha256:{}", "a".repeat(64));
    let r: Reference = format!("oci://ghcr.io/acme/scorer@{digest}")
        .parse()
        .unwrap();
    assert_eq!(r.reference, digest);
    assert_eq!(r.base(), "https://ghcr.io/v2/acme/scorer");
    let evil: Reference = "oci://127.evil.example/acme/scorer:1".parse().unwrap();
    assert_eq!(
        evil.base(),
        "https://127.evil.example/v2/acme/scorer",
        "not this machine"
    );
    let v6: Reference = "oci://[::1]:5000/acme/scorer:1".parse().unwrap();
    assert_eq!(v6.base(), "http://[::1]:5000/v2/acme/scorer");
    let login = "oci://user:secret@ghcr.io/acme/scorer:1".parse::<Reference>();
    assert!(!login.unwrap_err().to_string().contains("secret"));
    for bad in [
        "oci://user:secret@ghcr.io/acme/scorer:1",
        "oci://ghcr.io/acme/scorer@sha512:abcd",
        "oci://ghcr.io/acme/scorer@sha256:abcd",
        "https://ghcr.io/acme/scorer:1",
        "oci://ghcr.io/acme/scorer",
        "oci://ghcr.io/Acme/scorer:1",
        "oci://ghcr.io/:1",
        "oci://ghcr.io/acme/scorer:a b",
    ] {
        assert!(bad.parse::<Reference>().is_err(), "{bad}");
    }
}

#[test]
fn challenges_are_parsed_with_quotes_and_commas() {
    let params = r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#;
    assert_eq!(
        challenge_param(params, "realm").as_deref(),
        Some("https://auth.example/token")
    );
    assert_eq!(
        challenge_param(params, "scope").as_deref(),
        Some("repository:a/b:pull,push")
    );
    assert_eq!(challenge_param(params, "missing"), None);
}

/// A registry that asks for a bearer token, as GHCR and Docker Hub do even to pull.
#[tokio::test]
async fn a_pull_fetches_a_bearer_token_when_asked_and_checks_every_digest() {
    let server = MockServer::start().await;
    let wasm = b"\0asm\x0d\x00\x01\x00component".to_vec();
    let layer = format!("sha256:{}", sha256_hex(&wasm));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": "sha256:00", "size": 2},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer, "size": wasm.len()}],
    });
    let challenge = format!(
        r#"Bearer realm="{}/token",service="test",scope="repository:acme/scorer:pull""#,
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/token"))
        .and(query_param("scope", "repository:acme/scorer:pull"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "t0k"})))
        .mount(&server)
        .await;
    for (route, body) in [
        (
            "/v2/acme/scorer/manifests/1".to_owned(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
        (format!("/v2/acme/scorer/blobs/{layer}"), wasm.clone()),
    ] {
        Mock::given(method("GET"))
            .and(path(route.clone()))
            .and(header("authorization", "Bearer t0k"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(body))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(
                ResponseTemplate::new(401).insert_header("www-authenticate", challenge.as_str()),
            )
            .mount(&server)
            .await;
    }
    let host = server.uri().trim_start_matches("http://").to_owned();
    let reference: Reference = format!("oci://{host}/acme/scorer:1").parse().unwrap();
    let mut client = Client::new(reference.clone(), None).unwrap();
    assert_eq!(client.pull().await.unwrap(), wasm);

    // A layer whose bytes are not what its digest says is refused.
    let other = MockServer::start().await;
    let lying = json!({
        "schemaVersion": 2,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": "sha256:00", "size": 2},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": format!("sha256:{}", "b".repeat(64)), "size": 9}],
    });
    Mock::given(method("GET"))
        .and(path("/v2/acme/scorer/manifests/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(lying))
        .mount(&other)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/v2/acme/scorer/blobs/sha256:{}",
            "b".repeat(64)
        )))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"not it".to_vec()))
        .mount(&other)
        .await;
    let host = other.uri().trim_start_matches("http://").to_owned();
    let reference: Reference = format!("oci://{host}/acme/scorer:1").parse().unwrap();
    let err = Client::new(reference, None)
        .unwrap()
        .pull()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not match its digest"),
        "{err}"
    );
}
