//! Test helpers shared by socfeed's integration tests: a real server bound to `127.0.0.1:0`,
//! token minting, and WebSocket / HTTP clients that speak over real TCP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use socfeed_proto::Role;
use socfeed_server::{Config, Server};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use tokio_tungstenite::tungstenite;

/// The HS256 secret test servers use.
pub const SECRET: &str = "socfeed-test-secret-0123456789abcdef";

/// How long a test waits for something that should arrive promptly.
pub const WAIT: Duration = Duration::from_secs(10);

/// A socfeed server running in this process on an ephemeral port.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Reloads the key files, as SIGHUP does for the binary.
    pub keys: socfeed_server::KeyReloader,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A server with default settings (embedded log in a temp dir).
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// A server whose settings `tweak` may change first.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        TestServer::start_in(dir, tweak).await
    }

    /// A server over an existing data dir (to test restarts).
    pub async fn start_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::for_tests(dir.path(), SECRET);
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let server = Server::bind(listener, config).await.expect("server starts");
        let addr = server.local_addr().expect("local addr");
        let keys = server.key_reloader();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        TestServer {
            addr,
            keys,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Shuts down gracefully and waits; returns the data dir for a restart.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.shutdown().await;
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .expect("server stops in time")
                .expect("server task");
        }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// `POST /v1/events` with `token` and a JSON body; returns status and parsed body.
    pub async fn publish(&self, token: &str, body: &Value) -> (u16, Value) {
        self.publish_raw(token, "application/json", body.to_string())
            .await
    }

    /// `POST /v1/events` with an arbitrary body and content type.
    pub async fn publish_raw(&self, token: &str, content_type: &str, body: String) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(self.http("/v1/events"))
            .header("content-type", content_type)
            .body(body);
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("publish request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("publish body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Publishes one event of `event_type` for the token's tenant and returns its seq.
    pub async fn publish_one(&self, token: &str, event_type: &str, payload: Value) -> u64 {
        let (status, body) = self
            .publish(
                token,
                &serde_json::json!({"type": event_type, "payload": payload}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["events"][0]["seq"].as_u64().expect("seq")
    }

    /// Publishes `events` as one JSON array; asserts the 202 and returns their seqs in input order.
    pub async fn publish_batch(&self, token: &str, events: &[Value]) -> Vec<u64> {
        let (status, body) = self.publish(token, &Value::Array(events.to_vec())).await;
        assert_eq!(status, 202, "{body}");
        body["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["seq"].as_u64().expect("seq"))
            .collect()
    }

    /// `POST /v1/tickets` with `token`: the reply (`ticket`, `expires_in`).
    pub async fn ticket(&self, token: &str) -> Value {
        reqwest::Client::new()
            .post(self.http("/v1/tickets"))
            .bearer_auth(token)
            .send()
            .await
            .expect("ticket request")
            .json()
            .await
            .expect("ticket reply")
    }

    /// `GET path` → status and body text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = reqwest::get(self.http(path)).await.expect("GET");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A token signed with [`SECRET`].
pub fn token(tenant: &str, roles: &[Role]) -> String {
    token_with(tenant, roles, None, Duration::from_secs(3600))
}

/// A token with a channel allow-list and lifetime.
pub fn token_with(
    tenant: &str,
    roles: &[Role],
    channels: Option<Vec<&str>>,
    ttl: Duration,
) -> String {
    let claims = socfeed_auth::claims(
        tenant,
        "tester",
        roles,
        channels.map(|c| c.into_iter().map(String::from).collect()),
        ttl,
    );
    socfeed_auth::Minter::hs256(SECRET)
        .mint(&claims)
        .expect("mint")
}

/// A subscriber token for `tenant`.
pub fn sub_token(tenant: &str) -> String {
    token(tenant, &[Role::Subscriber])
}

/// A publisher token for `tenant`.
pub fn pub_token(tenant: &str) -> String {
    token(tenant, &[Role::Publisher])
}

/// A WebSocket client over real TCP.
pub struct WsClient {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

impl WsClient {
    pub async fn connect(url: &str) -> WsClient {
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        WsClient { stream }
    }

    /// Connects with extra request headers (e.g. `Authorization`, `Sec-WebSocket-Protocol`);
    /// returns the client and the response headers.
    pub async fn connect_with(
        url: &str,
        headers: &[(&str, &str)],
    ) -> (WsClient, tungstenite::http::HeaderMap) {
        let mut req = url.into_client_request().expect("request");
        for (k, v) in headers {
            req.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                v.parse().expect("header value"),
            );
        }
        let (stream, resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("websocket connects");
        (WsClient { stream }, resp.headers().clone())
    }

    pub async fn send_json(&mut self, v: &Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn send_binary(&mut self, data: &[u8]) {
        self.stream
            .send(Message::binary(data.to_vec()))
            .await
            .expect("send");
    }

    /// Sends text; `false` when the connection is already gone.
    pub async fn try_send_text(&mut self, text: &str) -> bool {
        self.stream.send(Message::text(text)).await.is_ok()
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.expect("send");
    }

    /// The next text message as JSON (control frames are answered by the library and skipped).
    /// Panics when none arrives within [`WAIT`] or the connection closes.
    pub async fn next_json(&mut self) -> Value {
        match self.next_json_within(WAIT).await {
            Ok(Some(v)) => v,
            Ok(None) => panic!("no message within {WAIT:?}"),
            Err(c) => panic!("connection closed: {c:?}"),
        }
    }

    /// The next text message, `Ok(None)` on timeout, `Err` when the connection closed.
    pub async fn next_json_within(&mut self, wait: Duration) -> Result<Option<Value>, Closed> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Ok(None),
                Ok(m) => m,
            };
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Ok(Some(serde_json::from_str(&t).expect("server sends JSON")));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map_or(
                        Closed {
                            code: 1005,
                            reason: String::new(),
                        },
                        |f| Closed {
                            code: f.code.into(),
                            reason: f.reason.to_string(),
                        },
                    ));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    return Err(Closed {
                        code: 1006,
                        reason: String::new(),
                    });
                }
            }
        }
    }

    /// The next message that is not a ping/heartbeat.
    pub async fn next_non_ping(&mut self) -> Value {
        loop {
            let v = self.next_json().await;
            let kind = v
                .get("type")
                .or_else(|| v.get("event"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if kind != "ping" && kind != "feed.heartbeat" {
                return v;
            }
        }
    }

    /// Waits for the close frame, skipping messages; returns its code.
    pub async fn expect_close(&mut self) -> Closed {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_json_within(left).await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no close within {WAIT:?}"),
                Err(c) => return c,
            }
        }
    }

    /// Subscribes (AiSOC) and returns the `subscribed` ack.
    pub async fn subscribe(&mut self, channel: &str, since: Option<u64>) -> Value {
        let mut msg = serde_json::json!({"type": "subscribe", "channel": channel});
        if let Some(s) = since {
            msg["since"] = s.into();
        }
        self.send_json(&msg).await;
        let ack = self.next_non_ping().await;
        assert_eq!(ack["type"], "subscribed", "{ack}");
        ack
    }

    /// Asserts that nothing but pings arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_json_within(left).await {
                Ok(None) => return,
                Ok(Some(v)) if v["type"] == "ping" || v["event"] == "feed.heartbeat" => continue,
                Ok(Some(v)) => panic!("expected nothing, got {v}"),
                Err(c) => panic!("connection closed: {c:?}"),
            }
        }
    }
}

