//! The Kafka wire protocol over TCP with the `kafka-protocol` crate's typed messages: framing,
//! request headers, correlation ids and version negotiation (ApiVersions).

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::security::{Mechanism, Scram, Security};
use super::KafkaError;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};

/// A plain or TLS byte stream.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How failures of this module name the plane.
const PLANE: &str = "admin plane";

/// How long one request may take before the connection is given up.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One connection to one broker, with the API versions it supports.
pub struct Connection {
    pub address: String,
    stream: Box<dyn Io>,
    correlation: i32,
    versions: HashMap<i16, (i16, i16)>,
    /// The security this connection authenticated with, to authenticate again (KIP-368).
    security: Security,
    /// When to authenticate again, if the broker bounds the session.
    reauth_at: Option<std::time::Instant>,
}

impl Connection {
    /// Connect and negotiate versions.
    pub async fn open(address: &str, security: &Security) -> Result<Self, KafkaError> {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| KafkaError::Connect {
                address: address.into(),
                message: "timed out".into(),
            })?
            .map_err(|e| KafkaError::Connect {
                address: address.into(),
                message: e.to_string(),
            })?;
        stream.set_nodelay(true).ok();
        let stream: Box<dyn Io> = if security.protocol.tls() {
            let config = super::security::tls_config(security).map_err(KafkaError::Config)?;
            let host = address
                .rsplit_once(':')
                .map_or(address, |(h, _)| h)
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let name = rustls_pki_types::ServerName::try_from(host)
                .map_err(|e| KafkaError::Config(format!("{address}: {e}")))?;
            let tls = tokio::time::timeout(
                TIMEOUT,
                tokio_rustls::TlsConnector::from(config).connect(name, stream),
            )
            .await
            .map_err(|_| KafkaError::Connect {
                address: address.into(),
                message: "TLS handshake timed out".into(),
            })?
            .map_err(|e| {
                let message = format!("TLS handshake: {e}");
                KafkaError::auth(PLANE, address, message.clone(), super::tls_hint(&message))
            })?;
            Box::new(tls)
        } else {
            Box::new(stream)
        };
        let mut c = Self {
            address: address.into(),
            stream,
            correlation: 0,
            versions: HashMap::new(),
            security: security.clone(),
            reauth_at: None,
        };
        // ApiVersions v3 is what every Kafka 2.4+ broker answers; older ones answer v0.
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("streamctl"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        // With TLS 1.3 a broker that refuses the client's certificate says so after the
        // handshake, as an alert on the first read.
        let tls = security.protocol.tls();
        let resp = c.send_version(req, 3).await.map_err(|e| match e {
            KafkaError::Connect { message, .. } if tls && message.contains("alert") => {
                let message = format!("TLS: {message}");
                KafkaError::auth(PLANE, address, message.clone(), super::tls_hint(&message))
            }
            other => other,
        })?;
        if resp.error_code != 0 {
            return Err(KafkaError::Protocol {
                address: address.into(),
                api: "ApiVersions",
                message: format!("error code {}", resp.error_code),
            });
        }
        c.versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        if security.protocol.sasl() {
            c.authenticate(security).await?;
        }
        Ok(c)
    }

