//! TLS to PostgreSQL as libpq reads it from the connection string (or `PGSSLMODE` and
//! `PGSSLROOTCERT`): `sslmode` (`disable`, `allow`, `prefer` — the default —, `require`,
//! `verify-ca`, `verify-full`) and `sslrootcert` (a PEM file of the authorities to trust, or
//! `system` for the machine's, which only goes with verify-full). tokio-postgres knows only
//! the first three modes and no root certificates, so both settings are taken out of the
//! string here and become a rustls configuration on the aws-lc provider the AI client
//! already uses.
//!
//! As in libpq, `prefer` and `require` encrypt without checking who answers (a server with
//! a self-signed certificate works; a machine in the middle is not noticed), except that
//! `require` with a root certificate file checks the chain; `verify-ca` checks the chain
//! and `verify-full` the chain and the host name, each against the authorities named. Over a
//! Unix socket there is no TLS (the server offers none there).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode;

/// What `sslmode` asks of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// `disable`: no TLS.
    NoTls,
    /// `allow`, `prefer`: TLS when the server offers it, the certificate not checked.
    Prefer,
    /// `require`: TLS or no connection, the certificate not checked.
    Encrypted,
    /// `verify-ca`: TLS, the certificate signed by a trusted authority.
    Chain,
    /// `verify-full`: and issued for the host connected to.
    ChainAndName,
}

/// The TLS settings of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TlsSettings {
    pub check: Check,
    /// `sslrootcert`: a PEM file; `None` for the machine's trusted certificates (only with
    /// `sslrootcert=system`, which means verify-full).
    pub root_cert: Option<PathBuf>,
}

impl TlsSettings {
    /// What tokio-postgres is told: whether to ask for TLS and whether to insist.
    pub fn ssl_mode(&self) -> SslMode {
        match self.check {
            Check::NoTls => SslMode::Disable,
            Check::Prefer => SslMode::Prefer,
            Check::Encrypted | Check::Chain | Check::ChainAndName => SslMode::Require,
        }
    }

