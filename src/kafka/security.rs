//! Client security for the admin connection: TLS (rustls; PEM trust store, optional client
//! certificate) and SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512, configured from a properties file
//! like the Kafka tools' `--command-config`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl Protocol {
    pub fn tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
    pub fn sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// How to connect. Secrets stay in memory and are never logged (`Debug` hides the password).
#[derive(Clone, Default)]
pub struct Security {
    pub protocol: Protocol,
    pub mechanism: Option<Mechanism>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM CA bundle (default: the system roots).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and key (mutual TLS).
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// `ssl.endpoint.identification.algorithm=` (empty) turns host name checks off.
    pub verify_hostname: bool,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("protocol", &self.protocol)
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Java `.properties` text as Kafka's tools read a `--command-config`: `key=value` or
/// `key: value`, `#` and `!` comments, a value continued on the next line after a trailing
/// backslash (as a multi-line `sasl.jaas.config` often is). A line without a separator is refused
/// with its line number. One parser serves the admin plane, the copier and the Connect workers'
/// client configs.
pub fn properties(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let mut line = line.trim_start().to_string();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        // An odd number of trailing backslashes continues the line.
        while (line.len() - line.trim_end_matches('\\').len()) % 2 == 1 {
            line.pop();
            match lines.next() {
                Some((_, next)) => line.push_str(next.trim_start()),
                None => break,
            }
        }
        let Some(i) = line.find(['=', ':']) else {
            return Err(format!(
                "line {}: `{}` is not key=value",
                n + 1,
                line.trim()
            ));
        };
        out.push((
            line[..i].trim().to_string(),
            line[i + 1..].trim().to_string(),
        ));
    }
    Ok(out)
}

/// Read Kafka client properties (see [`properties`]). Understood: `security.protocol`,
/// `sasl.mechanism`, `sasl.jaas.config` (username="..." password="..."), `sasl.username`,
/// `sasl.password`, `ssl.truststore.location` (with `ssl.truststore.type=PEM`), `ssl.ca.location`,
/// `ssl.keystore.location` (PEM with key and chain) or `ssl.certificate.location` +
/// `ssl.key.location`, `ssl.endpoint.identification.algorithm`.
pub fn parse_properties(text: &str, base: &Path) -> Result<Security, String> {
    let mut s = Security {
        verify_hostname: true,
        ..Default::default()
    };
    let mut truststore_type = None;
    let path = |v: &str| -> PathBuf {
        let p = PathBuf::from(v);
        if p.is_absolute() {
            p
        } else {
            base.join(p)
        }
    };
    for (k, v) in properties(text)? {
        let (k, v) = (k.as_str(), v.as_str());
        match k {
            "security.protocol" => {
                s.protocol = match v.to_ascii_uppercase().as_str() {
                    "PLAINTEXT" => Protocol::Plaintext,
                    "SSL" => Protocol::Ssl,
                    "SASL_PLAINTEXT" => Protocol::SaslPlaintext,
                    "SASL_SSL" => Protocol::SaslSsl,
                    other => return Err(format!("security.protocol={other} is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")),
                }
            }
            "sasl.mechanism" | "sasl.mechanisms" => {
                s.mechanism = Some(match v.to_ascii_uppercase().as_str() {
                    "PLAIN" => Mechanism::Plain,
                    "SCRAM-SHA-256" => Mechanism::ScramSha256,
                    "SCRAM-SHA-512" => Mechanism::ScramSha512,
                    other => return Err(format!("sasl.mechanism={other} is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")),
                })
            }
            "sasl.jaas.config" => {
                s.username = jaas_value(v, "username").or(s.username.take());
                s.password = jaas_value(v, "password").or(s.password.take());
            }
            "sasl.username" => s.username = Some(v.to_string()),
            "sasl.password" => s.password = Some(v.to_string()),
            "ssl.truststore.location" | "ssl.ca.location" => s.ca_file = Some(path(v)),
            "ssl.truststore.type" => truststore_type = Some(v.to_ascii_uppercase()),
            "ssl.keystore.location" => {
                s.cert_file = Some(path(v));
                s.key_file = Some(path(v));
            }
            "ssl.certificate.location" => s.cert_file = Some(path(v)),
            "ssl.key.location" => s.key_file = Some(path(v)),
            "ssl.endpoint.identification.algorithm" => s.verify_hostname = !v.is_empty(),
            _ => tracing::debug!(key = k, "client property not used by streamctl"),
        }
    }
    if truststore_type.as_deref().is_some_and(|t| t != "PEM") {
        return Err("only PEM trust stores are supported (ssl.truststore.type=PEM); convert a JKS store with keytool -exportcert -rfc".into());
    }
    if s.protocol.sasl() {
        let m = s.mechanism.get_or_insert(Mechanism::Plain);
        if s.username.is_none() || s.password.is_none() {
            return Err(format!("SASL {} needs a username and a password (sasl.jaas.config or sasl.username/sasl.password)", m.name()));
        }
    }
    Ok(s)
}

