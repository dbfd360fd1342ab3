//! Settings of `serve` and `token`: every one has a flag, a `SOCFEED_*` env var and a key in an
//! optional TOML file.
//!
//! Precedence: flag, then env var (clap reads both), then the TOML file, then the default (the
//! server's `Config::default`). [`ServeArgs`] is what clap parses (and the TOML file fills in);
//! [`resolve`] turns it into the [`Config`] the server runs with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use socfeed_auth::KeySettings;
use socfeed_server::{
    Config, ConfigError, Durability, Engine, Networks, Origins, parse_duration, parse_size,
};

/// Declares every setting once: its doc (the `--help` text), type, env var and parser. The flag is
/// the name with `-`, the TOML key the name itself. Defaults live in the server's
/// `Config::default`.
macro_rules! settings {
    ($( $(#[doc = $doc:literal])+ $name:ident: $ty:ty, $env:literal, $parse:expr; )*) => {
        /// Server settings as flags and env vars; every field is optional so that a TOML file can
        /// fill what the command line leaves out.
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct ServeArgs {
            /// TOML file with any of the settings below (keys are the flag names with `_` for `-`).
            #[arg(long, env = "SOCFEED_CONFIG", value_name = "FILE")]
            pub config: Option<PathBuf>,
            $(
                $(#[doc = $doc])+
                #[arg(long, env = $env, value_parser = $parse, hide_env_values = true)]
                pub $name: Option<$ty>,
            )*
        }

        impl ServeArgs {
            /// Every TOML key.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($name)),*];

            /// Fills settings not given as flags or env vars from a TOML table.
            fn fill_from(&mut self, table: &toml::Table) -> Result<(), String> {
                if let Some(key) = table.keys().find(|k| !Self::KEYS.contains(&k.as_str())) {
                    return Err(format!("unknown key `{key}`"));
                }
                $(
                    if self.$name.is_none() {
                        if let Some(v) = table.get(stringify!($name)) {
                            let text = match v {
                                toml::Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            let parse = $parse;
                            self.$name = Some(parse(&text).map_err(|e| format!("`{}`: {e}", stringify!($name)))?);
                        }
                    }
                )*
                Ok(())
            }

            /// Every setting set to the `[default: ...]` of its help text.
            #[cfg(test)]
            fn help_defaults() -> Result<ServeArgs, String> {
                let mut args = ServeArgs::default();
                $(
                    if let Some(text) = help_default(&[$($doc),+].concat()) {
                        let parse = $parse;
                        args.$name = Some(parse(text).map_err(|e| format!("`{}`: {e}", stringify!($name)))?);
                    }
                )*
                Ok(args)
            }
        }
    };
}

settings! {
    /// Address to listen on, `host:port` with an IP address or a host name such as
    /// `localhost:8086` (its first address) [default: 0.0.0.0:8086].
    bind: SocketAddr, "SOCFEED_BIND", parse_bind;
    /// Directory of the durable log (and of the generated development key) [default: ./socfeed-data].
    data_dir: PathBuf, "SOCFEED_DATA_DIR", from_str::<PathBuf>;
    /// Where events, seqs and the live fan-out live: `embedded` (the durable log in the data
    /// directory, one node), `memory` (nothing kept) or a Redis URL
    /// `redis://[user:password@]host:port[/db]` (`rediss://` for TLS), which any number of
    /// nodes share [default: embedded].
    engine: Engine, "SOCFEED_ENGINE", from_str::<Engine>;
    /// Former name of `--engine`; `--engine` wins when both are given.
    log: Engine, "SOCFEED_LOG", from_str::<Engine>;
    /// Prefix of every key the engine writes (Redis), so deployments can share one Redis
    /// [default: socfeed].
    engine_prefix: String, "SOCFEED_ENGINE_PREFIX", from_str::<String>;
    /// `strict`: at start, check that Redis writes to disk before it replies (`appendonly yes`
    /// with `appendfsync always`, or WAITAOF) and refuse to start otherwise; `relaxed`: start
    /// anyway, a 202 then means "in Redis" [default: strict].
    engine_durability: Durability, "SOCFEED_ENGINE_DURABILITY", from_str::<Durability>;
    /// This node's name in metrics and logs (default: host name and port).
    node_id: String, "SOCFEED_NODE_ID", from_str::<String>;
    /// HS256 shared secret for tokens. Without any key setting, a random secret is generated
    /// once and kept in `<data-dir>/dev-jwt-secret`.
    jwt_secret: String, "SOCFEED_JWT_SECRET", from_str::<String>;
    /// PEM file with an RS256, ES256 or EdDSA public key.
    jwt_public_key: PathBuf, "SOCFEED_JWT_PUBLIC_KEY", from_str::<PathBuf>;
    /// JWKS file (`{"keys":[...]}`), keys chosen by `kid`.
    jwks_file: PathBuf, "SOCFEED_JWKS_FILE", from_str::<PathBuf>;
    /// JWKS files bound to issuers, `ISSUER=FILE[,ISSUER=FILE...]`: each file's keys verify only
    /// tokens of that issuer (keys are known by issuer and kid).
    jwt_issuer_jwks: IssuerJwks, "SOCFEED_JWT_ISSUER_JWKS", from_str::<IssuerJwks>;
    /// Required `iss` claim, when set (for keys not bound to an issuer).
    jwt_issuer: String, "SOCFEED_JWT_ISSUER", from_str::<String>;
    /// Required `aud` claim, when set.
    jwt_audience: String, "SOCFEED_JWT_AUDIENCE", from_str::<String>;
    /// Clock leeway for `exp`/`nbf`, at most 5s [default: 5s].
    jwt_leeway: Duration, "SOCFEED_JWT_LEEWAY", parse_duration;
    /// Interval of pings / heartbeats; a client silent for two intervals is closed [default: 30s].
    heartbeat_interval: Duration, "SOCFEED_HEARTBEAT_INTERVAL", parse_duration;
    /// How long events are kept for replay [default: 24h].
    retention: Duration, "SOCFEED_RETENTION", parse_duration;
    /// Default GOVERN replay window (`?replay` without a value) [default: 5m].
    replay_window: Duration, "SOCFEED_REPLAY_WINDOW", parse_duration;
    /// Events read from the log per replay batch [default: 512].
    replay_batch: usize, "SOCFEED_REPLAY_BATCH", from_str::<usize>;
    /// Recent events kept in memory per tenant, so that replays of recent history skip the log;
    /// 0 turns the cache off [default: 4096].
    replay_cache: usize, "SOCFEED_REPLAY_CACHE", from_str::<usize>;
    /// Bytes the recent-events cache may hold for all tenants together; the tenant holding the
    /// most gives up its oldest events first [default: 64MiB].
    replay_cache_bytes: usize, "SOCFEED_REPLAY_CACHE_BYTES", parse_size;
    /// Bytes of page cache the embedded log may hold [default: 64MiB].
    log_cache_bytes: usize, "SOCFEED_LOG_CACHE_BYTES", parse_size;
    /// Largest event, as its largest encoded frame; larger ones are refused at publish (400).
    /// Must fit in max-frame-size [default: 256KiB].
    max_event_size: usize, "SOCFEED_MAX_EVENT_SIZE", parse_size;
    /// Deepest nesting of arrays and objects in a payload (400 beyond) [default: 32].
    max_payload_depth: usize, "SOCFEED_MAX_PAYLOAD_DEPTH", from_str::<usize>;
    /// Frames a session may have waiting before it is closed as a slow consumer (4008) [default: 1024].
    queue_len: usize, "SOCFEED_QUEUE_LEN", from_str::<usize>;
    /// Least time between two writes to one WebSocket: events arriving sooner wait and go out
    /// together (fewer system calls per delivery, at most this much added latency); 0 writes
    /// every wake-up at once [default: 0s].
    write_coalesce: Duration, "SOCFEED_WRITE_COALESCE", parse_duration;
    /// Largest client message; larger ones close the connection with 1009 [default: 64KiB].
    max_message_size: usize, "SOCFEED_MAX_MESSAGE_SIZE", parse_size;
    /// Largest message the server sends; bigger GOVERN replays are split into parts [default: 1MiB].
    max_frame_size: usize, "SOCFEED_MAX_FRAME_SIZE", parse_size;
    /// Largest publish body; larger ones get 413 [default: 1MiB].
    max_body_size: usize, "SOCFEED_MAX_BODY_SIZE", parse_size;
    /// Channel subscriptions one AiSOC connection may hold [default: 64].
    max_subscriptions: usize, "SOCFEED_MAX_SUBSCRIPTIONS", from_str::<usize>;
    /// Open connections (WebSocket and SSE) per tenant; more get 4029 / 429 [default: 10000].
    max_connections_per_tenant: usize, "SOCFEED_MAX_CONNECTIONS_PER_TENANT", from_str::<usize>;
    /// Open connections per client IP; more get 4029 / 429 [default: 1000].
    max_connections_per_ip: usize, "SOCFEED_MAX_CONNECTIONS_PER_IP", from_str::<usize>;
    /// Client messages per second per connection (bursts of twice that); more close with 4029 [default: 20].
    max_messages_per_second: u32, "SOCFEED_MAX_MESSAGES_PER_SECOND", from_str::<u32>;
    /// Events per second one publisher token may publish (bursts of twice that); more get 429
    /// with `Retry-After`; 0 = unlimited [default: 10000].
    publish_rate: u32, "SOCFEED_PUBLISH_RATE", from_str::<u32>;
    /// Time a client has to send its request line and headers (WebSocket and HTTP handshakes);
    /// a connection that sends nothing is closed after it [default: 10s].
    handshake_timeout: Duration, "SOCFEED_HANDSHAKE_TIMEOUT", parse_duration;
    /// Time a request body may take to arrive once its headers did; slower ones get 408
    /// [default: 30s].
    body_timeout: Duration, "SOCFEED_BODY_TIMEOUT", parse_duration;
    /// When set, `GET /metrics` needs `Authorization: Bearer <this token>` (otherwise 401).
    metrics_token: String, "SOCFEED_METRICS_TOKEN", from_str::<String>;
    /// Reverse proxies (comma-separated networks, e.g. `10.0.0.0/8,192.0.2.7`) whose
    /// `Forwarded` / `X-Forwarded-For` headers name the client address, for per-address limits;
    /// anyone else's are ignored.
    trusted_proxies: Networks, "SOCFEED_TRUSTED_PROXIES", from_str::<Networks>;
    /// Browser origins (comma-separated, e.g. `https://soc.example.com`) that may open a feed
    /// (others get 403) and that get CORS answers on the SSE feed, `POST /v1/events` and
    /// `POST /v1/tickets`; `*` allows any [default: *].
    allowed_origins: Origins, "SOCFEED_ALLOWED_ORIGINS", from_str::<Origins>;
}

/// Why settings could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("reading config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("preparing the development key in {path}")]
    DevKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no signing key: no key setting is given and {path} does not exist; pass \
         --jwt-secret (SOCFEED_JWT_SECRET) or --jwt-private-key, or the --data-dir of the \
         server whose development key to use"
    )]
    NoDevKey { path: PathBuf },
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// Applies flags/env over the TOML file (when `--config` names one) over the server's defaults,
/// and validates the result. Without any key setting, the development secret of the data dir
/// is used (and generated on first use).
pub fn resolve(args: ServeArgs) -> Result<Config, SettingsError> {
    resolve_with(args, DevKey::CreateIfMissing)
}

/// Whether a missing development key may be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevKey {
    /// `serve`: make one on first use.
    CreateIfMissing,
    /// `token`: use the one a server made, never a new one (a token signed with a key no
    /// server knows would be refused as "bad token signature").
    MustExist,
    /// `token --jwt-private-key`: no secret is needed.
    Unused,
}

/// [`resolve`], with the development key handled as `dev` says.
pub fn resolve_with(mut args: ServeArgs, dev: DevKey) -> Result<Config, SettingsError> {
    if let Some(path) = args.config.clone() {
        let text = std::fs::read_to_string(&path).map_err(|source| SettingsError::Read {
            path: path.clone(),
            source,
        })?;
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| SettingsError::File {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
        args.fill_from(&table)
            .map_err(|message| SettingsError::File { path, message })?;
    }
    let a = args;
    let d = Config::default();
    let mut c = Config {
        bind: a.bind.unwrap_or(d.bind),
        data_dir: a.data_dir.unwrap_or(d.data_dir),
        engine: a.engine.or(a.log).unwrap_or(d.engine),
        engine_prefix: a.engine_prefix.unwrap_or(d.engine_prefix),
        engine_durability: a.engine_durability.unwrap_or(d.engine_durability),
        node_id: a.node_id.filter(|n| !n.is_empty()).or(d.node_id),
        keys: KeySettings {
            secret: a.jwt_secret,
            public_key_pem: a.jwt_public_key,
            jwks_file: a.jwks_file,
            issuer_jwks: a.jwt_issuer_jwks.map(|i| i.0).unwrap_or_default(),
            issuer: a.jwt_issuer,
            audience: a.jwt_audience,
            leeway: a.jwt_leeway.unwrap_or(d.keys.leeway),
        },
        heartbeat_interval: a.heartbeat_interval.unwrap_or(d.heartbeat_interval),
        retention: a.retention.unwrap_or(d.retention),
        replay_window: a.replay_window.unwrap_or(d.replay_window),
        replay_batch: a.replay_batch.unwrap_or(d.replay_batch),
        replay_cache: a.replay_cache.unwrap_or(d.replay_cache),
        replay_cache_bytes: a.replay_cache_bytes.unwrap_or(d.replay_cache_bytes),
        log_cache_bytes: a.log_cache_bytes.unwrap_or(d.log_cache_bytes),
        max_event_size: a.max_event_size.unwrap_or(d.max_event_size),
        max_payload_depth: a.max_payload_depth.unwrap_or(d.max_payload_depth),
        queue_len: a.queue_len.unwrap_or(d.queue_len),
        write_coalesce: a.write_coalesce.unwrap_or(d.write_coalesce),
        max_message_size: a.max_message_size.unwrap_or(d.max_message_size),
        max_frame_size: a.max_frame_size.unwrap_or(d.max_frame_size),
        max_body_size: a.max_body_size.unwrap_or(d.max_body_size),
        max_subscriptions: a.max_subscriptions.unwrap_or(d.max_subscriptions),
        max_connections_per_tenant: a
            .max_connections_per_tenant
            .unwrap_or(d.max_connections_per_tenant),
        max_connections_per_ip: a.max_connections_per_ip.unwrap_or(d.max_connections_per_ip),
        max_messages_per_second: a
            .max_messages_per_second
            .unwrap_or(d.max_messages_per_second),
        publish_rate: a.publish_rate.unwrap_or(d.publish_rate),
        handshake_timeout: a.handshake_timeout.unwrap_or(d.handshake_timeout),
        body_timeout: a.body_timeout.unwrap_or(d.body_timeout),
        metrics_token: a
            .metrics_token
            .filter(|t| !t.is_empty())
            .or(d.metrics_token),
        trusted_proxies: a.trusted_proxies.map_or(d.trusted_proxies, |n| n.0),
        allowed_origins: a.allowed_origins.unwrap_or(d.allowed_origins),
    };
    c.validate()?;
    let k = &c.keys;
    if k.secret.is_none()
        && k.public_key_pem.is_none()
        && k.jwks_file.is_none()
        && k.issuer_jwks.is_empty()
    {
        let path = c.data_dir.join("dev-jwt-secret");
        match dev {
            DevKey::Unused => return Ok(c),
            DevKey::MustExist if !path.exists() => return Err(SettingsError::NoDevKey { path }),
            _ => c.keys.secret = Some(dev_secret(&c.data_dir)?),
        }
    }
    Ok(c)
}

/// `ISSUER=FILE` pairs, comma-separated (an issuer is split from its file at the last `=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerJwks(pub Vec<(String, PathBuf)>);

impl std::str::FromStr for IssuerJwks {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|pair| match pair.rsplit_once('=') {
                Some((iss, file)) if !iss.is_empty() && !file.is_empty() => {
                    Ok((iss.to_owned(), PathBuf::from(file)))
                }
                _ => Err(format!("expected ISSUER=FILE, got {pair:?}")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(IssuerJwks)
    }
}

/// `host:port`: an address, or a host name resolved to its first address.
fn parse_bind(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("expected host:port, got {s:?}"))?;
    port.parse::<u16>()
        .map_err(|_| format!("the port of {s:?} is not a number from 0 to 65535"))?;
    let mut addrs = s
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host:?}: {e}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("{host:?} has no address"))
}