    /// The rustls configuration for these settings; `None` without TLS.
    pub fn client_config(&self) -> anyhow::Result<Option<rustls::ClientConfig>> {
        if self.check == Check::NoTls {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match self.check {
            Check::Chain | Check::ChainAndName => {
                let roots = self.trusted_roots()?;
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .context("cannot use the trusted certificates for PostgreSQL")?;
                Arc::new(Verifier {
                    check: self.check,
                    algorithms: provider.signature_verification_algorithms,
                    webpki: Some(webpki),
                })
            }
            _ => Arc::new(Verifier {
                check: self.check,
                algorithms: provider.signature_verification_algorithms,
                webpki: None,
            }),
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS for PostgreSQL")?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Some(config))
    }

    fn trusted_roots(&self) -> anyhow::Result<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.root_cert {
            Some(file) => {
                let certs = CertificateDer::pem_file_iter(file)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .with_context(|| {
                        format!(
                            "cannot read sslrootcert {}: expected PEM certificates",
                            file.display()
                        )
                    })?;
                anyhow::ensure!(
                    !certs.is_empty(),
                    "sslrootcert {} holds no certificate",
                    file.display()
                );
                for cert in certs {
                    roots.add(cert).with_context(|| {
                        format!(
                            "sslrootcert {} holds a certificate that cannot be used",
                            file.display()
                        )
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                anyhow::ensure!(
                    !roots.is_empty(),
                    "sslmode asks to check the server's certificate, but this machine has no trusted certificates; name a file with sslrootcert="
                );
            }
        }
        Ok(roots)
    }
}

/// Takes `sslmode` and `sslrootcert` out of a connection string (a `postgres://` URL or
/// libpq's `key=value` form; `PGSSLMODE` and `PGSSLROOTCERT` where the string has none):
/// the rest goes to tokio-postgres's parser. As in libpq, `require` with a root certificate
/// file checks the chain (verify-ca), `sslrootcert=system` means verify-full and refuses a
/// weaker mode, and the verify modes need to be told whom to trust.
pub(super) fn split(url: &str) -> anyhow::Result<(String, TlsSettings)> {
    let mut mode = None;
    let mut root = None;
    let mut take = |key: &str, value: &str| -> bool {
        match key {
            "sslmode" => mode = Some(value.to_owned()),
            "sslrootcert" => root = Some(value.to_owned()),
            _ => return false,
        }
        true
    };
    let rest = match url.split_once("://") {
        Some((_, after_scheme)) if !after_scheme.contains(char::is_whitespace) => {
            match url.split_once('?') {
                None => url.to_owned(),
                Some((base, query)) => {
                    let mut kept = Vec::new();
                    for pair in query.split('&') {
                        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                        if !take(key, &percent_decoded(value)) {
                            kept.push(pair);
                        }
                    }
                    match kept.is_empty() {
                        true => base.to_owned(),
                        false => format!("{base}?{}", kept.join("&")),
                    }
                }
            }
        }
        _ => {
            let mut kept = Vec::new();
            for word in url.split_whitespace() {
                let (key, value) = word.split_once('=').unwrap_or((word, ""));
                if !take(key.trim(), value.trim_matches('\'')) {
                    kept.push(word);
                }
            }
            kept.join(" ")
        }
    };
    let mode = mode.or_else(|| std::env::var("PGSSLMODE").ok());
    let root = root.or_else(|| std::env::var("PGSSLROOTCERT").ok());
    Ok((rest, settings(mode.as_deref(), root.as_deref())?))
}

/// What `sslmode` and `sslrootcert` ask for together.
fn settings(mode: Option<&str>, root: Option<&str>) -> anyhow::Result<TlsSettings> {
    let system = root == Some("system");
    let root_cert = root.filter(|r| !system && !r.is_empty()).map(PathBuf::from);
    let check = match (mode, system) {
        (None, true) => Check::ChainAndName,
        (Some("verify-full"), _) => Check::ChainAndName,
        (Some(weaker), true) => anyhow::bail!(
            "sslrootcert=system trusts every public authority, so it needs sslmode=verify-full, not {weaker}"
        ),
        (None | Some("allow" | "prefer"), false) => Check::Prefer,
        (Some("disable"), false) => Check::NoTls,
        // With a certificate to check against, libpq checks it.
        (Some("require"), false) if root_cert.is_some() => Check::Chain,
        (Some("require"), false) => Check::Encrypted,
        (Some("verify-ca"), false) => Check::Chain,
        (Some(other), false) => anyhow::bail!(
            "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
        ),
    };
    anyhow::ensure!(
        !matches!(check, Check::Chain | Check::ChainAndName) || system || root_cert.is_some(),
        "sslmode={} checks the server's certificate: say whom to trust with sslrootcert=FILE (PEM), or sslrootcert=system for the machine's public authorities (with verify-full)",
        mode.unwrap_or("verify-full")
    );
    Ok(TlsSettings { check, root_cert })
}

/// `%2F` → `/` and the like, for a path in a URL's query.
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes
            .get(at + 1..at + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[at], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                at += 3;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The server's certificate checked as `sslmode` says. The handshake's signatures are
/// always checked, so a server that does not hold its certificate's key is refused even
/// where the certificate itself is not checked.
#[derive(Debug)]
struct Verifier {
    check: Check,
    algorithms: WebPkiSupportedAlgorithms,
    webpki: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // verify-ca: a certificate for another name is accepted once its chain is.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.check == Check::Chain => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_come_out_of_both_forms_of_connection_string() {
        let (rest, tls) = split(
            "postgres://app@db.internal:5433/outreach?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://app@db.internal:5433/outreach?application_name=x"
        );
        assert_eq!(tls.check, Check::ChainAndName);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca.pem")));

        let (rest, tls) =
            split("host=db.internal sslmode=verify-ca sslrootcert=/etc/ca.pem dbname=outreach")
                .unwrap();
        assert_eq!(rest, "host=db.internal dbname=outreach");
        assert_eq!(tls.check, Check::Chain);
    }

    #[test]
    fn modes_mean_what_they_mean_to_libpq() {
        let check = |mode, root| settings(mode, root).map(|tls| tls.check);
        // Nothing said: encrypted where the server offers it, unchecked.
        assert_eq!(check(None, None).unwrap(), Check::Prefer);
        assert_eq!(check(Some("allow"), None).unwrap(), Check::Prefer);
        assert_eq!(check(Some("disable"), None).unwrap(), Check::NoTls);
        assert_eq!(check(Some("require"), None).unwrap(), Check::Encrypted);
        // require with a root certificate checks the chain.
        assert_eq!(
            check(Some("require"), Some("/ca.pem")).unwrap(),
            Check::Chain
        );
        assert_eq!(
            check(Some("verify-ca"), Some("/ca.pem")).unwrap(),
            Check::Chain
        );
        // system: the public authorities, so the name must be checked too.
        assert_eq!(check(None, Some("system")).unwrap(), Check::ChainAndName);
        assert_eq!(
            check(Some("verify-full"), Some("system")).unwrap(),
            Check::ChainAndName
        );
        let weaker = check(Some("verify-ca"), Some("system")).unwrap_err();
        assert!(
            weaker.to_string().contains("needs sslmode=verify-full"),
            "{weaker}"
        );
        // Checking with nobody named to trust is refused, not guessed.
        let unnamed = check(Some("verify-full"), None).unwrap_err();
        assert!(
            unnamed.to_string().contains("sslrootcert=FILE"),
            "{unnamed}"
        );
        assert!(check(Some("verify-ca"), None).is_err());
    }

    #[test]
    fn an_unknown_sslmode_is_named() {
        let error = split("postgres://db/x?sslmode=verify-everything").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("sslmode=verify-everything is not one of"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_root_certificate_file_is_named() {
        let tls = TlsSettings {
            check: Check::ChainAndName,
            root_cert: Some(PathBuf::from("/nonexistent/ca.pem")),
        };
        let error = tls.client_config().unwrap_err();
        assert!(
            format!("{error:#}").contains("cannot read sslrootcert /nonexistent/ca.pem"),
            "{error:#}"
        );
    }
}