/// A Server-Sent Events client over real TCP (reqwest + eventsource-stream).
pub struct SseClient {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    events: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<eventsource_stream::Event, String>> + Send>,
    >,
}

impl SseClient {
    /// `GET url` with extra headers; the stream is read only when the status is 200.
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> SseClient {
        SseClient::try_connect(url, headers)
            .await
            .expect("SSE request")
    }

    /// Like [`SseClient::connect`], but a failed request is an error instead of a panic.
    pub async fn try_connect(
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<SseClient, reqwest::Error> {
        use eventsource_stream::Eventsource;
        let mut req = reqwest::Client::new()
            .get(url)
            .header("accept", "text/event-stream");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let events = resp
            .bytes_stream()
            .eventsource()
            .map(|r| r.map_err(|e| e.to_string()));
        Ok(SseClient {
            status,
            headers,
            events: Box::pin(events),
        })
    }

    /// The next event within `wait`: `Ok(None)` on timeout, `Err(())` when the stream ended.
    pub async fn next_within(
        &mut self,
        wait: Duration,
    ) -> Result<Option<eventsource_stream::Event>, ()> {
        match tokio::time::timeout(wait, self.events.next()).await {
            Err(_) => Ok(None),
            Ok(Some(Ok(e))) => Ok(Some(e)),
            Ok(None) | Ok(Some(Err(_))) => Err(()),
        }
    }

    /// The next SSE event (heartbeats included); `None` when the stream ended. Panics after [`WAIT`].
    pub async fn next_any(&mut self) -> Option<eventsource_stream::Event> {
        match tokio::time::timeout(WAIT, self.events.next()).await {
            Err(_) => panic!("no SSE event within {WAIT:?}"),
            Ok(None) | Ok(Some(Err(_))) => None,
            Ok(Some(Ok(e))) => Some(e),
        }
    }

    /// The next event that is not a heartbeat; panics if the stream ends.
    pub async fn next_event(&mut self) -> eventsource_stream::Event {
        loop {
            let e = self.next_any().await.expect("SSE stream ended");
            if e.event != "feed.heartbeat" {
                return e;
            }
        }
    }

    /// Asserts that no non-heartbeat event arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.events.next()).await {
                Err(_) => return,
                Ok(Some(Ok(e))) if e.event == "feed.heartbeat" => continue,
                Ok(other) => panic!("expected nothing, got {other:?}"),
            }
        }
    }
}

