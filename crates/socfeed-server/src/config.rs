//! Settings: every one has a flag, a `SOCFEED_*` env var and a key in an optional TOML file.
//!
//! Precedence: flag, then env var (clap reads both), then the TOML file, then the default.
//! [`ServeArgs`] is what clap parses, [`FileConfig`] what the TOML holds, [`Config`] the resolved
//! settings the server runs with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use socfeed_auth::KeySettings;

/// Which event log backs the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogBackend {
    /// Durable log in the data directory (redb); the default.
    Embedded,
    /// In-memory log: nothing survives a restart.
    Memory,
}

/// Server settings as flags and env vars. Every field is optional here so that a TOML file can
/// fill what the command line leaves out; defaults are applied in [`Config::resolve`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (keys are the flag names with `_` for `-`).
    #[arg(long, env = "SOCFEED_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 0.0.0.0:8086].
    #[arg(long, env = "SOCFEED_BIND", value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// Directory of the durable log (and of the generated development key) [default: ./socfeed-data].
    #[arg(long, env = "SOCFEED_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Event log backend [default: embedded].
    #[arg(long, env = "SOCFEED_LOG", value_enum)]
    pub log: Option<LogBackend>,
    /// HS256 shared secret for tokens. Without any key setting, a random secret is generated
    /// once and kept in `<data-dir>/dev-jwt-secret`.
    #[arg(
        long,
        env = "SOCFEED_JWT_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,
    /// PEM file with an RS256, ES256 or EdDSA public key.
    #[arg(long, env = "SOCFEED_JWT_PUBLIC_KEY", value_name = "FILE")]
    pub jwt_public_key: Option<PathBuf>,
    /// JWKS file (`{"keys":[...]}`), keys chosen by `kid`.
    #[arg(long, env = "SOCFEED_JWKS_FILE", value_name = "FILE")]
    pub jwks_file: Option<PathBuf>,
    /// Required `iss` claim, when set.
    #[arg(long, env = "SOCFEED_JWT_ISSUER", value_name = "ISS")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim, when set.
    #[arg(long, env = "SOCFEED_JWT_AUDIENCE", value_name = "AUD")]
    pub jwt_audience: Option<String>,
    /// Clock leeway for `exp`/`nbf`, at most 5s [default: 5s].
    #[arg(long, env = "SOCFEED_JWT_LEEWAY", value_name = "DURATION", value_parser = parse_duration)]
    pub jwt_leeway: Option<Duration>,
    /// Interval of pings / heartbeats; a client silent for two intervals is closed [default: 30s].
    #[arg(long, env = "SOCFEED_HEARTBEAT_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
    pub heartbeat_interval: Option<Duration>,
    /// How long events are kept for replay [default: 24h].
    #[arg(long, env = "SOCFEED_RETENTION", value_name = "DURATION", value_parser = parse_duration)]
    pub retention: Option<Duration>,
    /// Default GOVERN replay window on reconnect [default: 5m].
    #[arg(long, env = "SOCFEED_REPLAY_WINDOW", value_name = "DURATION", value_parser = parse_duration)]
    pub replay_window: Option<Duration>,
    /// Frames a session may have waiting before it is closed as a slow consumer (4008) [default: 1024].
    #[arg(long, env = "SOCFEED_QUEUE_LEN", value_name = "N")]
    pub queue_len: Option<usize>,
    /// Largest client message; larger ones close the connection with 1009 [default: 64KiB].
    #[arg(long, env = "SOCFEED_MAX_MESSAGE_SIZE", value_name = "BYTES", value_parser = parse_size)]
    pub max_message_size: Option<usize>,
    /// Largest message the server sends; bigger GOVERN replays are split into parts [default: 1MiB].
    #[arg(long, env = "SOCFEED_MAX_FRAME_SIZE", value_name = "BYTES", value_parser = parse_size)]
    pub max_frame_size: Option<usize>,
    /// Largest publish body; larger ones get 413 [default: 1MiB].
    #[arg(long, env = "SOCFEED_MAX_BODY_SIZE", value_name = "BYTES", value_parser = parse_size)]
    pub max_body_size: Option<usize>,
}

/// The TOML file: the same settings, same names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub bind: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub log: Option<LogBackend>,
    pub jwt_secret: Option<String>,
    pub jwt_public_key: Option<PathBuf>,
    pub jwks_file: Option<PathBuf>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    #[serde(default, deserialize_with = "de_duration")]
    pub jwt_leeway: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    pub heartbeat_interval: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    pub retention: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    pub replay_window: Option<Duration>,
    pub queue_len: Option<usize>,
    #[serde(default, deserialize_with = "de_size")]
    pub max_message_size: Option<usize>,
    #[serde(default, deserialize_with = "de_size")]
    pub max_frame_size: Option<usize>,
    #[serde(default, deserialize_with = "de_size")]
    pub max_body_size: Option<usize>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub log: LogBackend,
    pub keys: KeySettings,
    pub heartbeat_interval: Duration,
    pub retention: Duration,
    pub replay_window: Duration,
    pub queue_len: usize,
    pub max_message_size: usize,
    pub max_frame_size: usize,
    pub max_body_size: usize,
}

