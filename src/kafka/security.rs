//! Client security for the admin connection: TLS (rustls; PEM trust store, optional client
//! certificate) and SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512, configured from a properties file
//! like the Kafka tools' `--command-config`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::oauth::{MskIam, OAuth, TokenSource};

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
    /// SASL OAUTHBEARER with a token from [`Security::oauth`].
    OAuthBearer,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
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
    /// Where OAUTHBEARER tokens come from (with [`Mechanism::OAuthBearer`]).
    pub oauth: Option<OAuth>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("protocol", &self.protocol)
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("oauth", &self.oauth)
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

/// The MSK IAM library's classes, as its documentation writes them in client properties.
const MSK_IAM_LOGIN_MODULE: &str = "software.amazon.msk.auth.iam.IAMLoginModule";
const MSK_IAM_CALLBACK: &str = "software.amazon.msk.auth.iam.IAMClientCallbackHandler";
const MSK_IAM_OAUTH_CALLBACK: &str =
    "software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler";
const OAUTH_LOGIN_MODULE: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

/// Security keys Kafka's clients read that change nothing here: both planes negotiate TLS 1.2
/// or 1.3 with their defaults and refresh tokens at 80% of their life. They are logged, not
/// refused.
const NO_EFFECT: &[&str] = &[
    "ssl.protocol",
    "ssl.enabled.protocols",
    "ssl.secure.random.implementation",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "sasl.login.refresh.window.factor",
    "sasl.login.refresh.window.jitter",
    "sasl.login.refresh.min.period.seconds",
    "sasl.login.refresh.buffer.seconds",
    "sasl.login.connect.timeout.ms",
    "sasl.login.read.timeout.ms",
];

/// Read Kafka client properties (see [`properties`]) into one setting both planes apply the same
/// way: the admin plane (rustls, streamctl's own SASL) and the record copier (librdkafka).
///
/// Understood: `security.protocol`; `sasl.mechanism` PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (with
/// `sasl.jaas.config` username="..." password="...", or `sasl.username`/`sasl.password`),
/// OAUTHBEARER (Kafka's unsecured JWS from `unsecuredLoginStringClaim_sub`, or AWS MSK IAM with
/// `IAMOAuthBearerLoginCallbackHandler`) and AWS_MSK_IAM (`IAMLoginModule`, spoken as
/// OAUTHBEARER with the same signed token); PEM files for `ssl.truststore.location` /
/// `ssl.ca.location`, `ssl.keystore.location` (key and chain in one file) or
/// `ssl.certificate.location` + `ssl.key.location`; `ssl.endpoint.identification.algorithm`.
///
/// Any other `ssl.*` or `sasl.*` key is refused (a setting one plane would apply and the other
/// ignore is a silent difference), except the few in `NO_EFFECT`; other keys (`bootstrap.servers`,
/// timeouts) are not security and are ignored.
pub fn parse_properties(text: &str, base: &Path) -> Result<Security, String> {
    let (mut s, x) = read_keys(text, base)?;
    pem_only(&x)?;
    let Keys {
        jaas,
        handler,
        msk_mechanism,
        ..
    } = x;
    if s.key_file.is_some() != s.cert_file.is_some() {
        return Err("mutual TLS needs both ssl.certificate.location and ssl.key.location (or one PEM file with both in ssl.keystore.location)".into());
    }
    let jaas = jaas.unwrap_or_default();
    let module = jaas
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    if s.mechanism == Some(Mechanism::OAuthBearer) {
        let msk = msk_mechanism
            || module == MSK_IAM_LOGIN_MODULE
            || handler.as_deref() == Some(MSK_IAM_OAUTH_CALLBACK);
        let source = token_source(&jaas, &module, msk)?;
        if !s.protocol.sasl() {
            return Err("sasl.mechanism=OAUTHBEARER/AWS_MSK_IAM needs security.protocol=SASL_SSL (or SASL_PLAINTEXT)".into());
        }
        if matches!(source, TokenSource::MskIam(_)) && !s.protocol.tls() {
            return Err(
                "MSK IAM needs security.protocol=SASL_SSL: MSK's IAM listeners are TLS only".into(),
            );
        }
        s.oauth = Some(OAuth::new(source));
        return Ok(s);
    }
    if module == MSK_IAM_LOGIN_MODULE || handler.is_some() {
        return Err("the MSK IAM login module or callback handler is set but sasl.mechanism is not AWS_MSK_IAM or OAUTHBEARER".into());
    }
    s.username = jaas_value(&jaas, "username").or(s.username.take());
    s.password = jaas_value(&jaas, "password").or(s.password.take());
    if s.protocol.sasl() {
        let m = s.mechanism.get_or_insert(Mechanism::Plain);
        if s.username.is_none() || s.password.is_none() {
            return Err(format!("SASL {} needs a username and a password (sasl.jaas.config or sasl.username/sasl.password)", m.name()));
        }
    }
    Ok(s)
}

