//! Where events, seqs and the live fan-out live: `--engine` and its companions.

use std::fmt;

/// The engine behind the log and the live fan-out.
#[derive(Clone, PartialEq, Eq)]
pub enum Engine {
    /// The durable redb log in the data directory, one node; the default.
    Embedded,
    /// In memory: nothing survives a restart.
    Memory,
    /// Redis (`redis://` or `rediss://` URL): any number of nodes serve one feed.
    Redis(RedisUrl),
}

/// A Redis URL, kept as given; shown with its password hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL as given, password included (for the client only; never log this).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedisUrl {
    /// `redis://user:***@host:port/db`: the password never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.0;
        let Some((scheme, rest)) = url.split_once("://") else {
            return f.write_str(url);
        };
        match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                write!(f, "{scheme}://{user}:***@{host}")
            }
            None => f.write_str(url),
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Engine::Embedded => f.write_str("embedded"),
            Engine::Memory => f.write_str("memory"),
            Engine::Redis(url) => url.fmt(f),
        }
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Engine({self})")
    }
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Engine, String> {
        match s.trim() {
            "embedded" => Ok(Engine::Embedded),
            "memory" => Ok(Engine::Memory),
            url if url.starts_with("redis://") || url.starts_with("rediss://") => {
                let host = url.split_once("://").map_or("", |(_, rest)| rest);
                if host.is_empty() || host.starts_with('/') {
                    return Err("a Redis URL needs a host: redis://host:port[/db]".into());
                }
                Ok(Engine::Redis(RedisUrl(url.to_owned())))
            }
            other => Err(format!(
                "unknown engine {other:?}: embedded, memory or a redis:// (rediss://) URL"
            )),
        }
    }
}

/// What a 202 means on Redis: `--engine-durability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Redis must fsync before it replies (checked at start, else the node refuses to start).
    Strict,
    /// Start anyway with a warning: a 202 means "in Redis", not "on disk".
    Relaxed,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Durability, String> {
        match s.trim() {
            "strict" => Ok(Durability::Strict),
            "relaxed" => Ok(Durability::Relaxed),
            other => Err(format!("unknown durability {other:?}: strict or relaxed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_parse_and_passwords_stay_hidden() {
        assert_eq!("embedded".parse::<Engine>(), Ok(Engine::Embedded));
        assert_eq!("memory".parse::<Engine>(), Ok(Engine::Memory));
        let e: Engine = "redis://app:s3cret@10.0.0.1:6380/2".parse().unwrap();
        assert_eq!(e.to_string(), "redis://app:***@10.0.0.1:6380/2");
        assert!(!format!("{e:?}").contains("s3cret"));
        let Engine::Redis(url) = &e else { panic!() };
        assert_eq!(url.expose(), "redis://app:s3cret@10.0.0.1:6380/2");
        let plain: Engine = "rediss://cache.example:6379".parse().unwrap();
        assert_eq!(plain.to_string(), "rediss://cache.example:6379");
        assert!("redis://".parse::<Engine>().is_err());
        assert!(
            "postgres://x"
                .parse::<Engine>()
                .unwrap_err()
                .contains("redis://")
        );
        assert_eq!("relaxed".parse::<Durability>(), Ok(Durability::Relaxed));
        assert!("fast".parse::<Durability>().is_err());
    }
}