fn jaas_value(config: &str, key: &str) -> Option<String> {
    let i = config.find(&format!("{key}="))?;
    let rest = &config[i + key.len() + 1..];
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// A rustls client configuration for this security setting.
pub fn tls_config(s: &Security) -> Result<Arc<tokio_rustls::rustls::ClientConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match &s.ca_file {
        Some(f) => {
            for c in
                CertificateDer::pem_file_iter(f).map_err(|e| format!("{}: {e}", f.display()))?
            {
                roots
                    .add(c.map_err(|e| format!("{}: {e}", f.display()))?)
                    .map_err(|e| format!("{}: {e}", f.display()))?;
            }
        }
        None => {
            return Err(
                "TLS needs a CA: set ssl.truststore.location (PEM) or ssl.ca.location".into(),
            )
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = if s.verify_hostname {
        let b = builder.with_root_certificates(roots);
        match (&s.cert_file, &s.key_file) {
            (Some(c), Some(k)) => {
                let chain = CertificateDer::pem_file_iter(c)
                    .map_err(|e| e.to_string())?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                let key =
                    PrivateKeyDer::from_pem_file(k).map_err(|e| format!("{}: {e}", k.display()))?;
                b.with_client_auth_cert(chain, key)
                    .map_err(|e| e.to_string())?
            }
            _ => b.with_no_client_auth(),
        }
    } else {
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| e.to_string())?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoHostname(verifier)))
            .with_no_client_auth()
    };
    config.alpn_protocols.clear();
    Ok(Arc::new(config))
}

/// Verifies the chain against the CA but not the host name (`ssl.endpoint.identification.algorithm=`).
#[derive(Debug)]
struct NoHostname(Arc<tokio_rustls::rustls::client::WebPkiServerVerifier>);

