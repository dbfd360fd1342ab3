//! `socfeed tail`, the real binary: one JSON envelope per line in either dialect, channels and
//! filters, resume across a server restart on the same port, a refused token, the plain view
//! when piped, and (when tmux is installed) the coloured view in a terminal.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use socfeed_testkit::{ServerProcess, TestServer, WAIT, pub_token, sub_token};

const TENANT: &str = "acme";

/// A running `socfeed tail` whose stdout lines and stderr are collected.
struct Tail {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Tail {
    fn start(url: &str, token: &str, args: &[&str]) -> Tail {
        let mut child = Command::new(env!("CARGO_BIN_EXE_socfeed"))
            .args(["tail", "--url", url, "--token", token])
            .args(args)
            .env_remove("SOCFEED_URL")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("socfeed tail starts");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    return;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Tail {
            child,
            lines,
            stderr,
        }
    }

    fn line(&self) -> String {
        self.lines.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!(
                "no line from tail within {WAIT:?}; stderr: {}",
                self.stderr()
            )
        })
    }

    fn json(&self) -> Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    fn jsons(&self, n: usize) -> Vec<Value> {
        (0..n).map(|_| self.json()).collect()
    }

    fn quiet(&self, wait: Duration) {
        if let Ok(line) = self.lines.recv_timeout(wait) {
            panic!("expected nothing more, got {line:?}");
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for the process to exit on its own.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "tail did not exit; stderr: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn seqs(values: &[Value]) -> Vec<u64> {
    values
        .iter()
        .map(|v| v["seq"].as_u64().expect("seq"))
        .collect()
}

/// `POST /v1/events` of `events` (JSON array) to `addr`; returns their seqs.
async fn publish(addr: SocketAddr, events: Value) -> Vec<u64> {
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/v1/events"))
        .bearer_auth(pub_token(TENANT))
        .json(&events)
        .send()
        .await
        .expect("publish");
    assert_eq!(resp.status().as_u16(), 202);
    let body: Value = resp.json().await.expect("publish reply");
    body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect()
}

fn alerts(n: usize, severity: &str) -> Value {
    Value::Array(
        (0..n)
            .map(|i| json!({"type": "alert.new", "payload": {"title": format!("alert {i}"), "severity": severity}}))
            .collect(),
    )
}

/// `socfeed serve` on `bind` over `dir`.
fn serve(dir: &std::path::Path, bind: &str) -> ServerProcess {
    ServerProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_socfeed")),
        dir,
        bind,
        &[],
    )
}

