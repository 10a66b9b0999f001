//! SASL OAUTHBEARER tokens (RFC 7628, KIP-255) for both planes: Kafka's unsecured JWS (the
//! `unsecuredLoginStringClaim_sub` convention of `OAuthBearerLoginModule`, what a broker with
//! Kafka's default unsecured validator accepts) and AWS MSK IAM (a SigV4-presigned
//! `kafka-cluster:Connect` URL, base64url-encoded, as `aws-msk-iam-sasl-signer` makes it).
//!
//! The signing itself is pure ([`unsecured_jws`], [`msk_iam_token`]); [`OAuth::token`] adds
//! the credential chain (aws-config: environment, profile, SSO, instance role, an assumed role)
//! and a cache, so every connection of a plane shares one token until it nears its expiry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// MSK's presigned URLs are valid this long (the Java, Python and Go signers all use 900 s).
const MSK_TOKEN_SECONDS: u64 = 900;

/// A bearer token and when it stops being valid.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub value: String,
    /// The principal the token names (librdkafka wants it beside the token).
    pub principal: String,
    /// Milliseconds since the epoch.
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("principal", &self.principal)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// Where an OAUTHBEARER token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// Kafka's unsecured JWS (`alg: none`) naming this principal, valid this long: for test
    /// and development brokers that run Kafka's unsecured validator, never for production.
    Unsecured {
        principal: String,
        lifetime: Duration,
    },
    /// AWS MSK IAM.
    MskIam(MskIam),
}

/// The MSK IAM login module's options (`awsProfileName`, `awsRoleArn`, `awsRoleSessionName`)
/// and the region to sign for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MskIam {
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub session_name: Option<String>,
    /// Explicit region; otherwise the one in the broker's host name, otherwise the AWS region
    /// chain (`AWS_REGION`, the profile's `region`).
    pub region: Option<String>,
}

/// A token source with a cache shared by every connection of a plane.
#[derive(Clone)]
pub struct OAuth {
    pub source: TokenSource,
    cache: Arc<Mutex<Option<Token>>>,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

impl PartialEq for OAuth {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

fn now_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

impl OAuth {
    pub fn new(source: TokenSource) -> Self {
        Self {
            source,
            cache: Arc::default(),
        }
    }

    /// The mechanism's name as the broker offers it.
    pub fn describe(&self) -> &'static str {
        match self.source {
            TokenSource::Unsecured { .. } => "OAUTHBEARER (unsecured JWS)",
            TokenSource::MskIam(_) => "OAUTHBEARER (AWS MSK IAM)",
        }
    }

    /// A token for a connection to `host`: the cached one while more than a fifth of its
    /// lifetime is left (librdkafka and the Java client refresh at 80% too), else a new one.
    pub async fn token(&self, host: &str) -> Result<Token, String> {
        let now = SystemTime::now();
        if let Some(t) = self.fresh(now) {
            return Ok(t);
        }
        let t = match &self.source {
            TokenSource::Unsecured {
                principal,
                lifetime,
            } => unsecured_jws(principal, now, *lifetime),
            TokenSource::MskIam(m) => {
                let region = match m.region.clone().or_else(|| region_of_host(host)) {
                    Some(r) => r,
                    None => default_region().await.ok_or_else(|| {
                        format!("MSK IAM: no region to sign for: {host} is not an MSK host name and no AWS region is configured (set AWS_REGION)")
                    })?,
                };
                let creds = credentials(m, &region).await?;
                msk_iam_token(&creds, &region, SystemTime::now(), &user_agent())?
            }
        };
        *self.cache.lock().expect("token cache") = Some(t.clone());
        Ok(t)
    }

    /// [`Self::token`] from blocking code (librdkafka's refresh callback): on a thread of its own
    /// with a runtime of its own, so it works inside or outside an async context.
    pub fn token_blocking(&self, host: &str) -> Result<Token, String> {
        if let Some(t) = self.fresh(SystemTime::now()) {
            return Ok(t);
        }
        let this = self.clone();
        let host = host.to_string();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("starting the token runtime: {e}"))?
                .block_on(this.token(&host))
        })
        .join()
        .map_err(|_| "the token thread panicked".to_string())?
    }

    fn fresh(&self, now: SystemTime) -> Option<Token> {
        let cache = self.cache.lock().expect("token cache");
        let t = cache.as_ref()?;
        let now = now_ms(now);
        // Issued at = expiry - lifetime is unknown for foreign tokens; keep a fixed margin too.
        let margin = match &self.source {
            TokenSource::Unsecured { lifetime, .. } => lifetime.as_millis() as i64 / 5,
            TokenSource::MskIam(_) => MSK_TOKEN_SECONDS as i64 * 1000 / 5,
        };
        (t.expires_at_ms - now > margin).then(|| t.clone())
    }
}

/// What streamctl says it is in the token's (unsigned) `User-Agent` parameter.
pub fn user_agent() -> String {
    format!("streamctl/{}", env!("CARGO_PKG_VERSION"))
}

