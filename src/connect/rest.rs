//! [`RestConnect`]: the Kafka Connect worker REST API over plain HTTP/1.1 (one connection per
//! request, `Connection: close`), blocking with timeouts. HTTPS and authenticated REST are not
//! spoken: put the worker behind a local port-forward or run streamctl where the REST listener is
//! reachable in plain HTTP (the listener a Connect cluster uses between its own workers).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ConnectApi, ConnectError, Plugin, SourceOffset, Status, TaskConfig, WorkerInfo};

const TIMEOUT: Duration = Duration::from_secs(30);

pub struct RestConnect {
    url: String,
    host: String,
    port: u16,
    prefix: String,
}

/// A parsed HTTP response.
struct Response {
    status: u16,
    body: Vec<u8>,
}

impl RestConnect {
    /// `http://host:port[/path]`.
    pub fn new(url: &str) -> Result<Self, ConnectError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            ConnectError::Config(format!(
                "--connect-url {url}: only http:// URLs are supported (https is not spoken)"
            ))
        })?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_string()),
            None => (rest, String::new()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse::<u16>().map_err(|_| {
                    ConnectError::Config(format!("--connect-url {url}: bad port {p:?}"))
                })?,
            ),
            None => (authority.to_string(), 8083),
        };
        if host.is_empty() {
            return Err(ConnectError::Config(format!(
                "--connect-url {url}: no host"
            )));
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            host,
            port,
            prefix,
        })
    }

    fn request(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, ConnectError> {
        let unreachable = |e: std::io::Error| ConnectError::Connect {
            url: self.url.clone(),
            message: e.to_string(),
        };
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(unreachable)?
            .next()
            .ok_or_else(|| ConnectError::Connect {
                url: self.url.clone(),
                message: "the host name resolves to no address".into(),
            })?;
        let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(unreachable)?;
        s.set_read_timeout(Some(TIMEOUT)).map_err(unreachable)?;
        s.set_write_timeout(Some(TIMEOUT)).map_err(unreachable)?;
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}:{}\r\nAccept: application/json\r\nConnection: close\r\nUser-Agent: streamctl/{}\r\n",
            self.prefix,
            self.host,
            self.port,
            env!("CARGO_PKG_VERSION")
        );
        if body.is_some() || matches!(method, "PUT" | "POST") {
            head += &format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                payload.len()
            );
        }
        head += "\r\n";
        s.write_all(head.as_bytes()).map_err(unreachable)?;
        s.write_all(payload.as_bytes()).map_err(unreachable)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(unreachable)?;
        parse_response(&raw).map_err(|m| ConnectError::Connect {
            url: self.url.clone(),
            message: format!("{method} {path}: {m}"),
        })
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

/// Status line, headers, and a body with `Content-Length`, chunked encoding or read to close.
fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header in the answer")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "a header that is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if k == "content-length" {
                length = v.parse::<usize>().ok();
            }
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let nl = rest[at..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("a truncated chunk")?;
            let size_text =
                std::str::from_utf8(&rest[at..at + nl]).map_err(|_| "bad chunk size")?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_text:?}"))?;
            at += nl + 2;
            if size == 0 {
                break;
            }
            if at + size > rest.len() {
                return Err("a truncated chunk".into());
            }
            out.extend_from_slice(&rest[at..at + size]);
            at += size + 2;
        }
        out
    } else {
        match length {
            Some(n) if n <= rest.len() => rest[..n].to_vec(),
            Some(_) => return Err("a truncated body".into()),
            None => rest.to_vec(),
        }
    };
    Ok(Response { status, body })
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
    fn urls_are_parsed_and_https_is_refused() {
        let c = RestConnect::new("http://worker:8083/").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.prefix.as_str()),
            ("worker", 8083, "")
        );
        let c = RestConnect::new("http://10.0.0.1:18083/connect").unwrap();
        assert_eq!((c.port, c.prefix.as_str()), (18083, "/connect"));
        assert_eq!(RestConnect::new("http://w").unwrap().port, 8083);
        assert!(matches!(
            RestConnect::new("https://w:8083"),
            Err(ConnectError::Config(_))
        ));
        assert!(RestConnect::new("http://w:x").is_err());
    }

    #[test]
    fn responses_with_length_chunked_and_close() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"{}".as_slice()));
        let r = parse_response(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            (r.status, r.body.as_slice()),
            (201, b"{\"a\":1}".as_slice())
        );
        let r = parse_response(b"HTTP/1.1 404 Not Found\r\n\r\nnope").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, b"nope".as_slice()));
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}").is_err());
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
