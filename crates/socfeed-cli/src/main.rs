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
    #[command(
        after_help = "Log verbosity: SOCFEED_LOG_LEVEL (default info; a tracing \
        filter such as debug or socfeed=debug,hyper=warn). Audit lines (connections, refusals) \
        are logged at info under the target socfeed::audit."
    )]
    Serve(Box<cmd::serve::Args>),
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match from_env(&e) {
            Some(message) => {
                eprintln!("{message}");
                return ExitCode::from(2);
            }
            None => e.exit(),
        },
    };
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
            Command::Serve(args) => cmd::serve::run(*args).await,
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

/// A bad value that came from an environment variable, not from the flag clap names: the same
/// message, naming the variable. `None` for every other error.
fn from_env(e: &clap::Error) -> Option<String> {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let Some(ContextValue::String(shown)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = shown.split_whitespace().next()?.strip_prefix("--")?;
    let on_command_line = std::env::args()
        .skip(1)
        .any(|a| a == format!("--{long}") || a.starts_with(&format!("--{long}=")));
    if on_command_line {
        return None;
    }
    let command = Cli::command();
    let env = command
        .get_subcommands()
        .flat_map(|c| c.get_arguments())
        .filter(|a| a.get_long() == Some(long))
        .find_map(|a| a.get_env())?
        .to_string_lossy()
        .into_owned();
    std::env::var_os(&env)?;
    let message = e.render().to_string();
    Some(message.replacen(
        &format!("'{shown}'"),
        &format!("{env} (the environment variable of --{long})"),
        1,
    ))
}
