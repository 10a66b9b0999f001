//! [`RestConnect`]: the Kafka Connect worker REST API over HTTP or HTTPS (ureq on rustls),
//! blocking with timeouts, with HTTP basic auth (Kafka's `BasicAuthSecurityRestExtension`) when
//! credentials are given. The server's certificate is checked against `--connect-ca-file` (PEM),
//! else the system's roots; credentials come from a file or the environment, never the command
//! line, and are never logged.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rustls_pki_types::pem::PemObject;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ConnectApi, ConnectError, Plugin, SourceOffset, Status, TaskConfig, WorkerInfo};

const TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the REST API besides its URL.
#[derive(Clone, Default)]
pub struct RestOptions {
    /// PEM CA bundle for an https:// URL (default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// HTTP basic auth (user, password).
    pub basic_auth: Option<(String, String)>,
}

impl std::fmt::Debug for RestOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestOptions")
            .field("ca_file", &self.ca_file)
            .field("user", &self.basic_auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl RestOptions {
    /// Basic-auth credentials from a file holding `user:password` on its first line.
    pub fn credentials_file(text: &str) -> Result<(String, String), String> {
        let line = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches('\r');
        match line.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok((u.to_string(), p.to_string())),
            _ => Err("the first line must be user:password".into()),
        }
    }
}

pub struct RestConnect {
    url: String,
    agent: ureq::Agent,
    /// `Basic ...`, when credentials are given.
    authorization: Option<String>,
}

/// A parsed HTTP response.
struct Response {
    status: u16,
    body: Vec<u8>,
}

