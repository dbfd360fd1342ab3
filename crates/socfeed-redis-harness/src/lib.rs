//! A private `redis-server` for tests: [`RedisServer::start`] runs one on a free 127.0.0.1 port
//! with its own temporary directory, durable by default (`appendonly yes`, `appendfsync always`,
//! no RDB snapshots), and waits until it answers PING. The test can then crash it
//! ([`RedisServer::kill9`]), bring it back from its append-only file on the same port
//! ([`RedisServer::restart`]), freeze it ([`RedisServer::pause`] / [`RedisServer::resume`]) or
//! wipe it ([`RedisServer::flushall`]). Dropping it kills and reaps the process.
//!
//! Never the machine's shared Redis: every server here has its own port and directory.
//! The binary is `redis-server` from `PATH`, or the one named by `SOCFEED_REDIS_SERVER`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// How long a start (or restart) may take before the harness gives up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Fresh ports tried when another process took the one picked.
const PORT_ATTEMPTS: usize = 5;

/// The configuration every server starts with; [`Builder::config`] overrides any of it.
const DEFAULTS: &[(&str, &str)] = &[
    ("appendonly", "yes"),
    ("appendfsync", "always"),
    ("save", ""),
    ("daemonize", "no"),
    ("protected-mode", "yes"),
];

/// A running (or crashed, or paused) private `redis-server`.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    config: Vec<(String, String)>,
    binary: PathBuf,
    child: Mutex<Option<Child>>,
}

/// Starts a server with configuration other than the defaults.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    config: Vec<(String, String)>,
    binary: Option<PathBuf>,
}

impl Builder {
    /// Runs this binary instead of `redis-server` from `PATH` (or `SOCFEED_REDIS_SERVER`).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Builder {
        self.binary = Some(path.into());
        self
    }

    /// Sets a `redis.conf` directive (passed as `--name value`), replacing the default of the
    /// same name, e.g. `.config("appendonly", "no")`.
    pub fn config(mut self, name: &str, value: &str) -> Builder {
        self.config.retain(|(n, _)| n != name);
        self.config.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Starts the server and waits until it answers PING.
    ///
    /// # Panics
    /// When `redis-server` is not installed, or does not come up within 20 s.
    pub fn start(self) -> RedisServer {
        let mut config: Vec<(String, String)> = DEFAULTS
            .iter()
            .filter(|(name, _)| !self.config.iter().any(|(n, _)| n == name))
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        config.extend(self.config.clone());
        let dir = tempfile::Builder::new()
            .prefix("socfeed-redis-")
            .tempdir()
            .expect("create a directory for redis-server");
        let binary = self.binary.unwrap_or_else(|| {
            std::env::var_os("SOCFEED_REDIS_SERVER")
                .unwrap_or_else(|| "redis-server".into())
                .into()
        });
        let mut server = RedisServer {
            port: 0,
            dir,
            config,
            binary,
            child: Mutex::new(None),
        };
        for attempt in 1..=PORT_ATTEMPTS {
            server.port = free_port();
            match server.spawn_and_wait() {
                Ok(()) => return server,
                // Someone took the port between the probe and the server's bind: another one.
                Err(Failure::PortTaken) if attempt < PORT_ATTEMPTS => continue,
                Err(failure) => server.fail(failure),
            }
        }
        server.fail(Failure::PortTaken)
    }
}

/// Why a start did not work.
enum Failure {
    NotInstalled,
    PortTaken,
    Exited(String),
    Timeout,
}

impl RedisServer {
    /// Starts a durable server with the default configuration (see the module doc).
    ///
    /// # Panics
    /// When `redis-server` is not installed (install the Debian package `redis-server`), or it
    /// does not come up within 20 s.
    pub fn start() -> RedisServer {
        Builder::default().start()
    }

