//! A TCP proxy between a feed and the server that can break things: cut every open connection
//! (the client sees the TCP connection end without a close frame: 1006), freeze them (nothing is
//! forwarded either way, sockets stay open: heartbeats stop), or refuse new ones for a while.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Shared {
    /// One (cut, freeze) pair per open connection.
    conns: Mutex<Vec<(CancellationToken, CancellationToken)>>,
    accepted: AtomicUsize,
    refusing: AtomicBool,
}

pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(accept(listener, upstream, Arc::clone(&shared)));
        Proxy { addr, shared, task }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every open connection.
    pub(crate) fn cut(&self) {
        for (cut, _) in self.shared.conns.lock().unwrap().drain(..) {
            cut.cancel();
        }
    }

    /// Open connections stop forwarding in both directions; their sockets stay open.
    /// New connections are forwarded as usual.
    pub(crate) fn freeze(&self) {
        for (_, freeze) in self.shared.conns.lock().unwrap().iter() {
            freeze.cancel();
        }
    }

    /// While `true`, new connections are accepted and dropped at once.
    pub(crate) fn refuse(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Connections accepted so far (refused ones included).
    pub(crate) fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    while let Ok((down, _)) = listener.accept().await {
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        if shared.refusing.load(Ordering::SeqCst) {
            drop(down);
            continue;
        }
        let (cut, freeze) = (CancellationToken::new(), CancellationToken::new());
        shared
            .conns
            .lock()
            .unwrap()
            .push((cut.clone(), freeze.clone()));
        tokio::spawn(forward(down, upstream, cut, freeze));
    }
}

async fn forward(
    mut down: TcpStream,
    upstream: SocketAddr,
    cut: CancellationToken,
    freeze: CancellationToken,
) {
    let Ok(mut up) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
        () = cut.cancelled() => {}
        // Stop copying but hold both sockets open until cut (or the proxy goes away).
        () = freeze.cancelled() => cut.cancelled().await,
    }
}