/// A WebSocket handshake over a raw TCP socket that then never reads or answers.
pub async fn raw_ws(addr: SocketAddr, path: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("raw websocket io");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        addr
    );
    tcp.write_all(req.as_bytes())
        .await
        .expect("raw websocket io");
    let mut buf = [0u8; 1];
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut buf).await.expect("raw websocket io");
        head.push(buf[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    tcp
}

/// Reads server frames (unmasked) until a Close frame; returns its code.
pub async fn read_close_code(tcp: tokio::net::TcpStream) -> u16 {
    read_close(tcp).await.0
}

/// Reads server frames (unmasked) until a Close frame; returns its code and the bytes of the
/// frames before it.
pub async fn read_close(mut tcp: tokio::net::TcpStream) -> (u16, u64) {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut before = 0u64;
    loop {
        let mut h = [0u8; 2];
        tokio::time::timeout_at(deadline, tcp.read_exact(&mut h))
            .await
            .expect("raw websocket io")
            .expect("raw websocket io");
        let opcode = h[0] & 0x0f;
        let mut len = u64::from(h[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            tcp.read_exact(&mut b).await.expect("raw websocket io");
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            tcp.read_exact(&mut b).await.expect("raw websocket io");
            len = u64::from_be_bytes(b);
        }
        let mut payload = vec![0u8; usize::try_from(len).expect("raw websocket io")];
        tokio::time::timeout_at(deadline, tcp.read_exact(&mut payload))
            .await
            .expect("raw websocket io")
            .expect("raw websocket io");
        if opcode == 0x8 {
            return (u16::from_be_bytes([payload[0], payload[1]]), before);
        }
        before += 2 + len;
    }
}

/// The resident memory of process `pid`, in KiB (0 when it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// CPU time process `pid` has used so far (user + system, all its threads), in clock ticks of
/// `/proc/<pid>/stat` (1/100 s on Linux); 0 when it cannot be read.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    tick(11) + tick(12)
}

/// The real `socfeed` binary running `serve` in a child process.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

/// Log lines a [`ServerProcess`] keeps (the latest ones).
const KEPT_LINES: usize = 20_000;

impl ServerProcess {
    /// Starts `bin serve` on `bind` (e.g. `127.0.0.1:0`) over `data_dir`, signing with [`SECRET`],
    /// and waits until it listens. `extra` flags are appended.
    pub fn start(
        bin: &std::path::Path,
        data_dir: &std::path::Path,
        bind: &str,
        extra: &[&str],
    ) -> ServerProcess {
        ServerProcess::launch(std::process::Command::new(bin), data_dir, bind, extra)
    }

    /// As [`ServerProcess::start`], with at most `nofile` open file descriptors (`ulimit -n`).
    pub fn start_with_fd_limit(
        bin: &std::path::Path,
        data_dir: &std::path::Path,
        bind: &str,
        extra: &[&str],
        nofile: u32,
    ) -> ServerProcess {
        let mut sh = std::process::Command::new("sh");
        sh.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(bin);
        ServerProcess::launch(sh, data_dir, bind, extra)
    }

    fn launch(
        mut command: std::process::Command,
        data_dir: &std::path::Path,
        bind: &str,
        extra: &[&str],
    ) -> ServerProcess {
        use std::io::BufRead;
        let mut child = command
            .args([
                "serve",
                "--bind",
                bind,
                "--jwt-secret",
                SECRET,
                "--jwt-leeway",
                "0s",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("SOCFEED_LOG_LEVEL", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("socfeed starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = std::io::BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("server prints its address")
                .expect("stderr line");
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .expect("addr")
                    .parse()
                    .expect("socket addr");
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe; warnings and errors
        // are echoed to the test's output, the latest lines kept for [`ServerProcess::lines`].
        let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = Arc::clone(&kept);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains("WARN") || line.contains("ERROR") {
                    eprintln!("[socfeed] {line}");
                }
                let mut kept = keep
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if kept.len() == KEPT_LINES {
                    kept.remove(0);
                }
                kept.push(line);
            }
        });
        ServerProcess {
            child,
            addr,
            lines: kept,
        }
    }

    /// The log lines printed so far (after the listening line; the latest 20,000).
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How many file descriptors the process has open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Sends a signal (`-TERM`, `-KILL`, `-HUP`).
    pub fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {sig}");
    }

    /// Waits for the process to exit.
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait")
    }
}

impl Drop for ServerProcess {
    /// A test that fails half-way must not leave its server running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
