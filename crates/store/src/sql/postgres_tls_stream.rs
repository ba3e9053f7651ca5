//! The TLS stream tokio-postgres is handed: rustls through tokio-rustls, which hyper
//! already builds, plus the `tls-server-end-point` channel binding (RFC 5929) that a
//! SCRAM-SHA-256-PLUS login sends, so a password exchange cannot be relayed through a
//! machine in the middle. Written here instead of taken from tokio-postgres-rustls, whose
//! X.509 parser (x509-cert, der and its derive macros) cost a first build about 18 s of
//! compiling to read one field: the certificate's signature algorithm.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use sha2::Digest as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Makes the TLS side of each new connection of a pool.
#[derive(Clone)]
pub(super) struct MakeRustlsConnect {
    connector: TlsConnector,
}

impl MakeRustlsConnect {
    pub fn new(config: rustls::ClientConfig) -> Self {
        Self {
            connector: TlsConnector::from(Arc::new(config)),
        }
    }
}

impl<S> MakeTlsConnect<S> for MakeRustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> io::Result<RustlsConnect> {
        Ok(RustlsConnect {
            connector: self.connector.clone(),
            host: host.to_owned(),
        })
    }
}

/// The TLS side of one connection, to the host named.
pub(super) struct RustlsConnect {
    connector: TlsConnector,
    host: String,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            // Read here rather than when made: tokio-postgres makes one for every host of the
            // connection string, a Unix socket's too (named ""), and connects it only where the
            // server said yes to TLS, which it never does on a socket.
            let name = ServerName::try_from(self.host)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let stream = self.connector.connect(name, stream).await?;
            Ok(RustlsStream(stream))
        })
    }
}

/// An encrypted connection to the server.
pub(super) struct RustlsStream<S>(TlsStream<S>);

impl<S> tokio_postgres::tls::TlsStream for RustlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(<[_]>::first)
            .and_then(|certificate| server_end_point(certificate))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// RFC 5929 §4.1: the server's certificate hashed with the hash of its own signature
/// algorithm (SHA-256 for MD5 and SHA-1). `None` where the algorithm names no hash of its
/// own (Ed25519, RSA-PSS, whose hash sits in parameters): the login then goes without
/// channel binding, as with libpq.
fn server_end_point(certificate: &[u8]) -> Option<Vec<u8>> {
    const SEQUENCE: u8 = 0x30;
    const OBJECT_IDENTIFIER: u8 = 0x06;
    // 1.2.840.113549.1.1 (PKCS #1) and 1.2.840.10045.4 (ECDSA signatures).
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04];
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE {
    // algorithm OBJECT IDENTIFIER, parameters }, signatureValue BIT STRING }
    let (fields, _) = der_element(certificate, SEQUENCE)?;
    let (_, after_tbs) = der_element(fields, SEQUENCE)?;
    let (algorithm, _) = der_element(after_tbs, SEQUENCE)?;
    let (oid, _) = der_element(algorithm, OBJECT_IDENTIFIER)?;
    let bits = match (oid.strip_prefix(RSA), oid.strip_prefix(ECDSA)) {
        // md5WithRSAEncryption, sha1…, sha256…; sha384…; sha512…
        (Some([4 | 5 | 11]), _) => 256,
        (Some([12]), _) => 384,
        (Some([13]), _) => 512,
        // ecdsa-with-SHA1; ecdsa-with-SHA256; …SHA384; …SHA512
        (_, Some([1] | [3, 2])) => 256,
        (_, Some([3, 3])) => 384,
        (_, Some([3, 4])) => 512,
        _ => return None,
    };
    Some(match bits {
        384 => sha2::Sha384::digest(certificate).to_vec(),
        512 => sha2::Sha512::digest(certificate).to_vec(),
        _ => sha2::Sha256::digest(certificate).to_vec(),
    })
}

/// The DER element with `tag` at the start of `input`: its contents, and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    if found != tag {
        return None;
    }
    let (length, rest) = match first {
        short @ 0..=0x7f => (usize::from(short), rest),
        // The long form: 1 to 4 length bytes follow (a certificate is never 4 GiB).
        long @ 0x81..=0x84 => {
            let (bytes, rest) = rest.split_at_checked(usize::from(long & 0x7f))?;
            let length = bytes.iter().fold(0, |n, &b| n << 8 | usize::from(b));
            (length, rest)
        }
        _ => return None,
    };
    rest.split_at_checked(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate's outer layers, with `algorithm` as its signature algorithm's OID.
    fn certificate(algorithm: &[u8]) -> Vec<u8> {
        let element = |tag: u8, contents: &[u8]| {
            let mut out = vec![tag];
            match contents.len() {
                n @ 0..0x80 => out.push(n as u8),
                n => out.extend([0x82, (n >> 8) as u8, n as u8]),
            }
            out.extend(contents);
            out
        };
        // A tbsCertificate long enough to need the long length form.
        let tbs = element(0x30, &[0x02; 300]);
        let algorithm = element(0x30, &element(0x06, algorithm));
        let signature = element(0x03, &[0, 1, 2, 3]);
        element(0x30, &[tbs, algorithm, signature].concat())
    }

    #[test]
    fn the_hash_is_the_one_the_certificate_was_signed_with() {
        let ecdsa_sha256 = certificate(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);
        assert_eq!(
            server_end_point(&ecdsa_sha256),
            Some(sha2::Sha256::digest(&ecdsa_sha256).to_vec())
        );
        let rsa_sha384 = certificate(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c]);
        assert_eq!(
            server_end_point(&rsa_sha384),
            Some(sha2::Sha384::digest(&rsa_sha384).to_vec())
        );
        let ecdsa_sha512 = certificate(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04]);
        assert_eq!(server_end_point(&ecdsa_sha512).map(|d| d.len()), Some(64));
        // SHA-1 is taken up to SHA-256 (RFC 5929 §4.1).
        let rsa_sha1 = certificate(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05]);
        assert_eq!(
            server_end_point(&rsa_sha1),
            Some(sha2::Sha256::digest(&rsa_sha1).to_vec())
        );
    }

    #[test]
    fn no_binding_without_a_hash_of_the_certificates_own_or_a_certificate() {
        // Ed25519 (1.3.101.112) and RSASSA-PSS (1.2.840.113549.1.1.10).
        assert_eq!(server_end_point(&certificate(&[0x2b, 0x65, 0x70])), None);
        let pss = certificate(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a]);
        assert_eq!(server_end_point(&pss), None);
        // Cut short anywhere: none, and no panic.
        let whole = certificate(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);
        for end in 0..whole.len() {
            assert_eq!(server_end_point(&whole[..end]), None, "cut at {end}");
        }
        assert_eq!(server_end_point(&[0x30, 0x85, 1, 2, 3, 4, 5]), None);
    }
}