impl RestConnect {
    /// `http[s]://host[:port][/path]`.
    pub fn new(url: &str, options: &RestOptions) -> Result<Self, ConnectError> {
        let config = |m: String| ConnectError::Config(format!("--connect-url {url}: {m}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| config("not a URL (http://host:8083 or https://host:8443)".into()))?;
        let https = match scheme {
            "http" => false,
            "https" => true,
            other => return Err(config(format!("the scheme {other} is not http or https"))),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err(config("credentials in the URL would show in the process list; give them with --connect-credentials-file or STREAMCTL_CONNECT_USERNAME/STREAMCTL_CONNECT_PASSWORD".into()));
        }
        let host = match authority.rsplit_once(':') {
            Some((h, p)) => {
                p.parse::<u16>()
                    .map_err(|_| config(format!("bad port {p:?}")))?;
                h
            }
            None => authority,
        };
        if host.is_empty() {
            return Err(config("no host".into()));
        }
        if options.ca_file.is_some() && !https {
            tracing::warn!(url, "--connect-ca-file is not used with an http:// URL");
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let roots = match &options.ca_file {
            _ if !https => vec![],
            Some(f) => {
                let pem = std::fs::read(f).map_err(|e| {
                    ConnectError::Config(format!("--connect-ca-file {}: {e}", f.display()))
                })?;
                let certs = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        ConnectError::Config(format!(
                            "--connect-ca-file {}: not PEM certificates: {e}",
                            f.display()
                        ))
                    })?;
                if certs.is_empty() {
                    return Err(ConnectError::Config(format!(
                        "--connect-ca-file {}: no certificate in it",
                        f.display()
                    )));
                }
                certs
            }
            None => rustls_native_certs::load_native_certs().certs,
        };
        let roots: Vec<ureq::tls::Certificate<'static>> = roots
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(provider)
            .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .user_agent(format!("streamctl/{}", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build()
            .into();
        let authorization = options.basic_auth.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        if authorization.is_some() && !https {
            tracing::warn!(
                url,
                "sending Connect basic-auth credentials over plain http"
            );
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            agent,
            authorization,
        })
    }

    fn request(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, ConnectError> {
        let url = format!("{}{path}", self.url);
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Accept", "application/json");
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        if body.is_some() || matches!(method, "PUT" | "POST") {
            req = req.header("Content-Type", "application/json");
        }
        let req = req
            .body(payload)
            .map_err(|e| ConnectError::Config(format!("{url}: {e}")))?;
        let mut resp = self.agent.run(req).map_err(|e| match tls_error(&e) {
            Some(message) => ConnectError::Tls {
                url: self.url.clone(),
                message,
            },
            None => ConnectError::Connect {
                url: self.url.clone(),
                message: format!("{method} {path}: {e}"),
            },
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .map_err(|e| ConnectError::Connect {
                url: self.url.clone(),
                message: format!("{method} {path}: reading the answer: {e}"),
            })?;
        if status == 401 || status == 403 {
            return Err(ConnectError::Auth {
                url: self.url.clone(),
                status,
                with_credentials: self.authorization.is_some(),
            });
        }
        Ok(Response { status, body })
    }

    /// A request whose 2xx body is JSON of type `T`; 404 is `None`.
    fn json<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<T>, ConnectError> {
        let r = self.request(method, path, body)?;
        if r.status == 404 {
            return Ok(None);
        }
        check(method, path, &r)?;
        serde_json::from_slice(&r.body)
            .map(Some)
            .map_err(|e| ConnectError::Api {
                method,
                path: path.into(),
                status: r.status,
                message: format!("unexpected answer: {e}"),
            })
    }

    /// A request whose answer is only its status.
    fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(), ConnectError> {
        let r = self.request(method, path, body)?;
        check(method, path, &r)
    }
}

/// The TLS failure in a transport error, if it is one.
fn tls_error(e: &ureq::Error) -> Option<String> {
    match e {
        ureq::Error::Rustls(t) => Some(t.to_string()),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|i| i.downcast_ref::<tokio_rustls::rustls::Error>())
            .map(|t| t.to_string()),
        _ => None,
    }
}

fn check(method: &'static str, path: &str, r: &Response) -> Result<(), ConnectError> {
    if (200..300).contains(&r.status) {
        return Ok(());
    }
    // Connect answers errors as {"error_code": n, "message": "..."}.
    let message = serde_json::from_slice::<Value>(&r.body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&r.body).chars().take(500).collect());
    Err(ConnectError::Api {
        method,
        path: path.into(),
        status: r.status,
        message,
    })
}

fn path_of(name: &str) -> String {
    // Names streamctl uses are [A-Za-z0-9._-]; anything else is percent-encoded.
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

impl ConnectApi for RestConnect {
    fn url(&self) -> &str {
        &self.url
    }

    fn info(&self) -> Result<WorkerInfo, ConnectError> {
        self.json("GET", "/", None)?
            .ok_or_else(|| ConnectError::Api {
                method: "GET",
                path: "/".into(),
                status: 404,
                message: "no Kafka Connect worker answers at this URL".into(),
            })
    }

    fn plugins(&self) -> Result<Vec<Plugin>, ConnectError> {
        Ok(self
            .json("GET", "/connector-plugins?connectorsOnly=true", None)?
            .unwrap_or_default())
    }

    fn validate(
        &self,
        class: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, Vec<String>>, ConnectError> {
        let short = class.rsplit('.').next().unwrap_or(class);
        let path = format!("/connector-plugins/{}/config/validate", path_of(short));
        let body = serde_json::to_value(config).expect("a string map serializes");
        let v: Value = self.json("PUT", &path, Some(&body))?.unwrap_or(Value::Null);
        let mut out = BTreeMap::new();
        for c in v
            .get("configs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(value) = c.get("value") else {
                continue;
            };
            let errors: Vec<String> = value
                .get("errors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect();
            if let (false, Some(name)) =
                (errors.is_empty(), value.get("name").and_then(Value::as_str))
            {
                out.insert(name.to_string(), errors);
            }
        }
        Ok(out)
    }

    fn config(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, ConnectError> {
        self.json(
            "GET",
            &format!("/connectors/{}/config", path_of(name)),
            None,
        )
    }

    fn put_config(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), ConnectError> {
        let body = serde_json::to_value(config).expect("a string map serializes");
        self.call(
            "PUT",
            &format!("/connectors/{}/config", path_of(name)),
            Some(&body),
        )
    }

    fn tasks(&self, name: &str) -> Result<Vec<TaskConfig>, ConnectError> {
        let v: Value = self
            .json("GET", &format!("/connectors/{}/tasks", path_of(name)), None)?
            .unwrap_or(Value::Null);
        Ok(parse_tasks(&v))
    }

    fn status(&self, name: &str) -> Result<Option<Status>, ConnectError> {
        self.json(
            "GET",
            &format!("/connectors/{}/status", path_of(name)),
            None,
        )
    }

    fn pause(&self, name: &str) -> Result<(), ConnectError> {
        self.call("PUT", &format!("/connectors/{}/pause", path_of(name)), None)
    }

    fn resume(&self, name: &str) -> Result<(), ConnectError> {
        self.call(
            "PUT",
            &format!("/connectors/{}/resume", path_of(name)),
            None,
        )
    }

    fn restart_task(&self, name: &str, task: i32) -> Result<(), ConnectError> {
        self.call(
            "POST",
            &format!("/connectors/{}/tasks/{task}/restart", path_of(name)),
            None,
        )
    }

    fn restart(&self, name: &str) -> Result<(), ConnectError> {
        self.call(
            "POST",
            &format!("/connectors/{}/restart?includeTasks=true", path_of(name)),
            None,
        )
    }

    fn delete(&self, name: &str) -> Result<(), ConnectError> {
        let path = format!("/connectors/{}", path_of(name));
        let r = self.request("DELETE", &path, None)?;
        if r.status == 404 {
            return Ok(());
        }
        check("DELETE", &path, &r)
    }

    fn offsets(&self, name: &str) -> Result<Vec<SourceOffset>, ConnectError> {
        let v: Value = self
            .json(
                "GET",
                &format!("/connectors/{}/offsets", path_of(name)),
                None,
            )?
            .unwrap_or(Value::Null);
        Ok(parse_offsets(&v))
    }
}

/// `[{"id":{"connector":..,"task":n},"config":{..}}]`.
fn parse_tasks(v: &Value) -> Vec<TaskConfig> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(TaskConfig {
                id: t.get("id")?.get("task")?.as_i64()? as i32,
                config: t
                    .get("config")?
                    .as_object()?
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect(),
            })
        })
        .collect()
}

/// `{"offsets":[{"partition":{"cluster":..,"topic":..,"partition":n},"offset":{"offset":m}}]}`.
fn parse_offsets(v: &Value) -> Vec<SourceOffset> {
    v.get("offsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let p = o.get("partition")?;
            Some(SourceOffset {
                topic: p.get("topic")?.as_str()?.to_string(),
                partition: p.get("partition")?.as_i64()? as i32,
                offset: o.get("offset")?.get("offset")?.as_i64()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_credentials_stay_out_of_them() {
        let o = RestOptions::default();
        assert_eq!(
            RestConnect::new("http://worker:8083/", &o).unwrap().url,
            "http://worker:8083"
        );
        assert_eq!(
            RestConnect::new("https://10.0.0.1:18443/connect", &o)
                .unwrap()
                .url,
            "https://10.0.0.1:18443/connect"
        );
        for bad in [
            "worker:8083",
            "ftp://w",
            "http://w:x",
            "https://u:p@w:8443",
            "http://",
        ] {
            assert!(
                matches!(RestConnect::new(bad, &o), Err(ConnectError::Config(_))),
                "{bad}"
            );
        }
        let ca = RestOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        assert!(
            RestConnect::new("http://w:8083", &ca).is_ok(),
            "no CA read for plain http"
        );
        assert!(
            RestConnect::new("https://w:8443", &ca).is_err(),
            "a missing CA file"
        );
        let o = RestOptions {
            basic_auth: Some(("connect".into(), "s3cret".into())),
            ..Default::default()
        };
        assert!(!format!("{o:?}").contains("s3cret"));
        assert_eq!(
            RestOptions::credentials_file("connect:pa:ss\nignored\n").unwrap(),
            ("connect".to_string(), "pa:ss".to_string())
        );
        assert!(RestOptions::credentials_file("no-colon\n").is_err());
    }

    #[test]
    fn offsets_as_mirror_maker_writes_them() {
        let v: Value = serde_json::from_str(r#"{"offsets":[{"partition":{"cluster":"source","partition":1,"topic":"t"},"offset":{"offset":10047}},{"partition":{"odd":1},"offset":{}}]}"#).unwrap();
        assert_eq!(
            parse_offsets(&v),
            vec![SourceOffset {
                topic: "t".into(),
                partition: 1,
                offset: 10047
            }]
        );
    }

    #[test]
    fn tasks_with_their_configs() {
        let v: Value = serde_json::from_str(r#"[{"id":{"connector":"c","task":1},"config":{"name":"c","task.index":"1","task.assigned.partitions":"t-0,t-3"}}]"#).unwrap();
        let t = parse_tasks(&v);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].id, t[0].config["task.assigned.partitions"].as_str()),
            (1, "t-0,t-3")
        );
    }

    #[test]
    fn names_are_escaped_in_paths() {
        assert_eq!(path_of("streamctl-mig.1"), "streamctl-mig.1");
        assert_eq!(path_of("a b/c"), "a%20b%2Fc");
    }
}