/// What the keys say beyond [`Security`]'s fields, for the checks after the loop.
#[derive(Default)]
struct Keys {
    truststore_type: Option<String>,
    keystore_type: Option<String>,
    jaas: Option<String>,
    handler: Option<String>,
    /// `sasl.mechanism=AWS_MSK_IAM` (read as OAUTHBEARER with MSK IAM tokens).
    msk_mechanism: bool,
}

/// Each key applied or refused (with the fix) on its own; relative paths are read from `base`.
fn read_keys(text: &str, base: &Path) -> Result<(Security, Keys), String> {
    let mut s = Security {
        verify_hostname: true,
        ..Default::default()
    };
    let mut x = Keys::default();
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
                    "OAUTHBEARER" => Mechanism::OAuthBearer,
                    "AWS_MSK_IAM" => {
                        x.msk_mechanism = true;
                        Mechanism::OAuthBearer
                    }
                    other => return Err(format!("sasl.mechanism={other} is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER, AWS_MSK_IAM)")),
                })
            }
            "sasl.jaas.config" => x.jaas = Some(v.to_string()),
            "sasl.client.callback.handler.class" | "sasl.login.callback.handler.class" => {
                if v != MSK_IAM_CALLBACK && v != MSK_IAM_OAUTH_CALLBACK {
                    return Err(format!("{k}={v}: streamctl knows no such handler (it signs AWS MSK IAM tokens itself for {MSK_IAM_OAUTH_CALLBACK} and {MSK_IAM_CALLBACK}, and makes Kafka's unsecured tokens without a handler)"));
                }
                x.handler = Some(v.to_string());
            }
            "sasl.username" => s.username = Some(v.to_string()),
            "sasl.password" => s.password = Some(v.to_string()),
            "ssl.truststore.location" | "ssl.ca.location" => s.ca_file = Some(path(v)),
            "ssl.truststore.type" => x.truststore_type = Some(v.to_ascii_uppercase()),
            "ssl.keystore.type" => x.keystore_type = Some(v.to_ascii_uppercase()),
            "ssl.keystore.location" => {
                s.cert_file = Some(path(v));
                s.key_file = Some(path(v));
            }
            "ssl.certificate.location" => s.cert_file = Some(path(v)),
            "ssl.key.location" => s.key_file = Some(path(v)),
            "ssl.endpoint.identification.algorithm" => s.verify_hostname = !v.is_empty() && !v.eq_ignore_ascii_case("none"),
            "ssl.key.password" | "ssl.keystore.password" => {
                return Err(format!("{k}: encrypted private keys are not supported; decrypt the key once with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8` and point ssl.keystore.location (or ssl.key.location) at the result"));
            }
            "ssl.truststore.password" => {
                return Err(format!("{k}: a PEM trust store has no password; remove the line (for a JKS or PKCS12 store, see ssl.truststore.type)"));
            }
            "ssl.truststore.certificates" | "ssl.keystore.key" | "ssl.keystore.certificate.chain" => {
                return Err(format!("{k}: certificates and keys given inline are not supported; write the PEM to a file and use {}", if k == "ssl.truststore.certificates" { "ssl.truststore.location" } else { "ssl.keystore.location" }));
            }
            _ if NO_EFFECT.contains(&k) => {
                tracing::info!(key = k, "client property has no effect in streamctl (TLS 1.2+ and token refresh at 80% of the lifetime on both planes)")
            }
            _ if k.starts_with("ssl.") || k.starts_with("sasl.") => {
                return Err(format!("{k} is not supported by streamctl: both of its planes (the admin client and the record copier) must apply a security setting the same way, and this one neither does; remove it or ask for it"));
            }
            _ => tracing::debug!(key = k, "client property not used by streamctl"),
        }
    }
    Ok((s, x))
}

