//! Silent sockets against the real binary with few file descriptors (`ulimit -n`): connections
//! count toward the per-address limit from accept, so one address cannot take the descriptors;
//! and when many addresses do, `/healthz` answers again within the handshake deadline and the
//! failed accepts are logged at most once a second.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use socfeed_testkit::ServerProcess;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The server's descriptor limit in these tests.
const NOFILE: u32 = 160;

fn start(extra: &[&str]) -> (tempfile::TempDir, ServerProcess) {
    let dir = tempfile::tempdir().expect("dir");
    let mut flags = vec!["--handshake-timeout", "1s"];
    flags.extend_from_slice(extra);
    let server = ServerProcess::start_with_fd_limit(
        Path::new(env!("CARGO_BIN_EXE_socfeed")),
        dir.path(),
        "127.0.0.1:0",
        &flags,
        NOFILE,
    );
    (dir, server)
}

/// A connection from the loopback address `from` (any of 127.0.0.0/8 reaches the server).
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
    socket.connect(to).await
}

/// `GET /healthz` from `from`: the status line's code, or `None` when the connection was closed
/// or not answered within `wait`.
async fn healthz_from(from: Ipv4Addr, to: SocketAddr, wait: Duration) -> Option<u16> {
    let ask = async {
        let mut tcp = connect_from(from, to).await.ok()?;
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut reply = Vec::new();
        tcp.read_to_end(&mut reply).await.ok()?;
        let line = String::from_utf8_lossy(&reply);
        line.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(wait, ask).await.ok().flatten()
}

/// Opens `n` connections from `from` that never send a byte.
async fn silent_flood(from: Ipv4Addr, to: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut flood = Vec::with_capacity(n);
    for _ in 0..n {
        if let Ok(tcp) = connect_from(from, to).await {
            flood.push(tcp);
        }
    }
    flood
}

/// One address floods with silent sockets: it holds at most its limit (plus the few being
/// refused), so the server never runs out of descriptors and another address is served at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_the_descriptors() {
    let (_dir, server) = start(&["--max-connections-per-ip", "50"]);
    let baseline = server.open_fds();
    let attacker = Ipv4Addr::new(127, 0, 0, 1);
    let flood = silent_flood(attacker, server.addr, 400).await;
    assert!(flood.len() >= 300, "the kernel took the connections");
    // Give the accept loop time to take every queued connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = server.open_fds().saturating_sub(baseline);
    println!("flood: 400 silent sockets from one address, the server holds {held} more fds");
    assert!(
        held <= 50 + 8 + 2,
        "held {held} descriptors for one address"
    );
    let other = Ipv4Addr::new(127, 0, 0, 2);
    assert_eq!(
        healthz_from(other, server.addr, Duration::from_secs(5)).await,
        Some(200),
        "another address is served during the flood"
    );
    let refused = healthz_from(attacker, server.addr, Duration::from_secs(5)).await;
    assert!(
        matches!(refused, None | Some(429)),
        "the flooding address is refused: {refused:?}"
    );
    drop(flood);
}

/// Many addresses flood past the descriptor limit: accepts fail, which is logged at most once a
/// second, and `/healthz` answers again within the handshake deadline's rounds; once the flood
/// is gone, so are its descriptors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_does_not_stop_healthz_for_long() {
    let (_dir, server) = start(&[]);
    let baseline = server.open_fds();
    let started = Instant::now();
    let mut flood = Vec::new();
    for host in 10..13u8 {
        flood.extend(silent_flood(Ipv4Addr::new(127, 0, 1, host), server.addr, 150).await);
    }
    assert!(
        flood.len() > NOFILE as usize,
        "more sockets than the server may open"
    );
    // Asked while the flood holds every descriptor: answered once the silent sockets of the
    // first rounds are closed by the handshake deadline (1 s each round).
    let answered = healthz_from(
        Ipv4Addr::new(127, 0, 0, 2),
        server.addr,
        Duration::from_secs(20),
    )
    .await;
    let waited = started.elapsed();
    println!(
        "flood: {} silent sockets, /healthz answered after {waited:?}",
        flood.len()
    );
    assert_eq!(answered, Some(200), "/healthz answers during the flood");
    let elapsed = started.elapsed().as_secs() + 1;
    let failures = server
        .lines()
        .iter()
        .filter(|l| l.contains("accept failed"))
        .count() as u64;
    println!("flood: {failures} 'accept failed' lines in {elapsed} s");
    assert!(
        failures >= 1,
        "the server ran out of descriptors and said so"
    );
    assert!(failures <= elapsed + 1, "{failures} lines in {elapsed} s");
    drop(flood);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.open_fds() > baseline + 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        server.open_fds() <= baseline + 2,
        "{} fds open after the flood, {baseline} before",
        server.open_fds()
    );
}