    /// A builder for a server with other configuration.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's working directory (its append-only files and `redis.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child().as_ref().map(Child::id)
    }

    /// A new synchronous connection, for a test to look at or change what is stored.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
            .unwrap_or_else(|e| panic!("connect to redis-server on port {}: {e}", self.port))
    }

    /// Runs one command and returns its reply.
    pub fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        cmd.query(&mut self.connection())
            .unwrap_or_else(|e| panic!("redis-server on port {}: {e}", self.port))
    }

    /// Kills the server with SIGKILL (no shutdown, nothing flushed beyond what it already
    /// fsynced) and reaps it.
    pub fn kill9(&self) {
        if let Some(mut child) = self.child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory, so it loads its append-only
    /// file; kills the running one first, if any.
    ///
    /// # Panics
    /// When it does not come back (the port was taken meanwhile, or it refuses its files).
    pub fn restart(&self) {
        self.kill9();
        if let Err(failure) = self.spawn_and_wait() {
            self.fail(failure);
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing is answered.
    pub fn pause(&self) {
        self.signal(Signal::STOP);
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal(Signal::CONT);
    }

    /// Removes every key (`FLUSHALL`).
    pub fn flushall(&self) {
        self.query::<()>(&redis::cmd("FLUSHALL"));
    }

    /// Kills and reaps the server; also done on drop.
    pub fn stop(&self) {
        self.kill9();
    }

    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn signal(&self, signal: Signal) {
        let pid = self
            .pid()
            .and_then(|p| i32::try_from(p).ok())
            .and_then(Pid::from_raw)
            .unwrap_or_else(|| panic!("redis-server on port {} is not running", self.port));
        kill_process(pid, signal).unwrap_or_else(|e| panic!("signal redis-server: {e}"));
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path());
        for (name, value) in &self.config {
            cmd.arg(format!("--{name}")).arg(value);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Spawns the process and waits until it answers PING (it answers LOADING while it
    /// replays its append-only file).
    fn spawn_and_wait(&self) -> Result<(), Failure> {
        let log_before = self.log().len();
        let child = match self.command().spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Failure::NotInstalled);
            }
            Err(e) => return Err(Failure::Exited(format!("spawn failed: {e}"))),
        };
        *self.child() = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let exited = self
                .child()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child().take();
                let log = self.log();
                let new = log.get(log_before..).unwrap_or(&log);
                if new.contains("Address already in use") {
                    return Err(Failure::PortTaken);
                }
                return Err(Failure::Exited(format!("exited with {status}")));
            }
            if self.pings() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill9();
                return Err(Failure::Timeout);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn pings(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(500)) else {
            return false;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
        redis::cmd("PING")
            .query::<String>(&mut conn)
            .is_ok_and(|pong| pong == "PONG")
    }

    fn fail(&self, failure: Failure) -> ! {
        match failure {
            Failure::NotInstalled => panic!(
                "redis-server is not installed: install the Debian package `redis-server` \
                 (apt-get install -y redis-server; scripts/test.sh does this), or point \
                 SOCFEED_REDIS_SERVER at a redis-server binary"
            ),
            Failure::PortTaken => panic!("port {} is taken by another process", self.port),
            Failure::Exited(why) => panic!(
                "redis-server on port {} {why}; its log:\n{}",
                self.port,
                self.log()
            ),
            Failure::Timeout => panic!(
                "redis-server on port {} did not answer PING within {START_TIMEOUT:?}; its log:\n{}",
                self.port,
                self.log()
            ),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on right now (the OS's pick for 127.0.0.1:0).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port on 127.0.0.1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dbsize(server: &RedisServer) -> i64 {
        server.query(&redis::cmd("DBSIZE"))
    }

    #[test]
    fn crash_and_restart_keep_what_was_acknowledged() {
        let server = RedisServer::start();
        server.query::<()>(redis::cmd("SET").arg("k").arg("v"));
        server.kill9();
        assert!(server.pid().is_none());
        server.restart();
        let v: String = server.query(redis::cmd("GET").arg("k"));
        assert_eq!(v, "v");
        server.flushall();
        assert_eq!(dbsize(&server), 0);
    }

    #[test]
    fn builder_overrides_defaults() {
        let server = RedisServer::builder().config("appendonly", "no").start();
        let got: Vec<String> = server.query(redis::cmd("CONFIG").arg("GET").arg("appendonly"));
        assert_eq!(got, ["appendonly", "no"]);
        let got: Vec<String> = server.query(redis::cmd("CONFIG").arg("GET").arg("appendfsync"));
        assert_eq!(got, ["appendfsync", "always"]);
    }

    #[test]
    #[should_panic(expected = "install the Debian package `redis-server`")]
    fn a_missing_binary_says_what_to_install() {
        RedisServer::builder()
            .binary("/nonexistent/redis-server")
            .start();
    }

    #[test]
    #[should_panic(expected = "its log:")]
    fn a_server_that_exits_shows_its_log() {
        RedisServer::builder()
            .config("appendfsync", "sometimes")
            .start();
    }

    #[test]
    fn pause_stops_answers_until_resume() {
        let server = RedisServer::start();
        let mut conn = server.connection();
        conn.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        server.pause();
        assert!(redis::cmd("PING").query::<String>(&mut conn).is_err());
        server.resume();
        let pong: String = server.query(&redis::cmd("PING"));
        assert_eq!(pong, "PONG");
    }

    #[test]
    fn servers_do_not_share_ports_or_files_and_drop_reaps() {
        let (a, b) = (RedisServer::start(), RedisServer::start());
        assert_ne!(a.port(), b.port());
        assert_ne!(a.dir(), b.dir());
        let dir = a.dir().to_owned();
        let pid = a.pid().unwrap();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(a);
        assert!(!dir.exists());
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        assert!(b.pid().is_some());
    }
}
