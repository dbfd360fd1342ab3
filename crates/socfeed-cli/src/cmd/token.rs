//! `socfeed token`: mint a JWT with the same key settings as `serve` (or a private key file).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use socfeed_proto::Role;

use crate::settings::{self, ServeArgs};

#[derive(clap::Args)]
pub struct Args {
    /// Tenant the token belongs to (`*` for a service publisher of any tenant).
    #[arg(long)]
    tenant: String,
    /// Subject (user or service name).
    #[arg(long, default_value = "local-user")]
    sub: String,
    /// Comma-separated roles: subscriber, publisher, admin.
    #[arg(long, value_delimiter = ',', default_value = "subscriber")]
    roles: Vec<String>,
    /// Comma-separated channel allow-list (default: every channel).
    #[arg(long, value_delimiter = ',')]
    channels: Option<Vec<String>>,
    /// Lifetime, e.g. 30m, 1h, 7d.
    #[arg(long, default_value = "1h", value_parser = socfeed_server::parse_duration)]
    ttl: Duration,
    /// Sign with this private key PEM (RS256, ES256 or EdDSA) instead of the HS256 secret.
    #[arg(long, value_name = "FILE")]
    jwt_private_key: Option<PathBuf>,
    /// Key id (`kid`) to put in the header.
    #[arg(long)]
    kid: Option<String>,
    #[command(flatten)]
    keys: KeyArgs,
}

/// The settings minting reads: where the server's key is (the same flags, env vars and TOML
/// keys as `serve`), and the claims the server requires.
#[derive(Debug, Clone, Default, clap::Args)]
struct KeyArgs {
    /// TOML file of the server's settings (only its key settings are used here).
    #[arg(long, env = "SOCFEED_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The server's data directory, whose `dev-jwt-secret` signs when no key is given
    /// [default: ./socfeed-data].
    #[arg(long, env = "SOCFEED_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// HS256 shared secret (the server's `--jwt-secret`).
    #[arg(long, env = "SOCFEED_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// `iss` claim to put in the token (the server's `--jwt-issuer`).
    #[arg(long, env = "SOCFEED_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// `aud` claim to put in the token (the server's `--jwt-audience`).
    #[arg(long, env = "SOCFEED_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
}

impl KeyArgs {
    /// As the server's settings, the rest left to the file or the defaults.
    fn into_serve_args(self) -> ServeArgs {
        ServeArgs {
            config: self.config,
            data_dir: self.data_dir,
            jwt_secret: self.jwt_secret,
            jwt_issuer: self.jwt_issuer,
            jwt_audience: self.jwt_audience,
            ..ServeArgs::default()
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let roles = args
        .roles
        .iter()
        .map(|r| match r.trim() {
            "subscriber" => Ok(Role::Subscriber),
            "publisher" => Ok(Role::Publisher),
            "admin" => Ok(Role::Admin),
            other => bail!("unknown role {other:?} (subscriber, publisher, admin)"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut claims = socfeed_auth::claims(&args.tenant, &args.sub, &roles, args.channels, args.ttl);
    // A private key signs on its own; otherwise the key must be one a server uses.
    let dev = match args.jwt_private_key {
        Some(_) => settings::DevKey::Unused,
        None => settings::DevKey::MustExist,
    };
    let config =
        settings::resolve_with(args.keys.into_serve_args(), dev).context("resolving settings")?;
    claims.iss = config.keys.issuer.clone();
    claims.aud = config.keys.audience.clone().map(serde_json::Value::String);
    let minter = match &args.jwt_private_key {
        Some(path) => socfeed_auth::Minter::from_private_pem_file(path)
            .with_context(|| format!("loading {}", path.display()))?,
        None => match &config.keys.secret {
            Some(secret) => socfeed_auth::Minter::hs256(secret),
            None => bail!(
                "no HS256 secret configured: pass --jwt-private-key to sign with a private key"
            ),
        },
    };
    let minter = match args.kid {
        Some(kid) => minter.with_kid(kid),
        None => minter,
    };
    println!("{}", minter.mint(&claims)?);
    Ok(())
}
