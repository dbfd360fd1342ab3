//! Resolved settings: [`Config`] with every default in [`Config::default`], and the checks of
//! [`Config::validate`].
//!
//! Reading settings (flags, env vars, a TOML file) is the binary's job; the server takes a
//! resolved [`Config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use socfeed_auth::KeySettings;

mod engine;

pub use engine::{Durability, Engine, RedisUrl};

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// Where events, seqs and the live fan-out live.
    pub engine: Engine,
    /// Prefix of every engine key (Redis), so deployments can share one Redis.
    pub engine_prefix: String,
    /// What a 202 means on Redis.
    pub engine_durability: Durability,
    /// This node's name in metrics and logs; `None`: host name and port.
    pub node_id: Option<String>,
    pub keys: KeySettings,
    pub heartbeat_interval: Duration,
    pub retention: Duration,
    pub replay_window: Duration,
    pub replay_batch: usize,
    pub replay_cache: usize,
    /// Bytes the recent-events cache may hold for all tenants.
    pub replay_cache_bytes: usize,
    /// Bytes of page cache the embedded log may hold.
    pub log_cache_bytes: usize,
    /// Largest event, as its largest encoded frame; larger ones are refused at publish.
    pub max_event_size: usize,
    /// Deepest nesting of a payload's arrays and objects.
    pub max_payload_depth: usize,
    pub queue_len: usize,
    pub write_coalesce: Duration,
    pub max_message_size: usize,
    pub max_frame_size: usize,
    pub max_body_size: usize,
    pub max_subscriptions: usize,
    pub max_connections_per_tenant: usize,
    pub max_connections_per_ip: usize,
    pub max_messages_per_second: u32,
    pub publish_rate: u32,
    pub handshake_timeout: Duration,
    /// Time a request body may take to arrive, once its headers did.
    pub body_timeout: Duration,
    /// When set, `/metrics` needs `Authorization: Bearer <it>`.
    pub metrics_token: Option<String>,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` name the client address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Browser origins that may open a feed and get CORS answers.
    pub allowed_origins: Origins,
}

/// Why settings are not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

impl Default for Config {
    /// The default of every setting; no token keys (and the leeway of [`KeySettings::default`]).
    fn default() -> Config {
        Config {
            bind: SocketAddr::from(([0, 0, 0, 0], 8086)),
            data_dir: PathBuf::from("./socfeed-data"),
            engine: Engine::Embedded,
            engine_prefix: "socfeed".into(),
            engine_durability: Durability::Strict,
            node_id: None,
            keys: KeySettings::default(),
            heartbeat_interval: Duration::from_secs(30),
            retention: Duration::from_secs(24 * 3600),
            replay_window: Duration::from_secs(300),
            replay_batch: 512,
            replay_cache: 4096,
            replay_cache_bytes: 64 * 1024 * 1024,
            log_cache_bytes: 64 * 1024 * 1024,
            max_event_size: 256 * 1024,
            max_payload_depth: 32,
            queue_len: 1024,
            write_coalesce: Duration::ZERO,
            max_message_size: 64 * 1024,
            max_frame_size: 1024 * 1024,
            max_body_size: 1024 * 1024,
            max_subscriptions: 64,
            max_connections_per_tenant: 10_000,
            max_connections_per_ip: 1_000,
            max_messages_per_second: 20,
            publish_rate: 10_000,
            handshake_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            metrics_token: None,
            trusted_proxies: Vec::new(),
            allowed_origins: Origins::Any,
        }
    }
}

impl Config {
    /// Defaults for everything, with the given data dir and an HS256 secret: handy for tests.
    pub fn for_tests(data_dir: &Path, secret: &str) -> Config {
        Config {
            data_dir: data_dir.to_owned(),
            keys: KeySettings {
                leeway: Duration::ZERO,
                ..KeySettings::hs256(secret)
            },
            ..Config::default()
        }
    }

    /// Checks what the server cannot run with: a leeway over 5s, zero durations or limits, a
    /// max-frame-size under 1KiB.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.keys.leeway > socfeed_auth::MAX_LEEWAY {
            return Err(ConfigError::Invalid("jwt-leeway is at most 5s".into()));
        }
        for (name, value) in [
            ("heartbeat-interval", self.heartbeat_interval),
            ("handshake-timeout", self.handshake_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Invalid(format!("{name} must be positive")));
            }
        }
        if self.body_timeout.is_zero() {
            return Err(ConfigError::Invalid("body-timeout must be positive".into()));
        }
        if [
            self.queue_len,
            self.max_message_size,
            self.max_body_size,
            self.replay_batch,
            self.max_subscriptions,
        ]
        .contains(&0)
            || self.max_connections_per_tenant == 0
            || self.max_connections_per_ip == 0
            || self.max_messages_per_second == 0
            || self.max_frame_size < 1024
        {
            return Err(ConfigError::Invalid(
                "queue, size and count limits must be positive (max-frame-size at least 1KiB)"
                    .into(),
            ));
        }
        if self.engine_prefix.is_empty() || self.engine_prefix.contains(['{', '}']) {
            return Err(ConfigError::Invalid(
                "engine-prefix must be non-empty, without `{` or `}` (they mark hash tags)".into(),
            ));
        }
        if self.max_event_size == 0 || self.max_payload_depth == 0 {
            return Err(ConfigError::Invalid(
                "max-event-size and max-payload-depth must be positive".into(),
            ));
        }
        // A GOVERN replay part holds its events and some 300 bytes of its own.
        if self.max_event_size + REPLAY_PART_OVERHEAD > self.max_frame_size {
            return Err(ConfigError::Invalid(format!(
                "max-event-size ({} bytes) does not fit in max-frame-size ({} bytes) with the \
                 {REPLAY_PART_OVERHEAD} bytes a replay part adds: lower one or raise the other",
                self.max_event_size, self.max_frame_size
            )));
        }
        Ok(())
    }
}

/// Bytes a GOVERN `feed.replay` part adds to the events it holds, at most.
const REPLAY_PART_OVERHEAD: usize = 512;

/// The browser origins allowed: `*` (any), or a comma-separated list such as
/// `https://soc.example.com,http://localhost:3000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    Any,
    List(Vec<String>),
}

