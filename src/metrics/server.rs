//! The `--metrics-addr` endpoint: a thread answering `GET /metrics` with the text exposition
//! (anything else: 404), one connection at a time. A scrape is a few kilobytes every 15 s or so;
//! a web framework would add nothing.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::Metrics;

/// A running endpoint; dropping it stops the thread.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Scrapes begun (their figures read) and answered so far.
    counts: Arc<Counts>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Bind `addr` (`HOST:PORT`; port 0 picks a free one) and serve `metrics` from a thread.
    pub fn start(addr: &str, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let counts = Arc::new(Counts::default());
        let counting = counts.clone();
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            if let Err(e) = answer(conn, &metrics, &counting) {
                                tracing::debug!("metrics scrape: {e}");
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => {
                            tracing::debug!("metrics accept: {e}");
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
            })?;
        tracing::info!(address = %addr, "serving metrics at http://{addr}/metrics");
        Ok(Self {
            addr,
            stop,
            counts,
            thread: Some(thread),
        })
    }

    /// At the end of a run: keep serving until a scrape begun after this call was answered (so
    /// it saw the final figures), at most `most`.
    pub fn linger(&self, most: Duration) {
        if most.is_zero() {
            return;
        }
        // Scrapes are answered one at a time, in order: the first one begun after now is number
        // `begun` (counting from 0), answered when `answered` passes it.
        let want = self.counts.begun.load(Ordering::SeqCst) + 1;
        let until = std::time::Instant::now() + most;
        while self.counts.answered.load(Ordering::SeqCst) < want
            && std::time::Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address bound (the port chosen when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Scrapes of `/metrics` begun (figures read) and answered.
#[derive(Default)]
struct Counts {
    begun: AtomicU64,
    answered: AtomicU64,
}

/// Read one request's head and answer it.
fn answer(conn: TcpStream, metrics: &Metrics, counts: &Counts) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // The rest of the head (headers) up to the empty line.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let scrape = (method, path) == ("GET", "/metrics");
    let (status, kind, body) = match (method, path) {
        ("GET", "/metrics") => {
            counts.begun.fetch_add(1, Ordering::SeqCst);
            (
                "200 OK",
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                metrics.encode(),
            )
        }
        ("GET", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "streamctl serves /metrics only\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET /metrics\n".to_string(),
        ),
    };
    let mut out = conn;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()?;
    if scrape {
        counts.answered.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn serves_the_exposition_and_nothing_else() {
        let m = Arc::new(Metrics::new("test"));
        let server = Server::start("127.0.0.1:0", m).unwrap();
        let r = get(server.addr(), "/metrics");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("text/plain; version=0.0.4"));
        assert!(r.contains("streamctl_info{command=\"test\""), "{r}");
        assert!(get(server.addr(), "/").starts_with("HTTP/1.1 404"));
        drop(server);
    }
}
