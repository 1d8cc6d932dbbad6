//! TLS for connections, with rustls, following libpq's `sslmode`:
//!
//! | sslmode | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | no | – |
//! | `allow`, `prefer` (libpq's default) | when the server offers it | no |
//! | `require` | yes | no (against `sslrootcert` when one is given, as libpq does) |
//! | `verify-ca` | yes | chain against the root certificates |
//! | `verify-full` | yes | chain and host name |
//!
//! Root certificates: `sslrootcert` (a PEM file; `system` for the system's
//! store), else `~/.postgresql/root.crt` when it exists, else the system's
//! store. tokio-postgres itself knows only `disable`, `prefer` and `require`
//! and rejects `sslrootcert`, so both are taken out of the connection string
//! here and applied to the rustls configuration.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use regex::Regex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::PgError;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it (`allow` is treated the same), certificate not checked.
    Prefer,
    /// TLS, certificate not checked (unless a root certificate is given).
    Require,
    /// TLS, chain checked.
    VerifyCa,
    /// TLS, chain and host name checked.
    VerifyFull,
}

/// The TLS part of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The mode.
    pub mode: SslMode,
    /// `sslrootcert`, when given.
    pub root_cert: Option<String>,
}

static SSL_PARAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(^|[?&\s])(sslmode|sslrootcert)\s*=\s*('(?:[^'\\]|\\.)*'|[^&\s]*)").unwrap()
});

fn unquote(v: &str) -> String {
    let v = v
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or(v);
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '%' => {
                // URL escapes (%2F) in a postgres:// query string.
                let hex: String = chars.clone().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) if hex.len() == 2 => {
                        out.push(b as char);
                        chars.nth(1);
                    }
                    _ => out.push('%'),
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Takes `sslmode` and `sslrootcert` out of `conn` (a `postgres://` URL or
/// key=value pairs) and puts back an `sslmode` tokio-postgres understands.
pub fn split(conn: &str) -> Result<(String, Tls), PgError> {
    let mut mode = None;
    let mut root_cert = None;
    for c in SSL_PARAM.captures_iter(conn) {
        let value = unquote(&c[3]);
        match &c[2] {
            "sslmode" => {
                mode = Some(match value.as_str() {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(PgError::Config(format!(
                            "sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        )))
                    }
                })
            }
            _ => root_cert = Some(value),
        }
    }
    let mode = mode.unwrap_or(SslMode::Prefer);
    let url = conn.starts_with("postgres://") || conn.starts_with("postgresql://");
    // Keep the separator before each removed pair only where one is needed.
    let mut rest = SSL_PARAM
        .replace_all(conn, |c: &regex::Captures| {
            if &c[1] == "?" {
                "?".to_string()
            } else if c[1].trim().is_empty() {
                c[1].to_string()
            } else {
                String::new()
            }
        })
        .into_owned();
    let wire = match mode {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        _ => "require",
    };
    if url {
        rest = rest.replace("?&", "?");
        while rest.ends_with('&') || rest.ends_with('?') {
            rest.pop();
        }
        let sep = if rest.contains('?') { '&' } else { '?' };
        rest = format!("{rest}{sep}sslmode={wire}");
    } else {
        rest = format!("{} sslmode={wire}", rest.trim());
    }
    Ok((rest, Tls { mode, root_cert }))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(root_cert: Option<&str>) -> Result<RootCertStore, PgError> {
    use rustls::pki_types::pem::PemObject;
    let mut store = RootCertStore::empty();
    let file = match root_cert {
        Some("system") => None,
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".postgresql/root.crt"))
            .filter(|p| p.is_file()),
    };
    match file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(&path).map_err(|e| {
                PgError::Config(format!(
                    "cannot read the root certificate {} (sslrootcert): {e}",
                    path.display()
                ))
            })?;
            for c in certs {
                let c = c.map_err(|e| {
                    PgError::Config(format!("{}: not a PEM certificate: {e}", path.display()))
                })?;
                store.add(c).map_err(|e| {
                    PgError::Config(format!("{}: unusable certificate: {e}", path.display()))
                })?;
            }
            if store.is_empty() {
                return Err(PgError::Config(format!(
                    "{} (sslrootcert) holds no certificate",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = store.add(c);
            }
            if store.is_empty() {
                return Err(PgError::Config(
                    "no root certificates: the system has none; give the server's CA with sslrootcert=FILE".into(),
                ));
            }
        }
    }
    Ok(store)
}

/// Accepts any certificate (libpq's `prefer` and `require` without a root certificate);
/// the handshake signatures are still checked.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks the chain but not the host name (`verify-ca`).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The rustls connector for `tls` (not called for `disable`).
pub fn connector(tls: &Tls) -> Result<tokio_postgres_rustls::MakeRustlsConnect, PgError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Config(format!("TLS setup: {e}")))?;
    let mode = match (tls.mode, &tls.root_cert) {
        // libpq: require with a root certificate behaves like verify-ca.
        (SslMode::Require, Some(_)) => SslMode::VerifyCa,
        (m, _) => m,
    };
    let config = match mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
            .with_no_client_auth(),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let store = Arc::new(roots(tls.root_cert.as_deref())?);
            let webpki = WebPkiServerVerifier::builder_with_provider(store, provider)
                .build()
                .map_err(|e| PgError::Config(format!("TLS setup: {e}")))?;
            if mode == SslMode::VerifyFull {
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                    .with_no_client_auth()
            }
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A hint for a TLS failure message, or `None`.
pub fn hint(message: &str) -> Option<&'static str> {
    if message.contains("NotValidForName") {
        Some("the server's certificate does not name the host connected to: connect with the name on the certificate, or use sslmode=verify-ca to check the chain only")
    } else if message.contains("UnknownIssuer") || message.contains("BadSignature") {
        Some("the server's certificate is not signed by a trusted root: give its CA with sslrootcert=FILE")
    } else if message.contains("server does not support TLS") {
        Some(
            "the server has ssl = off: use sslmode=prefer or disable, or turn TLS on at the server",
        )
    } else if message.contains("Expired") {
        Some("the server's certificate has expired")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_settings_are_taken_out_of_urls_and_key_value_strings() {
        let (u, t) = split("postgres://u:p@h:5432/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.crt&application_name=x").unwrap();
        assert_eq!(
            u,
            "postgres://u:p@h:5432/db?application_name=x&sslmode=require"
        );
        assert_eq!(t.mode, SslMode::VerifyFull);
        assert_eq!(t.root_cert.as_deref(), Some("/tmp/ca.crt"));
        let (u, t) = split("postgres://h/db").unwrap();
        assert_eq!(
            (u.as_str(), t.mode),
            ("postgres://h/db?sslmode=prefer", SslMode::Prefer)
        );
        let (u, t) = split("postgres://h/db?sslmode=disable").unwrap();
        assert_eq!(
            (u.as_str(), t.mode),
            ("postgres://h/db?sslmode=disable", SslMode::Disable)
        );
        let (u, t) =
            split("host=h dbname=d sslmode='verify-ca' sslrootcert='/a b/ca.crt' user=u").unwrap();
        assert_eq!(u, "host=h dbname=d   user=u sslmode=require");
        assert_eq!(t.mode, SslMode::VerifyCa);
        assert_eq!(t.root_cert.as_deref(), Some("/a b/ca.crt"));
        assert!(split("host=h sslmode=sometimes")
            .unwrap_err()
            .to_string()
            .contains("not one of"));
    }
}