/// Kafka's unsecured JWS: header `{"alg":"none"}`, claims `sub`, `iat`, `exp` (seconds), no
/// signature, as `OAuthBearerUnsecuredLoginCallbackHandler` makes it.
pub fn unsecured_jws(principal: &str, now: SystemTime, lifetime: Duration) -> Token {
    let iat = now_ms(now);
    let exp = iat + lifetime.as_millis() as i64;
    let header = B64URL.encode(br#"{"alg":"none"}"#);
    let claims = serde_json::json!({
        "sub": principal,
        "iat": iat as f64 / 1000.0,
        "exp": exp as f64 / 1000.0,
    });
    let claims = B64URL.encode(claims.to_string());
    Token {
        value: format!("{header}.{claims}."),
        principal: principal.to_string(),
        expires_at_ms: exp,
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters (what botocore's
/// `percent_encode` and SigV4's canonical query do).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The MSK IAM token for these credentials, region and signing time: the URL
/// `https://kafka.REGION.amazonaws.com/?Action=kafka-cluster:Connect` presigned with SigV4
/// (service `kafka-cluster`, valid 900 s; AWS's `aws-sigv4` crate signs), `User-Agent` appended
/// after signing, base64url without padding. The query parameters are in the order AWS's own
/// signers write them, so the token is byte for byte theirs for the same inputs.
pub fn msk_iam_token(
    credentials: &aws_credential_types::Credentials,
    region: &str,
    time: SystemTime,
    user_agent: &str,
) -> Result<Token, String> {
    use aws_sigv4::http_request::{
        sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    };
    use aws_sigv4::sign::v4;
    if credentials.access_key_id().is_empty() || credentials.secret_access_key().is_empty() {
        return Err("MSK IAM: the AWS credentials are empty".into());
    }
    let endpoint = format!("https://kafka.{region}.amazonaws.com/");
    let action = "Action=kafka-cluster%3AConnect";
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(MSK_TOKEN_SECONDS));
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("kafka-cluster")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("MSK IAM: signing parameters: {e}"))?;
    let request = SignableRequest::new(
        "GET",
        format!("{endpoint}?{action}"),
        std::iter::empty(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| format!("MSK IAM: {e}"))?;
    let (instructions, _) = sign(request, &params.into())
        .map_err(|e| format!("MSK IAM: signing: {e}"))?
        .into_parts();
    let signed: std::collections::HashMap<&str, &str> = instructions
        .params()
        .iter()
        .map(|(k, v)| (*k, v.as_ref()))
        .collect();
    let mut url = format!("{endpoint}?{action}");
    for key in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    ] {
        if let Some(v) = signed.get(key) {
            url.push_str(&format!("&{key}={}", encode(v)));
        } else if key != "X-Amz-Security-Token" {
            return Err(format!("MSK IAM: the signer gave no {key}"));
        }
    }
    url.push_str(&format!("&User-Agent={}", encode(user_agent)));
    let signed_at = (now_ms(time) / 1000) * 1000;
    Ok(Token {
        value: B64URL.encode(url),
        principal: credentials.access_key_id().to_string(),
        expires_at_ms: signed_at + MSK_TOKEN_SECONDS as i64 * 1000,
    })
}

/// The region in an MSK broker's host name: `b-1.NAME.ID.c2.kafka.us-east-1.amazonaws.com`,
/// `boot-ID.c1.kafka-serverless.eu-west-1.amazonaws.com`, with or without a port.
pub fn region_of_host(host: &str) -> Option<String> {
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let labels: Vec<&str> = host.split('.').collect();
    let i = labels
        .iter()
        .position(|l| *l == "kafka" || *l == "kafka-serverless")?;
    let region = labels.get(i + 1)?;
    (labels.get(i + 2) == Some(&"amazonaws")
        && region.split('-').count() >= 3
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    .then(|| region.to_string())
}

async fn default_region() -> Option<String> {
    aws_config::meta::region::RegionProviderChain::default_provider()
        .region()
        .await
        .map(|r| r.to_string())
}

/// Credentials from aws-config's chain (or the named profile), then an assumed role if asked.
async fn credentials(
    m: &MskIam,
    region: &str,
) -> Result<aws_credential_types::Credentials, String> {
    use aws_credential_types::provider::ProvideCredentials;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()));
    if let Some(p) = &m.profile {
        loader = loader.profile_name(p);
    }
    let conf = loader.load().await;
    let what = match &m.profile {
        Some(p) => format!("AWS profile {p}"),
        None => "the AWS credential chain".to_string(),
    };
    let provider = conf
        .credentials_provider()
        .ok_or_else(|| format!("MSK IAM: {what} yields no credentials provider"))?;
    let creds = match &m.role_arn {
        Some(arn) => {
            aws_config::sts::AssumeRoleProvider::builder(arn)
                .session_name(
                    m.session_name
                        .clone()
                        .unwrap_or_else(|| "streamctl".to_string()),
                )
                .configure(&conf)
                .build()
                .await
                .provide_credentials()
                .await
        }
        None => provider.provide_credentials().await,
    };
    creds.map_err(|e| {
        let role = m
            .role_arn
            .as_deref()
            .map(|r| format!(" assuming {r}"))
            .unwrap_or_default();
        format!(
            "MSK IAM: no AWS credentials from {what}{role}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        )
    })
}

/// What to do when no token could be made.
pub fn token_hint(source: &TokenSource) -> String {
    match source {
        TokenSource::MskIam(_) => "give streamctl AWS credentials that may call kafka-cluster:Connect: AWS_PROFILE or awsProfileName=\"...\" in sasl.jaas.config, environment keys, SSO (aws sso login), or an instance role; awsRoleArn=\"...\" to assume a role".into(),
        TokenSource::Unsecured { .. } => "check unsecuredLoginStringClaim_sub in sasl.jaas.config".into(),
    }
}

/// What to do when the broker refused the token.
pub fn refused_hint(source: &TokenSource) -> String {
    match source {
        TokenSource::MskIam(_) => "MSK refused the IAM token: check that the credentials are current, that their IAM policy allows kafka-cluster:Connect (and the topic and group actions) on this cluster, that IAM authentication is on for the cluster, and the region (from the broker host name, else AWS_REGION)".into(),
        TokenSource::Unsecured { .. } => "the broker refused the unsecured token: it must run Kafka's unsecured validator (development only) and the token must be unexpired (unsecuredLoginLifetimeSeconds)".into(),
    }
}

/// The SASL OAUTHBEARER client's first (and only) message (RFC 7628 section 3.1).
pub fn client_first(token: &Token) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {}\x01\x01", token.value).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn msk_host_names_carry_the_region() {
        for (h, r) in [
            (
                "b-1.demo.abc123.c2.kafka.us-east-1.amazonaws.com:9098",
                Some("us-east-1"),
            ),
            (
                "boot-abcd.c1.kafka-serverless.eu-west-1.amazonaws.com:9098",
                Some("eu-west-1"),
            ),
            (
                "b-2.x.y.c3.kafka.ap-southeast-2.amazonaws.com",
                Some("ap-southeast-2"),
            ),
            ("localhost:9092", None),
            ("kafka.internal.example.com:9092", None),
            ("10.0.0.1:9098", None),
        ] {
            assert_eq!(region_of_host(h).as_deref(), r, "{h}");
        }
    }

    #[test]
    fn the_msk_token_is_a_presigned_url_valid_900_seconds() {
        let creds = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("token/with+chars=".into()),
            None,
            "test",
        );
        let t = msk_iam_token(&creds, "us-east-1", at(1_700_000_000), "streamctl/test").unwrap();
        assert_eq!(t.expires_at_ms, (1_700_000_000 + 900) * 1000);
        let url = String::from_utf8(B64URL.decode(&t.value).unwrap()).unwrap();
        assert!(url.starts_with("https://kafka.us-east-1.amazonaws.com/?Action=kafka-cluster%3AConnect&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Fus-east-1%2Fkafka-cluster%2Faws4_request&X-Amz-Date=20231114T221320Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=token%2Fwith%2Bchars%3D&X-Amz-Signature="), "{url}");
        assert!(url.ends_with("&User-Agent=streamctl%2Ftest"), "{url}");
        // The secret key never appears; another secret signs differently.
        assert!(!url.contains("wJalrXUtnFEMI"));
        let other = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "another",
            Some("token/with+chars=".into()),
            None,
            "test",
        );
        let t2 = msk_iam_token(&other, "us-east-1", at(1_700_000_000), "streamctl/test").unwrap();
        assert_ne!(t.value, t2.value);
        assert!(
            !format!("{t:?}").contains(&t.value),
            "Debug hides the token"
        );
    }

    #[test]
    fn the_unsecured_jws_is_what_kafkas_unsecured_validator_reads() {
        let t = unsecured_jws("admin", at(1_700_000_000), Duration::from_secs(3600));
        let parts: Vec<&str> = t.value.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "", "no signature");
        assert_eq!(B64URL.decode(parts[0]).unwrap(), br#"{"alg":"none"}"#);
        let claims: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["sub"], "admin");
        assert_eq!(claims["iat"], 1_700_000_000.0);
        assert_eq!(claims["exp"], 1_700_003_600.0);
        assert_eq!(t.expires_at_ms, 1_700_003_600_000);
        assert_eq!(
            client_first(&t),
            format!("n,,\x01auth=Bearer {}\x01\x01", t.value).into_bytes()
        );
    }

    #[tokio::test]
    async fn tokens_are_cached_until_a_fifth_of_their_life_is_left() {
        let o = OAuth::new(TokenSource::Unsecured {
            principal: "admin".into(),
            lifetime: Duration::from_secs(3600),
        });
        let a = o.token("localhost:9092").await.unwrap();
        let b = o.token("localhost:9093").await.unwrap();
        assert_eq!(a, b);
        // Near expiry: a new one.
        o.cache.lock().unwrap().as_mut().unwrap().expires_at_ms = now_ms(SystemTime::now()) + 1000;
        let c = o.token_blocking("localhost:9092").unwrap();
        assert!(c.expires_at_ms > a.expires_at_ms - 5_000);
        assert_ne!(c.expires_at_ms, now_ms(SystemTime::now()) + 1000);
    }
}