/// Stores must be PEM files (the copier's librdkafka and the admin plane's rustls read PEM).
fn pem_only(x: &Keys) -> Result<(), String> {
    for (what, t) in [
        ("ssl.truststore.type", &x.truststore_type),
        ("ssl.keystore.type", &x.keystore_type),
    ] {
        if let Some(t) = t.as_deref().filter(|t| *t != "PEM") {
            let how = if what == "ssl.truststore.type" {
                "keytool -exportcert -rfc -keystore STORE -alias ALIAS > ca.pem (JKS), or openssl pkcs12 -in STORE.p12 -nokeys -out ca.pem (PKCS12)"
            } else {
                "keytool -importkeystore -srckeystore STORE.jks -destkeystore STORE.p12 -deststoretype PKCS12 (JKS), then openssl pkcs12 -in STORE.p12 -nodes -out keystore.pem"
            };
            return Err(format!(
                "{what}={t}: only PEM files are supported; convert with {how} and set {what}=PEM"
            ));
        }
    }
    Ok(())
}

/// The OAUTHBEARER token source the JAAS line and handler name: MSK IAM, or Kafka's unsecured JWS.
fn token_source(jaas: &str, module: &str, msk: bool) -> Result<TokenSource, String> {
    Ok(if msk {
        if !module.is_empty() && module != MSK_IAM_LOGIN_MODULE && module != OAUTH_LOGIN_MODULE {
            return Err(format!("sasl.jaas.config: MSK IAM takes {MSK_IAM_LOGIN_MODULE} (AWS_MSK_IAM) or {OAUTH_LOGIN_MODULE} (OAUTHBEARER), not {module}"));
        }
        TokenSource::MskIam(MskIam {
            profile: jaas_value(jaas, "awsProfileName"),
            role_arn: jaas_value(jaas, "awsRoleArn"),
            session_name: jaas_value(jaas, "awsRoleSessionName"),
            region: jaas_value(jaas, "awsRegion"),
        })
    } else {
        let Some(principal) = jaas_value(jaas, "unsecuredLoginStringClaim_sub") else {
            return Err(format!("sasl.mechanism=OAUTHBEARER needs a token source streamctl can make: AWS MSK IAM (sasl.login.callback.handler.class={MSK_IAM_OAUTH_CALLBACK}) or Kafka's unsecured JWS ({OAUTH_LOGIN_MODULE} required unsecuredLoginStringClaim_sub=\"NAME\"); OIDC client credentials are not supported"));
        };
        let lifetime = match jaas_value(jaas, "unsecuredLoginLifetimeSeconds") {
        Some(v) => v.parse::<u64>().map_err(|_| format!("sasl.jaas.config: unsecuredLoginLifetimeSeconds={v} is not a number of seconds"))?,
        None => 3600,
    };
        TokenSource::Unsecured {
            principal,
            lifetime: std::time::Duration::from_secs(lifetime),
        }
    })
}

