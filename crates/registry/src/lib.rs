//! Plugins kept where teams keep their artifacts: an OCI registry (the CNCF distribution
//! registry, GHCR, Harbor, …). A component is pushed as a CNCF Wasm OCI artifact: an image
//! manifest whose config has the media type `application/vnd.wasm.config.v0+json` and whose
//! one layer is the component itself (`application/wasm`), byte for byte, so a signature
//! inside it travels with it. Only the distribution API's plain requests are used: a
//! monolithic blob upload, a manifest by tag, blobs by digest, each checked against its
//! digest on the way back. A registry that asks for a login gets a bearer token from the
//! realm it names (anonymous, or with `OUTREACH_REGISTRY_USERNAME` and
//! `OUTREACH_REGISTRY_PASSWORD`) or those credentials as basic authentication.

use std::fmt;
use std::str::FromStr;

use anyhow::Context as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::json;

use outreach_domain::sha256_hex;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";

/// The largest component pulled: a registry cannot make the host hold more than this.
pub const MAX_COMPONENT_BYTES: u64 = 64 << 20;
/// The largest manifest or config read.
const MAX_JSON_BYTES: u64 = 1 << 20;

/// Where a plugin is in a registry: `oci://HOST[:PORT]/REPOSITORY:TAG` (or `@sha256:…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    /// A tag, or a manifest digest (`sha256:…`).
    pub reference: String,
}

impl FromStr for Reference {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        let rest = s.strip_prefix("oci://").with_context(|| {
            format!("{s:?} is not an OCI reference (oci://HOST/REPOSITORY:TAG)")
        })?;
        // A login written into the reference is not echoed back in any message.
        anyhow::ensure!(
            !rest.split('/').next().unwrap_or_default().contains('@'),
            "an oci:// reference takes no login (HOST/REPOSITORY:TAG); give it in OUTREACH_REGISTRY_USERNAME and OUTREACH_REGISTRY_PASSWORD"
        );
        let (registry, path) = rest
            .split_once('/')
            .with_context(|| format!("{s:?} names no repository (oci://HOST/REPOSITORY:TAG)"))?;
        let (repository, reference) = match path.split_once('@') {
            Some((repo, digest)) => (repo, digest),
            // The tag is after the last colon of the path (a registry port is before the '/').
            None => path
                .rsplit_once(':')
                .with_context(|| format!("{s:?} names no tag (oci://HOST/REPOSITORY:TAG)"))?,
        };
        let valid_repo = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            });
        anyhow::ensure!(
            valid_repo,
            "{s:?}: a repository is lowercase letters, digits, '.', '_', '-' and '/'"
        );
        let valid_ref = !reference.is_empty()
            && reference.len() <= 128
            && reference
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c));
        anyhow::ensure!(valid_ref, "{s:?} is not a valid OCI reference");
        let valid_registry = !registry.is_empty()
            && registry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
        anyhow::ensure!(
            valid_registry,
            "{s:?}: the registry is HOST or HOST:PORT (no login in the reference: OUTREACH_REGISTRY_USERNAME and OUTREACH_REGISTRY_PASSWORD)"
        );
        if let Some(digest) = reference.strip_prefix("sha256:") {
            anyhow::ensure!(
                digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()),
                "{s:?}: a pinned version is @sha256: and 64 hex digits"
            );
        } else {
            anyhow::ensure!(
                !path.contains('@'),
                "{s:?}: a pinned version is @sha256: and 64 hex digits"
            );
        }
        Ok(Self {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            reference: reference.to_owned(),
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        write!(
            f,
            "oci://{}/{}{sep}{}",
            self.registry, self.repository, self.reference
        )
    }
}

impl Reference {
    /// The registry's base URL: plain HTTP only on this machine's own addresses.
    fn base(&self) -> String {
        let scheme = match is_this_machine(&format!("http://{}", self.registry)) {
            true => "http",
            false => "https",
        };
        format!("{scheme}://{}/v2/{}", self.registry, self.repository)
    }
}

/// A login for registries that ask for one.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, password hidden)", self.username)
    }
}

impl Credentials {
    /// `OUTREACH_REGISTRY_USERNAME` and `OUTREACH_REGISTRY_PASSWORD`, when both are set.
    pub fn from_env() -> Option<Self> {
        Some(Self {
            username: std::env::var("OUTREACH_REGISTRY_USERNAME").ok()?,
            password: std::env::var("OUTREACH_REGISTRY_PASSWORD").ok()?,
        })
    }
}

/// Talks to one repository of one registry.
pub struct Client {
    http: reqwest::Client,
    reference: Reference,
    credentials: Option<Credentials>,
    /// What requests carry once the registry asked for a login.
    authorization: Option<String>,
}