impl Origins {
    /// Whether a request with this `Origin` header may go on (no header: not a browser's
    /// cross-origin request, so yes).
    pub fn allows(&self, origin: Option<&str>) -> bool {
        match (self, origin) {
            (Origins::Any, _) | (_, None) => true,
            (Origins::List(list), Some(o)) => list.iter().any(|a| a.eq_ignore_ascii_case(o)),
        }
    }
}

impl std::str::FromStr for Origins {
    type Err = String;
    fn from_str(s: &str) -> Result<Origins, String> {
        let list: Vec<String> = s
            .split(',')
            .map(|o| o.trim().trim_end_matches('/'))
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect();
        if list.iter().any(|o| o == "*") {
            return Ok(Origins::Any);
        }
        match list
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")))
        {
            Some(bad) => Err(format!(
                "{bad:?} is not an origin (write e.g. https://soc.example.com, or *)"
            )),
            None if list.is_empty() => Err("no origin given (write * for any)".into()),
            None => Ok(Origins::List(list)),
        }
    }
}

/// Networks, comma-separated: `10.0.0.0/8, 192.0.2.7, fd00::/8` (an address alone is itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Networks(pub Vec<ipnet::IpNet>);

impl std::str::FromStr for Networks {
    type Err = String;
    fn from_str(s: &str) -> Result<Networks, String> {
        s.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                n.parse::<ipnet::IpNet>()
                    .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!("{n:?} is not a network (write e.g. 10.0.0.0/8 or 192.0.2.7)")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Networks)
    }
}

/// Parses `30s`, `5m`, `24h`, `1h 30m`, `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration {s:?}: {e} (write e.g. 30s, 5m, 24h)"))
}

/// Parses a byte size: `65536`, `64KiB`, `1MiB`, `1MB` (= MiB), `512B`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("invalid size {s:?} (write e.g. 65536, 64KiB, 1MiB)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => {
            return Err(format!(
                "invalid size unit in {s:?} (use B, KiB, MiB or GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert!(parse_size("1 parsec").is_err());
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
        let c = Config::for_tests(Path::new("/data"), "s");
        c.validate().unwrap();
        assert_eq!(c.keys.secret.as_deref(), Some("s"));
        assert_eq!(c.keys.leeway, Duration::ZERO);
    }

    #[test]
    fn invalid_settings_are_refused() {
        let check = |change: fn(&mut Config)| {
            let mut c = Config::default();
            change(&mut c);
            c.validate().map_err(|e| e.to_string())
        };
        let err = check(|c| c.keys.leeway = Duration::from_secs(6)).unwrap_err();
        assert!(err.contains("jwt-leeway"), "{err}");
        assert!(check(|c| c.heartbeat_interval = Duration::ZERO).is_err());
        assert!(check(|c| c.queue_len = 0).is_err());
        let err = check(|c| c.max_frame_size = 1023).unwrap_err();
        assert!(err.contains("max-frame-size"), "{err}");
        assert_eq!(
            check(|c| c.publish_rate = 0),
            Ok(()),
            "publish-rate 0 is unlimited"
        );
    }
}
