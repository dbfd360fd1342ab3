//! A socfeed server in this process that can be stopped and started again on the same data dir
//! and the same port (`TestServer` binds a new port each start).

use std::net::SocketAddr;
use std::time::Duration;

use socfeed_server::{Config, Server};
use socfeed_testkit::{SECRET, WAIT};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) struct Node {
    pub(crate) addr: SocketAddr,
    dir: TempDir,
    tweak: fn(&mut Config),
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Node {
    /// A server on a fresh data dir and an ephemeral port.
    pub(crate) async fn start(tweak: fn(&mut Config)) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Node::serve(dir, listener, tweak).await
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops gracefully (sessions get 1001) and waits; returns what a restart needs.
    pub(crate) async fn stop(self) -> (TempDir, SocketAddr, fn(&mut Config)) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("server stops in time")
            .expect("server task");
        (self.dir, self.addr, self.tweak)
    }

    /// Starts on `dir` at `addr` (after [`Node::stop`]).
    pub(crate) async fn start_at(dir: TempDir, addr: SocketAddr, tweak: fn(&mut Config)) -> Node {
        Node::serve(dir, rebind(addr).await, tweak).await
    }

    async fn serve(dir: TempDir, listener: TcpListener, tweak: fn(&mut Config)) -> Node {
        let mut config = Config::for_tests(dir.path(), SECRET);
        tweak(&mut config);
        let server = Server::bind(listener, config).await.expect("server starts");
        let addr = server.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        Node {
            addr,
            dir,
            tweak,
            stop,
            task,
        }
    }
}

/// Binds `addr` again; retries briefly in case the old socket is still being torn down.
async fn rebind(addr: SocketAddr) -> TcpListener {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("rebinding {addr}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot bind {addr} again: {e}"),
        }
    }
}