    /// SASL (KIP-43 handshake, KIP-152 authenticate): PLAIN, SCRAM or OAUTHBEARER.
    async fn authenticate(&mut self, security: &Security) -> Result<(), KafkaError> {
        let mechanism = security.mechanism.unwrap_or(Mechanism::Plain);
        let (user, pass) = (
            security.username.clone().unwrap_or_default(),
            security.password.clone().unwrap_or_default(),
        );
        self.handshake(mechanism).await?;
        let v = self.version::<SaslAuthenticateRequest>()?;
        let lifetime_ms = match mechanism {
            Mechanism::Plain => self.sasl_plain(v, &user, &pass).await?,
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                self.sasl_scram(v, mechanism, &user, &pass).await?
            }
            Mechanism::OAuthBearer => {
                let oauth = security.oauth.as_ref().ok_or_else(|| {
                    KafkaError::Config("OAUTHBEARER without a token source".into())
                })?;
                self.sasl_oauth(v, oauth).await?
            }
        };
        // KIP-368: a broker with connections.max.reauth.ms closes the connection when the
        // session ends; authenticate again on this connection before that.
        self.reauth_at = (lifetime_ms > 0).then(|| {
            std::time::Instant::now() + Duration::from_millis(lifetime_ms as u64 * 17 / 20)
        });
        tracing::debug!(address = %self.address, mechanism = mechanism.name(), session_ms = lifetime_ms, "authenticated");
        Ok(())
    }

    /// KIP-43: the listener must enable the mechanism.
    async fn handshake(&mut self, mechanism: Mechanism) -> Result<(), KafkaError> {
        let hs = self
            .send_version(
                SaslHandshakeRequest::default()
                    .with_mechanism(StrBytes::from_static_str(mechanism.name())),
                1,
            )
            .await?;
        if hs.error_code != 0 {
            let offered: Vec<String> = hs
                .mechanisms
                .iter()
                .map(|m| m.as_str().to_string())
                .collect();
            return Err(KafkaError::auth(
                PLANE,
                &self.address,
                format!(
                    "the listener does not enable SASL {} (it offers {})",
                    mechanism.name(),
                    offered.join(", ")
                ),
                "set sasl.mechanism to one the listener offers, or use the listener for your mechanism".into(),
            ));
        }
        Ok(())
    }

    /// PLAIN: one message; the session lifetime (0: unbounded).
    async fn sasl_plain(&mut self, v: i16, user: &str, pass: &str) -> Result<i64, KafkaError> {
        let mechanism = Mechanism::Plain;
        let token = format!("\0{user}\0{pass}");
        let r = self
            .send_version(
                SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token.into_bytes())),
                v,
            )
            .await?;
        if r.error_code != 0 {
            return Err(refused(&self.address, mechanism, user, &r));
        }
        Ok(r.session_lifetime_ms)
    }

    /// SCRAM (RFC 5802): client-first, client-final, and the server's proof checked.
    async fn sasl_scram(
        &mut self,
        v: i16,
        mechanism: Mechanism,
        user: &str,
        pass: &str,
    ) -> Result<i64, KafkaError> {
        let mut scram = Scram::new(mechanism, user, pass);
        let r = self
            .send_version(
                SaslAuthenticateRequest::default()
                    .with_auth_bytes(Bytes::from(scram.client_first())),
                v,
            )
            .await?;
        if r.error_code != 0 {
            return Err(refused(&self.address, mechanism, user, &r));
        }
        let fin = scram.client_final(&r.auth_bytes).map_err(|m| {
            KafkaError::auth(
                PLANE,
                &self.address,
                format!("SCRAM: {m}"),
                "the broker's SCRAM answer is malformed: is this a Kafka listener?".into(),
            )
        })?;
        let r = self
            .send_version(
                SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(fin)),
                v,
            )
            .await?;
        if r.error_code != 0 {
            return Err(refused(&self.address, mechanism, user, &r));
        }
        scram
            .verify_server_final(&r.auth_bytes)
            .map_err(|m| {
                KafkaError::auth(PLANE, &self.address, format!("SCRAM: {m}"), "the broker could not prove it knows the password: check that you connect to the cluster you mean".into())
            })?;
        Ok(r.session_lifetime_ms)
    }

    /// OAUTHBEARER (RFC 7628): the token source's token; a refusal names the principal and
    /// the broker's reason.
    async fn sasl_oauth(&mut self, v: i16, oauth: &super::oauth::OAuth) -> Result<i64, KafkaError> {
        let token = oauth.token(&self.address).await.map_err(|m| {
            KafkaError::auth(
                PLANE,
                &self.address,
                m,
                super::oauth::token_hint(&oauth.source),
            )
        })?;
        let r = self
            .send_version(
                SaslAuthenticateRequest::default()
                    .with_auth_bytes(Bytes::from(super::oauth::client_first(&token))),
                v,
            )
            .await?;
        // A refused token comes back as a JSON challenge (RFC 7628 3.2.2) that the
        // client acknowledges with one 0x01 byte; the broker then fails the exchange.
        let detail = String::from_utf8_lossy(&r.auth_bytes).to_string();
        if r.error_code == 0 && !r.auth_bytes.is_empty() {
            let r2 = self
                .send_version(
                    SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\x01")),
                    v,
                )
                .await;
            let why = match &r2 {
                Ok(r2) if r2.error_code != 0 => r2
                    .error_message
                    .as_ref()
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
                _ => String::new(),
            };
            return Err(KafkaError::auth(
                PLANE,
                &self.address,
                format!(
                    "SASL {} authentication as {} failed: the broker refused the token ({detail}){}",
                    oauth.describe(),
                    token.principal,
                    if why.is_empty() { String::new() } else { format!(": {why}") }
                ),
                super::oauth::refused_hint(&oauth.source),
            ));
        }
        if r.error_code != 0 {
            return Err(KafkaError::auth(
                PLANE,
                &self.address,
                format!(
                    "SASL {} authentication as {} failed: {}",
                    oauth.describe(),
                    token.principal,
                    r.error_message
                        .as_ref()
                        .map(|m| m.as_str().to_string())
                        .unwrap_or_else(|| format!("error {}", r.error_code))
                ),
                super::oauth::refused_hint(&oauth.source),
            ));
        }
        Ok(r.session_lifetime_ms)
    }

    /// The API keys the broker offers (from ApiVersions at connect time).
    pub fn api_keys(&self) -> std::collections::BTreeSet<i16> {
        self.versions.keys().copied().collect()
    }

    /// The highest version both sides speak for `R`.
    pub fn version<R: Request>(&self) -> Result<i16, KafkaError> {
        let (min, max) =
            self.versions
                .get(&R::KEY)
                .copied()
                .ok_or_else(|| KafkaError::Unsupported {
                    address: self.address.clone(),
                    api: R::KEY,
                    message: "the broker does not offer this API".into(),
                })?;
        let v = max.min(R::VERSIONS.max);
        if v < min.max(R::VERSIONS.min) {
            return Err(KafkaError::Unsupported {
                address: self.address.clone(),
                api: R::KEY,
                message: format!("broker speaks {min}..={max}"),
            });
        }
        Ok(v)
    }

    /// Send at the negotiated version.
    pub async fn send<R: Request>(&mut self, req: R) -> Result<R::Response, KafkaError> {
        if self
            .reauth_at
            .is_some_and(|t| std::time::Instant::now() >= t)
        {
            let security = self.security.clone();
            self.authenticate(&security).await?;
        }
        let v = self.version::<R>()?;
        self.send_version(req, v).await
    }

    /// Send at version `v` and read the response.
    pub async fn send_version<R: Request>(
        &mut self,
        req: R,
        v: i16,
    ) -> Result<R::Response, KafkaError> {
        self.correlation = self.correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(v)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("streamctl")));
        let addr = self.address.clone();
        let proto = |m: &dyn std::fmt::Display| KafkaError::Protocol {
            address: addr.clone(),
            api: api_name(R::KEY),
            message: m.to_string(),
        };
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(v))
            .map_err(|e| proto(&e))?;
        req.encode(&mut body, v).map_err(|e| proto(&e))?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        let io = |e: std::io::Error| KafkaError::Connect {
            address: self.address.clone(),
            message: e.to_string(),
        };
        let exchange = async {
            self.stream.write_all(&frame).await.map_err(io)?;
            let len = self.stream.read_i32().await.map_err(io)?;
            if !(0..=256 << 20).contains(&len) {
                return Err(KafkaError::Protocol {
                    address: self.address.clone(),
                    api: api_name(R::KEY),
                    message: format!("bad frame length {len}"),
                });
            }
            let mut buf = vec![0u8; len as usize];
            self.stream.read_exact(&mut buf).await.map_err(io)?;
            Ok(Bytes::from(buf))
        };
        let mut buf = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| KafkaError::Connect {
                address: self.address.clone(),
                message: format!("no answer to {} within {TIMEOUT:?}", api_name(R::KEY)),
            })??;
        let rh = ResponseHeader::decode(&mut buf, R::Response::header_version(v))
            .map_err(|e| proto(&e))?;
        if rh.correlation_id != self.correlation {
            return Err(KafkaError::Protocol {
                address: self.address.clone(),
                api: api_name(R::KEY),
                message: "correlation id mismatch".into(),
            });
        }
        let resp = R::Response::decode(&mut buf, v).map_err(|e| proto(&e))?;
        if buf.has_remaining() {
            tracing::debug!(
                api = api_name(R::KEY),
                left = buf.remaining(),
                "response had trailing bytes"
            );
        }
        Ok(resp)
    }
}

