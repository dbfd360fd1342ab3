//! `socfeed serve`: resolve settings, bind, serve until SIGTERM/SIGINT.

use std::time::Duration;

use anyhow::Context;
use socfeed_proto::{Role, TenantId};
use socfeed_server::Server;

use crate::settings::{self, ServeArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    settings: ServeArgs,
    /// Also publish a stream of synthetic SOC events and print a 24-hour token for the demo
    /// tenant (it may subscribe and publish) with the page and feed URLs.
    #[arg(long)]
    demo: bool,
    /// Tenant of the demo events.
    #[arg(long, default_value = "demo", requires = "demo")]
    demo_tenant: String,
    /// Demo events per second.
    #[arg(long, default_value_t = 2.0, requires = "demo")]
    demo_rate: f64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = settings::resolve(args.settings).context("resolving settings")?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let secret = config.keys.secret.clone();
    let server = Server::bind(listener, config)
        .await
        .context("starting the server")?;
    let addr = server.local_addr()?;
    reload_keys_on_sighup(server.key_reloader());
    tracing::info!(%addr, "socfeed listening");
    if args.demo {
        let tenant = TenantId::parse(&args.demo_tenant).context("--demo-tenant")?;
        server.spawn_demo(tenant.clone(), args.demo_rate);
        print_demo(addr, &tenant, secret.as_deref());
    }
    server.run(shutdown_signal()).await.context("serving")?;
    tracing::info!("socfeed stopped");
    Ok(())
}

fn print_demo(addr: std::net::SocketAddr, tenant: &TenantId, secret: Option<&str>) {
    let host = if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    };
    let Some(secret) = secret else {
        eprintln!(
            "demo: publishing to tenant {tenant}; mint a token with your private key to watch it"
        );
        return;
    };
    let claims = socfeed_auth::claims(
        tenant.as_str(),
        "demo-analyst",
        &[Role::Subscriber, Role::Publisher],
        None,
        Duration::from_secs(24 * 3600),
    );
    match socfeed_auth::Minter::hs256(secret).mint(&claims) {
        Ok(token) => {
            println!("demo tenant: {tenant}");
            println!("token (24h, subscriber+publisher):\n  {token}");
            println!("live page:\n  http://{host}/?token={token}");
            println!(
                "WebSocket:\n  ws://{host}/ws?token={token}   then send {{\"type\":\"subscribe\",\"channel\":\"all\"}}"
            );
        }
        Err(e) => eprintln!("demo: could not mint a token: {e}"),
    }
}

/// Reloads key files on SIGHUP; connections stay open.
fn reload_keys_on_sighup(reloader: socfeed_server::KeyReloader) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match reloader.reload() {
                Ok(()) => tracing::info!("token keys reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "reloading token keys failed; the previous keys stay in force")
                }
            }
        }
    });
    #[cfg(not(unix))]
    drop(reloader);
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: closing sessions and flushing the log");
}