/// Why settings could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("preparing the development key in {path}: {source}")]
    DevKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Defaults for everything, with the given data dir and an HS256 secret: handy for tests.
    pub fn for_tests(data_dir: &Path, secret: &str) -> Config {
        let mut c = Config::resolve(ServeArgs {
            data_dir: Some(data_dir.to_owned()),
            jwt_secret: Some(secret.to_owned()),
            ..ServeArgs::default()
        })
        .unwrap_or_else(|e| panic!("default config must resolve: {e}"));
        c.keys.leeway = Duration::ZERO;
        c
    }

    /// Applies flags/env over the TOML file (when `--config` names one) over defaults.
    pub fn resolve(args: ServeArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|source| ConfigError::Parse {
                    path: path.clone(),
                    source: Box::new(source),
                })?
            }
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| "./socfeed-data".into());
        let mut keys = KeySettings {
            secret: args.jwt_secret.or(file.jwt_secret),
            public_key_pem: args.jwt_public_key.or(file.jwt_public_key),
            jwks_file: args.jwks_file.or(file.jwks_file),
            issuer: args.jwt_issuer.or(file.jwt_issuer),
            audience: args.jwt_audience.or(file.jwt_audience),
            leeway: args
                .jwt_leeway
                .or(file.jwt_leeway)
                .unwrap_or(Duration::from_secs(5)),
        };
        if keys.leeway > Duration::from_secs(5) {
            return Err(ConfigError::Invalid("jwt-leeway is at most 5s".into()));
        }
        if keys.secret.is_none() && keys.public_key_pem.is_none() && keys.jwks_file.is_none() {
            keys.secret = Some(dev_secret(&data_dir)?);
        }
        let c = Config {
            bind: args
                .bind
                .or(file.bind)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 8086))),
            data_dir,
            log: args.log.or(file.log).unwrap_or(LogBackend::Embedded),
            keys,
            heartbeat_interval: args
                .heartbeat_interval
                .or(file.heartbeat_interval)
                .unwrap_or(Duration::from_secs(30)),
            retention: args
                .retention
                .or(file.retention)
                .unwrap_or(Duration::from_secs(24 * 3600)),
            replay_window: args
                .replay_window
                .or(file.replay_window)
                .unwrap_or(Duration::from_secs(300)),
            queue_len: args.queue_len.or(file.queue_len).unwrap_or(1024),
            max_message_size: args
                .max_message_size
                .or(file.max_message_size)
                .unwrap_or(64 * 1024),
            max_frame_size: args
                .max_frame_size
                .or(file.max_frame_size)
                .unwrap_or(1024 * 1024),
            max_body_size: args
                .max_body_size
                .or(file.max_body_size)
                .unwrap_or(1024 * 1024),
        };
        if c.heartbeat_interval.is_zero() {
            return Err(ConfigError::Invalid(
                "heartbeat-interval must be positive".into(),
            ));
        }
        if c.queue_len == 0
            || c.max_message_size == 0
            || c.max_body_size == 0
            || c.max_frame_size < 1024
        {
            return Err(ConfigError::Invalid(
                "queue-len and size limits must be positive (max-frame-size at least 1KiB)".into(),
            ));
        }
        Ok(c)
    }
}

/// The generated development secret: read from `<data_dir>/dev-jwt-secret`, created on first use.
fn dev_secret(data_dir: &Path) -> Result<String, ConfigError> {
    let path = data_dir.join("dev-jwt-secret");
    let err = |source| ConfigError::DevKey {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    std::fs::create_dir_all(data_dir).map_err(err)?;
    let secret: String = (0..4)
        .map(|_| format!("{:016x}", rand::random::<u64>()))
        .collect();
    write_private(&path, &secret).map_err(err)?;
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
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

fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    s.map(|s| parse_duration(&s).map_err(serde::de::Error::custom))
        .transpose()
}

fn de_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        N(usize),
        S(String),
    }
    match Option::<Size>::deserialize(d)? {
        None => Ok(None),
        Some(Size::N(n)) => Ok(Some(n)),
        Some(Size::S(s)) => parse_size(&s).map(Some).map_err(serde::de::Error::custom),
    }
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
    fn flags_beat_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("socfeed.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:9000\"\nheartbeat_interval = \"10s\"\nmax_body_size = \"2MiB\"\njwt_secret = \"s\"\n",
        )
        .unwrap();
        let c = Config::resolve(ServeArgs {
            config: Some(file),
            heartbeat_interval: Some(Duration::from_secs(3)),
            data_dir: Some(dir.path().into()),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(c.bind, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(c.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(c.max_body_size, 2 << 20);
        assert_eq!(c.retention, Duration::from_secs(86400));
        assert_eq!(c.keys.secret.as_deref(), Some("s"));
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("socfeed.toml");
        std::fs::write(&file, "heartbeat = \"10s\"\n").unwrap();
        let err = Config::resolve(ServeArgs {
            config: Some(file),
            ..ServeArgs::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("heartbeat"), "{err}");
    }

    #[test]
    fn dev_secret_is_generated_once() {
        let dir = tempfile::tempdir().unwrap();
        let args = ServeArgs {
            data_dir: Some(dir.path().into()),
            ..ServeArgs::default()
        };
        let a = Config::resolve(args.clone()).unwrap().keys.secret.unwrap();
        let b = Config::resolve(args).unwrap().keys.secret.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
    }
}
