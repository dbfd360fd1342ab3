//! The server under test: a URL on this machine, or a `socfeed serve` child we start and kill.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::Url;
use socfeed_server::Engine;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How long a spawned server may take to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Where to send traffic: the HTTP base URL and the WebSocket URL of the AiSOC dialect.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// `http://host:port` (no trailing slash).
    pub(super) http: String,
    /// `ws://host:port/ws`.
    pub(super) ws: String,
}

impl Target {
    /// Accepts only plain-HTTP URLs on the loopback interface: a load test stays on this machine.
    pub(super) fn parse(url: &str) -> anyhow::Result<Target> {
        let parsed = Url::parse(url).with_context(|| format!("--url {url:?} is not a URL"))?;
        if parsed.scheme() != "http" {
            bail!("--url must be http:// (got {})", parsed.scheme());
        }
        let loopback = match parsed.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => false,
        };
        if !loopback {
            bail!("--url must point at this machine (127.0.0.1, ::1 or localhost); got {url}");
        }
        let http = url.trim_end_matches('/').to_owned();
        let ws = format!("ws{}/ws", &http["http".len()..]);
        Ok(Target { http, ws })
    }

    /// `ws://host:port` (no path).
    pub(super) fn ws_base(&self) -> &str {
        self.ws.strip_suffix("/ws").unwrap_or(&self.ws)
    }
}

/// How to start the server ourselves.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct SpawnArgs {
    /// Start `socfeed serve` on a free 127.0.0.1 port, bench it, and kill it at the end.
    #[arg(long)]
    pub(super) spawn: bool,
    /// Pin the spawned server to this CPU list (`taskset -c`), e.g. 0.
    #[arg(long, value_name = "CPUS", requires = "spawn")]
    pub(super) server_cpu: Option<String>,
    /// Engine of the spawned server: embedded, memory or a redis:// URL.
    #[arg(
        long,
        alias = "log",
        value_name = "ENGINE",
        default_value = "embedded",
        requires = "spawn"
    )]
    pub(super) engine: Engine,
    /// Spawned servers on the same engine and secret (more than 1 needs a redis:// --engine):
    /// subscribers are spread over them in turn, the publisher uses the first; their CPU and
    /// memory are reported summed.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "spawn")]
    pub(super) nodes: usize,
    /// SIGKILL node 0 this long after publishing starts (needs --nodes 2 or more): every
    /// subscriber is on node 0 and resubscribes on another node with its last seq, events go to
    /// the last node, and the report gives the time until all of them are live again.
    #[arg(long, value_name = "DURATION", value_parser = socfeed_server::parse_duration, requires = "spawn")]
    pub(super) kill_node_after: Option<std::time::Duration>,
    /// `--queue-len` of the spawned server (frames a session may have waiting before 4008).
    #[arg(long, value_name = "N", requires = "spawn")]
    pub(super) queue_len: Option<usize>,
    /// More `socfeed serve` arguments for the spawned server (repeat it), e.g.
    /// `--server-arg=--write-coalesce=10ms`.
    #[arg(
        long = "server-arg",
        value_name = "ARG",
        requires = "spawn",
        allow_hyphen_values = true
    )]
    pub(super) server_args: Vec<String>,
    /// The socfeed binary to spawn as the server [default: this one] (to compare two builds
    /// with the same load generator).
    #[arg(long, value_name = "FILE", requires = "spawn")]
    pub(super) server_bin: Option<std::path::PathBuf>,
}

/// A `socfeed serve` child process with its own data directory; killed when dropped.
pub(super) struct SpawnedServer {
    child: Child,
    pid: u32,
    target: Target,
    _data_dir: tempfile::TempDir,
}

impl SpawnedServer {
    /// Starts the server and waits until it answers `/readyz`.
    /// Its connection limits admit `connections`, and publishing is not rate limited: the bench
    /// measures fan-out, not the limiter.
    pub(super) async fn start(
        args: &SpawnArgs,
        secret: &str,
        connections: usize,
    ) -> anyhow::Result<SpawnedServer> {
        let data_dir = tempfile::tempdir().context("creating a data directory for the server")?;
        let port = free_port()?;
        let target = Target::parse(&format!("http://127.0.0.1:{port}"))?;
        let mut command = server_command(args, port, secret, data_dir.path())?;
        // Twice: a GOVERN or SSE subscriber's first connection (for the head) may still be
        // closing on the server when its second one arrives.
        let limit = (2 * connections + 16).to_string();
        command
            .args(["--max-connections-per-ip", &limit])
            .args(["--max-connections-per-tenant", &limit])
            .args(["--publish-rate", "0"]);
        let child = command.spawn().context("starting `socfeed serve`")?;
        let pid = child.id().context("the spawned server exited at once")?;
        let mut server = SpawnedServer {
            child,
            pid,
            target,
            _data_dir: data_dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    pub(super) fn pid(&self) -> u32 {
        self.pid
    }

    pub(super) fn target(&self) -> &Target {
        &self.target
    }

    /// Kills the server (SIGKILL: nothing of its data is kept) and reaps it.
    pub(super) async fn stop(mut self) -> anyhow::Result<()> {
        self.child
            .kill()
            .await
            .context("stopping the spawned server")
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(1))
            .build()
            .context("building an HTTP client")?;
        let url = format!("{}/readyz", self.target.http);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context("checking the spawned server")?
            {
                bail!("the spawned server exited during start-up ({status})");
            }
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("the spawned server was not ready within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `[taskset -c CPUS] <this exe> serve --bind 127.0.0.1:PORT ...`
fn server_command(
    args: &SpawnArgs,
    port: u16,
    secret: &str,
    data_dir: &Path,
) -> anyhow::Result<Command> {
    let exe = match &args.server_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe().context("locating the socfeed executable")?,
    };
    let mut command = match (&args.server_cpu, find_in_path("taskset")) {
        (Some(cpus), Some(taskset)) => {
            let mut c = Command::new(taskset);
            c.arg("-c").arg(cpus).arg(exe);
            c
        }
        (Some(_), None) => {
            eprintln!("bench: taskset not found; the server runs unpinned");
            Command::new(exe)
        }
        (None, _) => Command::new(exe),
    };
    // `--log` for the local engines: builds from before `--engine` know only that name.
    let engine = match &args.engine {
        Engine::Redis(url) => ["--engine".to_owned(), url.expose().to_owned()],
        other => ["--log".to_owned(), other.to_string()],
    };
    command
        .arg("serve")
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .args(&engine)
        .args(["--jwt-secret", secret])
        .arg("--data-dir")
        .arg(data_dir);
    if let Some(n) = args.queue_len {
        command.arg("--queue-len").arg(n.to_string());
    }
    command.args(&args.server_args);
    command
        .env("SOCFEED_LOG_LEVEL", "warn")
        .env_remove("SOCFEED_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    Ok(command)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("finding a free port")?.port())
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_only() {
        let t = Target::parse("http://127.0.0.1:8086/").unwrap();
        assert_eq!(t.http, "http://127.0.0.1:8086");
        assert_eq!(t.ws, "ws://127.0.0.1:8086/ws");
        assert_eq!(
            Target::parse("http://localhost:9").unwrap().ws,
            "ws://localhost:9/ws"
        );
        assert!(Target::parse("http://[::1]:9").is_ok());
        assert_eq!(t.ws_base(), "ws://127.0.0.1:8086");
        assert!(Target::parse("http://10.0.0.1:8086").is_err());
        assert!(Target::parse("http://example.com").is_err());
        assert!(Target::parse("https://127.0.0.1").is_err());
    }
}