/// Parses any `FromStr` setting, with the error as text.
fn from_str<T: std::str::FromStr>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(|e| e.to_string())
}

/// The `X` of a `[default: X]` in a help text.
#[cfg(test)]
fn help_default(doc: &str) -> Option<&str> {
    let (_, rest) = doc.split_once("[default: ")?;
    rest.split_once(']').map(|(text, _)| text)
}

/// The generated development secret: read from `<data_dir>/dev-jwt-secret`, created on first use.
fn dev_secret(data_dir: &Path) -> Result<String, SettingsError> {
    let path = data_dir.join("dev-jwt-secret");
    let err = |source| SettingsError::DevKey {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("socfeed.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:9000\"\nheartbeat_interval = \"10s\"\nmax_body_size = \"2MiB\"\njwt_secret = \"s\"\n",
        )
        .unwrap();
        let c = resolve(ServeArgs {
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
    fn bind_takes_addresses_and_host_names() {
        assert_eq!(
            parse_bind("127.0.0.1:9000"),
            Ok("127.0.0.1:9000".parse().unwrap())
        );
        assert_eq!(parse_bind("[::1]:0"), Ok("[::1]:0".parse().unwrap()));
        let local = parse_bind("localhost:8086").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 8086, "{local}");
        assert!(parse_bind("localhost").unwrap_err().contains("host:port"));
        assert!(parse_bind("localhost:http").unwrap_err().contains("port"));
        assert!(
            parse_bind("no-such-host.invalid:80")
                .unwrap_err()
                .contains("resolve")
        );
    }

    #[test]
    fn file_values_may_be_numbers_and_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("socfeed.toml");
        std::fs::write(
            &file,
            "queue_len = 16\npublish_rate = 0\nlog = \"memory\"\njwt_secret = \"s\"\n",
        )
        .unwrap();
        let c = resolve(ServeArgs {
            config: Some(file.clone()),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(
            (c.queue_len, c.publish_rate, c.engine),
            (16, 0, Engine::Memory)
        );
        std::fs::write(&file, "queue_len = \"many\"\n").unwrap();
        let err = resolve(ServeArgs {
            config: Some(file),
            ..ServeArgs::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("queue_len"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("socfeed.toml");
        std::fs::write(&file, "heartbeat = \"10s\"\n").unwrap();
        let err = resolve(ServeArgs {
            config: Some(file),
            ..ServeArgs::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("heartbeat"), "{err}");
    }

    #[test]
    fn invalid_settings_are_refused_before_the_dev_key_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve(ServeArgs {
            data_dir: Some(dir.path().into()),
            jwt_leeway: Some(Duration::from_secs(6)),
            ..ServeArgs::default()
        })
        .unwrap_err();
        assert!(matches!(err, SettingsError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("jwt-leeway"), "{err}");
        assert!(!dir.path().join("dev-jwt-secret").exists());
    }

    #[test]
    fn dev_secret_is_generated_once() {
        let dir = tempfile::tempdir().unwrap();
        let args = ServeArgs {
            data_dir: Some(dir.path().into()),
            ..ServeArgs::default()
        };
        let a = resolve(args.clone()).unwrap().keys.secret.unwrap();
        let b = resolve(args).unwrap().keys.secret.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn help_defaults_are_the_server_defaults() {
        let with_secret = |args: ServeArgs| ServeArgs {
            jwt_secret: Some("s".into()),
            ..args
        };
        let documented = ServeArgs::help_defaults().unwrap();
        assert!(documented.bind.is_some() && documented.handshake_timeout.is_some());
        let documented = resolve(with_secret(documented)).unwrap();
        let defaults = resolve(with_secret(ServeArgs::default())).unwrap();
        assert_eq!(format!("{documented:?}"), format!("{defaults:?}"));
    }
}