/// SIGTERM, then wait for a clean exit.
fn terminate(server: ServerProcess) {
    server.signal("-TERM");
    assert!(server.wait().success(), "server stopped cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_resume_across_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), "127.0.0.1:0");
    let addr = server.addr;
    let url = format!("http://{addr}");
    assert_eq!(
        publish(addr, alerts(5, "high")).await,
        (1..=5).collect::<Vec<_>>()
    );
    let tail = Tail::start(
        &url,
        &sub_token(TENANT),
        &["--dialect", "govern", "--since", "0", "--json"],
    );
    let first = tail.jsons(5);
    assert_eq!(seqs(&first), [1, 2, 3, 4, 5]);
    assert_eq!(first[0]["event"], "alert.new");
    assert_eq!(first[0]["data"]["title"], "alert 0");
    assert!(first[0]["ts"].is_i64());

    terminate(server);
    let server = serve(dir.path(), &addr.to_string());
    assert_eq!(server.addr, addr);
    assert_eq!(
        publish(addr, alerts(5, "low")).await,
        (6..=10).collect::<Vec<_>>()
    );
    assert_eq!(seqs(&tail.jsons(5)), [6, 7, 8, 9, 10]);
    tail.quiet(Duration::from_millis(300));
    let stderr = tail.stderr();
    assert!(stderr.contains("reconnecting in"), "{stderr}");
    assert!(stderr.contains("1001"), "{stderr}");
    drop(tail);
    terminate(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aisoc_channels_as_json_lines() {
    let server = TestServer::start().await;
    let events = json!([
        {"type": "alert.created", "payload": {"title": "a1"}},
        {"type": "case.created", "payload": {"title": "c1"}},
        {"type": "ueba.anomaly", "payload": {"title": "u1"}},
        {"type": "alert.updated", "payload": {"title": "a2"}},
    ]);
    publish(server.addr, events).await;
    let tail = Tail::start(
        &server.http(""),
        &sub_token(TENANT),
        &[
            "--channel",
            "alerts",
            "--channel",
            "cases",
            "--since",
            "0",
            "--json",
        ],
    );
    let mut got = tail.jsons(3);
    got.sort_by_key(|v| v["seq"].as_u64());
    assert_eq!(seqs(&got), [1, 2, 4], "alerts and cases only, each once");
    assert_eq!(got[0]["type"], "alert.created");
    assert_eq!(got[0]["tenant_id"], TENANT);
    assert!(got[0]["ts"].as_str().expect("RFC 3339 ts").ends_with('Z'));
    publish(
        server.addr,
        json!([{"type": "case.closed", "payload": {}}, {"type": "ueba.anomaly", "payload": {}}]),
    )
    .await;
    assert_eq!(tail.json()["seq"], 5);
    tail.quiet(Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govern_filters_narrow_the_feed() {
    let server = TestServer::start().await;
    publish(server.addr, alerts(2, "low")).await;
    publish(server.addr, alerts(2, "high")).await;
    publish(
        server.addr,
        json!([{"type": "alert.updated", "payload": {"severity": "high"}}]),
    )
    .await;
    let tail = Tail::start(
        &server.http(""),
        &sub_token(TENANT),
        &[
            "--dialect",
            "govern",
            "--severities",
            "critical,high",
            "--events",
            "alert.new",
            "--since",
            "0",
            "--json",
        ],
    );
    assert_eq!(seqs(&tail.jsons(2)), [3, 4]);
    publish(server.addr, alerts(1, "critical")).await;
    assert_eq!(tail.json()["seq"], 6);
    tail.quiet(Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_view_has_no_colour_when_piped() {
    let server = TestServer::start().await;
    publish(
        server.addr,
        json!([{"type": "alert.created", "payload": {"title": "Password spraying on vpn-gw", "severity": "high"}}]),
    )
    .await;
    let tail = Tail::start(&server.http(""), &sub_token(TENANT), &["--since", "0"]);
    let line = tail.line();
    assert!(!line.contains('\x1b'), "{line:?}");
    for part in ["#1", "HIGH", "alert.created", "Password spraying on vpn-gw"] {
        assert!(line.contains(part), "{part} in {line:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_ends_tail_with_an_error() {
    let server = TestServer::start().await;
    let mut tail = Tail::start(
        &server.http(""),
        &format!("{}x", sub_token(TENANT)),
        &["--json"],
    );
    assert_eq!(tail.exit_code(), Some(1));
    let stderr = tail.stderr();
    assert!(stderr.contains("4001"), "{stderr}");
    let mut publisher = Tail::start(
        &server.http(""),
        &pub_token(TENANT),
        &["--dialect", "govern"],
    );
    assert_eq!(publisher.exit_code(), Some(1));
    assert!(
        publisher.stderr().contains("4003"),
        "{}",
        publisher.stderr()
    );
}

/// The coloured view, read off a real terminal (tmux). Skipped when tmux is not installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_view_is_coloured_by_severity() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux not installed: skipping the terminal check");
        return;
    }
    let server = TestServer::start().await;
    publish(
        server.addr,
        json!([
            {"type": "alert.created", "payload": {"title": "crit-one", "severity": "critical"}},
            {"type": "alert.created", "payload": {"title": "high-one", "severity": "high"}},
        ]),
    )
    .await;
    let socket = format!("socfeed-tail-test-{}", std::process::id());
    let cmd = format!(
        "{} tail --url {} --token {} --since 0",
        env!("CARGO_BIN_EXE_socfeed"),
        server.http(""),
        sub_token(TENANT)
    );
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .arg("-L")
            .arg(&socket)
            .args(args)
            .env_remove("NO_COLOR")
            .output()
            .expect("tmux")
    };
    assert!(
        tmux(&["new-session", "-d", "-x", "160", "-y", "10", &cmd])
            .status
            .success()
    );
    let deadline = Instant::now() + WAIT;
    let screen = loop {
        let out = tmux(&["capture-pane", "-p", "-e"]);
        let screen = String::from_utf8_lossy(&out.stdout).to_string();
        if screen.contains("high-one") {
            break screen;
        }
        if Instant::now() > deadline {
            tmux(&["kill-server"]);
            panic!("tail showed nothing in tmux: {screen:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    tmux(&["kill-server"]);
    let line_of = |text: &str| {
        screen
            .lines()
            .find(|l| l.contains(text))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line_of("high-one").contains("\x1b[31m"), "{screen:?}");
    assert!(line_of("crit-one").contains("35m"), "{screen:?}");
}