/// What a push left in the registry.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The digest of the manifest: `REPOSITORY@DIGEST` names exactly this push.
    pub manifest_digest: String,
    pub layer_digest: String,
}

impl Client {
    pub fn new(reference: Reference, credentials: Option<Credentials>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("outreach/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(120))
            .build()?;
        Ok(Self {
            http,
            reference,
            credentials,
            authorization: None,
        })
    }

    /// Pushes `wasm` under the reference's tag; `annotations` go on the manifest.
    pub async fn push(
        &mut self,
        wasm: &[u8],
        annotations: &[(&str, &str)],
    ) -> anyhow::Result<Pushed> {
        let layer_digest = format!("sha256:{}", sha256_hex(wasm));
        let config = serde_json::to_vec(&json!({
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [layer_digest],
        }))?;
        let config_digest = format!("sha256:{}", sha256_hex(&config));
        self.push_blob(&config, &config_digest).await?;
        self.push_blob(wasm, &layer_digest).await?;
        let annotations: serde_json::Map<String, serde_json::Value> = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "artifactType": CONFIG_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": wasm.len()}],
            "annotations": annotations,
        }))?;
        let url = format!(
            "{}/manifests/{}",
            self.reference.base(),
            self.reference.reference
        );
        let response = self
            .send(|http| {
                http.put(&url)
                    .header(CONTENT_TYPE, MANIFEST_MEDIA_TYPE)
                    .body(manifest.clone())
            })
            .await?;
        expect(response, StatusCode::CREATED, "storing the manifest").await?;
        Ok(Pushed {
            manifest_digest: format!("sha256:{}", sha256_hex(&manifest)),
            layer_digest,
        })
    }

    /// The component under the reference, checked against the digests that name it.
    pub async fn pull(&mut self) -> anyhow::Result<Vec<u8>> {
        let url = format!(
            "{}/manifests/{}",
            self.reference.base(),
            self.reference.reference
        );
        let response = self
            .send(|http| http.get(&url).header(ACCEPT, MANIFEST_MEDIA_TYPE))
            .await?;
        let response = expect(response, StatusCode::OK, "reading the manifest").await?;
        let manifest = read_capped(response, MAX_JSON_BYTES).await?;
        if let Some(digest) = self.reference.reference.strip_prefix("sha256:") {
            anyhow::ensure!(
                sha256_hex(&manifest) == digest,
                "the registry answered {} with a manifest of another digest",
                self.reference
            );
        }
        let manifest: serde_json::Value =
            serde_json::from_slice(&manifest).context("the manifest is not JSON")?;
        let config_type = manifest["config"]["mediaType"].as_str().unwrap_or("none");
        anyhow::ensure!(
            config_type == CONFIG_MEDIA_TYPE,
            "{} is not a Wasm component artifact (its config is {config_type:?}, not {CONFIG_MEDIA_TYPE:?})",
            self.reference
        );
        let layers: Vec<&serde_json::Value> = (manifest["layers"].as_array().into_iter().flatten())
            .filter(|l| l["mediaType"] == LAYER_MEDIA_TYPE)
            .collect();
        let [layer] = layers.as_slice() else {
            anyhow::bail!(
                "{} has {} {LAYER_MEDIA_TYPE} layers; a plugin artifact has one",
                self.reference,
                layers.len()
            );
        };
        let digest = layer["digest"]
            .as_str()
            .context("the layer has no digest")?;
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
            .with_context(|| format!("the layer's digest {digest:?} is not a sha256 digest"))?;
        let size = layer["size"].as_u64().unwrap_or(u64::MAX);
        anyhow::ensure!(
            size <= MAX_COMPONENT_BYTES,
            "the component is {size} bytes, more than the {MAX_COMPONENT_BYTES} a plugin may be"
        );
        let url = format!("{}/blobs/{digest}", self.reference.base());
        let response = self.send(|http| http.get(&url)).await?;
        let response = expect(response, StatusCode::OK, "reading the component").await?;
        let wasm = read_capped(response, size).await?;
        anyhow::ensure!(
            sha256_hex(&wasm) == hex,
            "the component the registry sent does not match its digest {digest}"
        );
        Ok(wasm)
    }

    async fn push_blob(&mut self, bytes: &[u8], digest: &str) -> anyhow::Result<()> {
        let base = self.reference.base();
        let head = format!("{base}/blobs/{digest}");
        if self.send(|http| http.head(&head)).await?.status() == StatusCode::OK {
            return Ok(()); // the registry has it already
        }
        let start = format!("{base}/blobs/uploads/");
        let response = self.send(|http| http.post(&start)).await?;
        let response = expect(response, StatusCode::ACCEPTED, "starting an upload").await?;
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .context("the registry started an upload without saying where to send it")?;
        let registry = reqwest::Url::parse(&start)?;
        let mut url = registry.join(location)?;
        // The upload goes where the registry is, with whatever login it has: never elsewhere.
        anyhow::ensure!(
            url.origin() == registry.origin(),
            "the registry sent the upload to another place ({}); refusing",
            url.origin().ascii_serialization()
        );
        url.query_pairs_mut().append_pair("digest", digest);
        let response = self
            .send(|http| {
                http.put(url.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.to_vec())
            })
            .await?;
        expect(response, StatusCode::CREATED, "uploading a blob").await?;
        Ok(())
    }

    /// Sends the request `build` makes; once more with a login if the registry asks for one.
    async fn send(
        &mut self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> anyhow::Result<Response> {
        let registry = &self.reference.registry;
        let attempt = |auth: Option<&String>| {
            let request = build(&self.http);
            let request = match auth {
                Some(auth) => request.header(AUTHORIZATION, auth),
                None => request,
            };
            request.send()
        };
        let response = attempt(self.authorization.as_ref())
            .await
            .with_context(|| format!("cannot reach the registry {registry}"))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|c| c.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.authorization = Some(self.log_in(&challenge).await?);
        attempt(self.authorization.as_ref())
            .await
            .with_context(|| format!("cannot reach the registry {registry}"))
    }

    /// The `Authorization` value that answers the registry's challenge.
    async fn log_in(&self, challenge: &str) -> anyhow::Result<String> {
        let registry = &self.reference.registry;
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let basic = |c: &Credentials| {
            use base64::Engine as _;
            let pair = format!("{}:{}", c.username, c.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        };
        if scheme.eq_ignore_ascii_case("basic") {
            let credentials = self.credentials.as_ref().with_context(|| {
                format!("the registry {registry} asks for a login: set OUTREACH_REGISTRY_USERNAME and OUTREACH_REGISTRY_PASSWORD")
            })?;
            return Ok(basic(credentials));
        }
        anyhow::ensure!(
            scheme.eq_ignore_ascii_case("bearer"),
            "the registry {registry} asks for a login this host does not speak ({scheme:?})"
        );
        let param = |name: &str| challenge_param(params, name);
        let realm = param("realm")
            .with_context(|| format!("the registry {registry} names no token realm"))?;
        let mut url = reqwest::Url::parse(&realm).with_context(|| {
            format!("the registry {registry} names a token realm that is no URL")
        })?;
        anyhow::ensure!(
            safe_for_a_login(&url),
            "the registry {registry} sends logins to {realm}, which is not https; refusing"
        );
        for name in ["service", "scope"] {
            if let Some(value) = param(name) {
                url.query_pairs_mut().append_pair(name, &value);
            }
        }
        let mut request = self.http.get(url);
        if let Some(credentials) = &self.credentials {
            request = request.header(AUTHORIZATION, basic(credentials));
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the token service of {registry}"))?;
        let response = expect(response, StatusCode::OK, "getting a token").await?;
        let answer: serde_json::Value =
            serde_json::from_slice(&read_capped(response, MAX_JSON_BYTES).await?)
                .context("the token service answered no JSON")?;
        let token = answer["token"]
            .as_str()
            .or(answer["access_token"].as_str())
            .context("the token service answered no token")?;
        Ok(format!("Bearer {token}"))
    }
}

/// Whether `url` names this machine (`localhost` or a loopback address): the only place
/// plain HTTP is spoken, and a login sent over it stays here.
fn is_this_machine(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a login may travel to `url`: encrypted, or to this machine.
fn safe_for_a_login(url: &reqwest::Url) -> bool {
    url.scheme() == "https" || is_this_machine(url.as_str())
}

/// Parameter `name` of a `WWW-Authenticate` challenge (`realm="…",service="…"`).
fn challenge_param(params: &str, name: &str) -> Option<String> {
    let mut rest = params;
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(value.to_owned());
        }
        rest = next;
    }
    None
}

/// `response` if it has `status`; else an error saying what the registry answered.
async fn expect(response: Response, status: StatusCode, doing: &str) -> anyhow::Result<Response> {
    if response.status() == status {
        return Ok(response);
    }
    let got = response.status();
    let url = response.url().clone();
    let body = read_capped(response, 4096).await.unwrap_or_default();
    let said = String::from_utf8_lossy(&body);
    anyhow::bail!(
        "the registry answered {got} {doing} ({}{}): {}",
        url.host_str().unwrap_or_default(),
        url.path(),
        outreach_domain::text::terminal_safe(said.trim())
    )
}

/// The body of `response`, refusing more than `limit` bytes.
async fn read_capped(mut response: Response, limit: u64) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        anyhow::ensure!(
            (body.len() + chunk.len()) as u64 <= limit,
            "the registry sent more than {limit} bytes"
        );
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