impl tokio_rustls::rustls::client::danger::ServerCertVerifier for NoHostname {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<tokio_rustls::rustls::client::danger::ServerCertVerified, tokio_rustls::rustls::Error>
    {
        use tokio_rustls::rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(CertificateError::NotValidForName))
            | Err(Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })) => {
                Ok(tokio_rustls::rustls::client::danger::ServerCertVerified::assertion())
            }
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &tokio_rustls::rustls::DigitallySignedStruct,
    ) -> Result<
        tokio_rustls::rustls::client::danger::HandshakeSignatureValid,
        tokio_rustls::rustls::Error,
    > {
        self.0.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &tokio_rustls::rustls::DigitallySignedStruct,
    ) -> Result<
        tokio_rustls::rustls::client::danger::HandshakeSignatureValid,
        tokio_rustls::rustls::Error,
    > {
        self.0.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<tokio_rustls::rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The SCRAM client (RFC 5802 / 7677) for SHA-256 and SHA-512.
pub struct Scram {
    mechanism: Mechanism,
    username: String,
    password: String,
    nonce: String,
    first_bare: String,
    server_signature: Vec<u8>,
}

fn hmac_with(m: Mechanism, key: &[u8], msg: &[u8]) -> Vec<u8> {
    match m {
        Mechanism::ScramSha512 => {
            let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key).expect("any key length");
            mac.update(msg);
            mac.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
            mac.update(msg);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

fn hash(m: Mechanism, b: &[u8]) -> Vec<u8> {
    match m {
        Mechanism::ScramSha512 => Sha512::digest(b).to_vec(),
        _ => Sha256::digest(b).to_vec(),
    }
}

fn salted(m: Mechanism, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    match m {
        Mechanism::ScramSha512 => {
            let mut out = vec![0u8; 64];
            pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
            out
        }
        _ => {
            let mut out = vec![0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
            out
        }
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Scram {
    pub fn new(mechanism: Mechanism, username: &str, password: &str) -> Self {
        let mut raw = [0u8; 18];
        getrandom::fill(&mut raw).expect("the OS provides randomness");
        Self::with_nonce(mechanism, username, password, &B64.encode(raw))
    }

    pub fn with_nonce(mechanism: Mechanism, username: &str, password: &str, nonce: &str) -> Self {
        let user = username.replace('=', "=3D").replace(',', "=2C");
        Self {
            mechanism,
            username: user,
            password: password.to_string(),
            nonce: nonce.to_string(),
            first_bare: String::new(),
            server_signature: vec![],
        }
    }

    pub fn client_first(&mut self) -> Vec<u8> {
        self.first_bare = format!("n={},r={}", self.username, self.nonce);
        format!("n,,{}", self.first_bare).into_bytes()
    }

    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, String> {
        let sf = std::str::from_utf8(server_first).map_err(|_| "server-first is not UTF-8")?;
        let field = |k: &str| {
            sf.split(',')
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .ok_or(format!("server-first lacks {k}="))
        };
        let nonce = field("r")?;
        if !nonce.starts_with(&self.nonce) {
            return Err("server nonce does not extend the client nonce".into());
        }
        let salt = B64.decode(field("s")?).map_err(|e| e.to_string())?;
        let iterations: u32 = field("i")?.parse().map_err(|_| "bad iteration count")?;
        let m = self.mechanism;
        let salted = salted(m, self.password.as_bytes(), &salt, iterations);
        let client_key = hmac_with(m, &salted, b"Client Key");
        let stored_key = hash(m, &client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{},{sf},{without_proof}", self.first_bare);
        let signature = hmac_with(m, &stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac_with(m, &salted, b"Server Key");
        self.server_signature = hmac_with(m, &server_key, auth.as_bytes());
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), String> {
        let sf = std::str::from_utf8(server_final).map_err(|_| "server-final is not UTF-8")?;
        if let Some(e) = sf.strip_prefix("e=") {
            return Err(format!("server refused: {e}"));
        }
        let v = sf.strip_prefix("v=").ok_or("server-final lacks v=")?;
        if B64.decode(v).map_err(|e| e.to_string())? != self.server_signature {
            return Err("the server's signature is wrong: it does not know the password (possible impostor)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_read_as_kafkas_tools_read_them() {
        let text = "# a comment\n! another\n\nsecurity.protocol = SASL_SSL\nsasl.mechanism: SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n    username=\"alice\" \\\n    password=\"s=cr:et\";\nbootstrap.servers=b-1:9096\n";
        let p = super::properties(text).unwrap();
        assert_eq!(
            p,
            vec![
                ("security.protocol".to_string(), "SASL_SSL".to_string()),
                ("sasl.mechanism".into(), "SCRAM-SHA-512".into()),
                (
                    "sasl.jaas.config".into(),
                    "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"s=cr:et\";".into()
                ),
                ("bootstrap.servers".into(), "b-1:9096".into()),
            ]
        );
        // The continued JAAS line gives the admin plane its credentials.
        let s = parse_properties(text, Path::new("/")).unwrap();
        assert_eq!(s.username.as_deref(), Some("alice"));
        assert_eq!(s.password.as_deref(), Some("s=cr:et"));
        let e = super::properties("a=1\njust-a-word\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
    }

    /// RFC 7677's SCRAM-SHA-256 example.
    #[test]
    fn rfc7677_vector() {
        let mut s = Scram::with_nonce(
            Mechanism::ScramSha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO",
        );
        assert_eq!(s.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let fin = s.client_final(server_first).unwrap();
        assert_eq!(
            String::from_utf8(fin).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        s.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(s.verify_server_final(b"v=AAAA").is_err());
    }

    #[test]
    fn properties() {
        let p = parse_properties(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"s3cret\";\nssl.truststore.type=PEM\nssl.truststore.location=ca.pem\n",
            Path::new("/etc/kafka"),
        )
        .unwrap();
        assert_eq!(p.protocol, Protocol::SaslSsl);
        assert_eq!(p.mechanism, Some(Mechanism::ScramSha512));
        assert_eq!(p.username.as_deref(), Some("admin"));
        assert_eq!(p.ca_file, Some(PathBuf::from("/etc/kafka/ca.pem")));
        assert!(!format!("{p:?}").contains("s3cret"), "no secrets in logs");
        assert!(parse_properties("security.protocol=SASL_PLAINTEXT\n", Path::new(".")).is_err());
        assert!(parse_properties("ssl.truststore.type=JKS\n", Path::new(".")).is_err());
    }
}