/// One option of a JAAS line: `key="value"` or `key=value`.
fn jaas_value(config: &str, key: &str) -> Option<String> {
    let mut rest = config;
    loop {
        let i = rest.find(&format!("{key}="))?;
        let before = rest[..i].chars().last();
        rest = &rest[i + key.len() + 1..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        return Some(match rest.strip_prefix('"') {
            Some(q) => q[..q.find('"')?].to_string(),
            None => rest
                .split(|c: char| c.is_whitespace() || c == ';')
                .next()
                .unwrap_or_default()
                .to_string(),
        });
    }
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
        // As Kafka's Java clients (the JVM's trust store) and librdkafka (OpenSSL's default
        // paths) do: the system's roots. MSK's certificates chain to them.
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err("TLS needs a CA and this system has no root certificates: set ssl.truststore.location (PEM) or ssl.ca.location".into());
            }
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
                    .map_err(|e| format!("{}: {e}", c.display()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{}: {e}", c.display()))?;
                let key =
                    PrivateKeyDer::from_pem_file(k).map_err(|e| format!("{}: {e}", k.display()))?;
                b.with_client_auth_cert(chain, key).map_err(|e| {
                    format!(
                        "the client certificate {} (with key {}) is not usable: {e} (an X.509 v3 certificate matching the key is needed)",
                        c.display(),
                        k.display()
                    )
                })?
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

    #[test]
    fn msk_iam_in_both_conventions_and_kafkas_unsecured_tokens() {
        let base = "security.protocol=SASL_SSL\n";
        let oauth = parse_properties(&format!("{base}sasl.mechanism=OAUTHBEARER\nsasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;\nsasl.login.callback.handler.class=software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler\nsasl.client.callback.handler.class=software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler\n"), Path::new("/")).unwrap();
        assert_eq!(oauth.mechanism, Some(Mechanism::OAuthBearer));
        assert_eq!(
            oauth.oauth.unwrap().source,
            TokenSource::MskIam(MskIam::default())
        );
        let iam = parse_properties(&format!("{base}sasl.mechanism=AWS_MSK_IAM\nsasl.jaas.config=software.amazon.msk.auth.iam.IAMLoginModule required awsProfileName=\"migration\" awsRoleArn=\"arn:aws:iam::123456789012:role/m\" awsDebugCreds=true;\nsasl.client.callback.handler.class=software.amazon.msk.auth.iam.IAMClientCallbackHandler\n"), Path::new("/")).unwrap();
        assert_eq!(
            iam.oauth.unwrap().source,
            TokenSource::MskIam(MskIam {
                profile: Some("migration".into()),
                role_arn: Some("arn:aws:iam::123456789012:role/m".into()),
                ..Default::default()
            })
        );
        let dev = parse_properties(&format!("{base}sasl.mechanism=OAUTHBEARER\nsasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"admin\" unsecuredLoginLifetimeSeconds=60;\n"), Path::new("/")).unwrap();
        assert_eq!(
            dev.oauth.unwrap().source,
            TokenSource::Unsecured {
                principal: "admin".into(),
                lifetime: std::time::Duration::from_secs(60)
            }
        );
        for (text, says) in [
            ("sasl.mechanism=OAUTHBEARER\nsasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;\n", "OIDC"),
            ("sasl.mechanism=AWS_MSK_IAM\nsasl.jaas.config=software.amazon.msk.auth.iam.IAMLoginModule required;\nsecurity.protocol=SASL_PLAINTEXT\n", "TLS only"),
            ("sasl.mechanism=PLAIN\nsasl.jaas.config=software.amazon.msk.auth.iam.IAMLoginModule required;\n", "not AWS_MSK_IAM"),
            ("sasl.mechanism=OAUTHBEARER\nsasl.login.callback.handler.class=com.example.Mine\n", "no such handler"),
            ("sasl.mechanism=GSSAPI\n", "GSSAPI is not supported"),
            ("sasl.kerberos.service.name=kafka\n", "sasl.kerberos.service.name is not supported"),
            ("ssl.keystore.type=PKCS12\n", "keytool -importkeystore"),
            ("ssl.key.password=x\n", "openssl pkcs8"),
            ("ssl.truststore.certificates=-----BEGIN\n", "inline"),
            ("ssl.certificate.location=c.pem\n", "mutual TLS needs both"),
        ] {
            let e = parse_properties(&format!("{base}{text}"), Path::new("/")).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        // Settings that change nothing on either plane are accepted.
        assert!(parse_properties(
            "security.protocol=SSL\nssl.enabled.protocols=TLSv1.3,TLSv1.2\nrequest.timeout.ms=30000\n",
            Path::new("/")
        )
        .is_ok());
    }

    #[test]
    fn jaas_options_quoted_or_not_and_not_inside_other_names() {
        let j = r#"M required xusername="no" username="alice" awsDebugCreds=true password="p w";"#;
        assert_eq!(jaas_value(j, "username").as_deref(), Some("alice"));
        assert_eq!(jaas_value(j, "awsDebugCreds").as_deref(), Some("true"));
        assert_eq!(jaas_value(j, "password").as_deref(), Some("p w"));
        assert_eq!(jaas_value(j, "missing"), None);
    }
}
