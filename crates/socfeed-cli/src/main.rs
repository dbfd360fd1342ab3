//! The `socfeed` binary: flags and glue around `socfeed-server` and `socfeed-auth`.

#![allow(unreachable_pub)] // a binary: `pub` only structures the modules

mod cmd;
mod settings;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// socfeed: a real-time security-event feed server (WebSocket and SSE).
#[derive(Parser)]
#[command(name = "socfeed", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(cmd::serve::Args),
    /// Mint a token for local use, with the same key settings as `serve`.
    Token(cmd::token::Args),
    /// Publish one event, or NDJSON events from stdin.
    Publish(cmd::publish::Args),
    /// Load-test a server: many subscribers, a publisher, publish-to-deliver latency.
    Bench(cmd::bench::Args),
    /// Watch a tenant's live feed in the terminal (resumes across reconnects).
    Tail(cmd::tail::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SOCFEED_LOG_LEVEL")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("socfeed: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => cmd::serve::run(args).await,
            Command::Token(args) => cmd::token::run(args),
            Command::Publish(args) => cmd::publish::run(args).await,
            Command::Bench(args) => cmd::bench::run(args).await,
            Command::Tail(args) => cmd::tail::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("socfeed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