/// A SASL exchange the broker failed: the mechanism, the user and the broker's message.
fn refused(
    address: &str,
    mechanism: Mechanism,
    user: &str,
    r: &kafka_protocol::messages::SaslAuthenticateResponse,
) -> KafkaError {
    KafkaError::auth(
        PLANE,
        address,
        format!(
            "SASL {} authentication as {user} failed: {}",
            mechanism.name(),
            r.error_message
                .as_ref()
                .map(|m| m.as_str().to_string())
                .unwrap_or_else(|| format!("error {}", r.error_code))
        ),
        format!("check the user and password in sasl.jaas.config (or sasl.username/sasl.password); SCRAM credentials exist per mechanism: kafka-configs.sh --alter --entity-type users --entity-name {user} --add-config '{}=[password=...]'", mechanism.name()),
    )
}

/// A readable name for an API key (for messages).
pub fn api_name(key: i16) -> &'static str {
    match key {
        3 => "Metadata",
        18 => "ApiVersions",
        19 => "CreateTopics",
        32 => "DescribeConfigs",
        35 => "DescribeLogDirs",
        37 => "CreatePartitions",
        43 => "ElectLeaders",
        44 => "IncrementalAlterConfigs",
        45 => "AlterPartitionReassignments",
        46 => "ListPartitionReassignments",
        60 => "DescribeCluster",
        _ => "Kafka request",
    }
}
