//! `socfeed tail`: an analyst's terminal view of a tenant's live feed, built on socfeed-client.
//! One line per event coloured by severity (or `--json`: one wire envelope per line), a status
//! line on stderr while reconnecting, and resume after the last seq shown on every reconnect.

mod render;
mod status;

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use socfeed_client::{Feed, FeedConfig, FeedItem, Gap, Tokens};
use socfeed_proto::{Channel, Event, Filters};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DialectArg {
    /// `/ws`: channel subscriptions.
    Aisoc,
    /// `/v1/soc/feed`: every channel, narrowed by filters.
    Govern,
}

#[derive(clap::Args)]
pub struct Args {
    /// Server base URL.
    #[arg(long, env = "SOCFEED_URL", default_value = "http://127.0.0.1:8086")]
    url: String,
    /// Subscriber token.
    #[arg(long, env = "SOCFEED_TOKEN", hide_env_values = true)]
    token: String,
    /// Wire dialect.
    #[arg(long, value_enum, default_value = "aisoc")]
    dialect: DialectArg,
    /// AiSOC channel to watch (repeatable; default: all).
    #[arg(long = "channel", value_name = "CHANNEL")]
    channels: Vec<String>,
    /// GOVERN: only these severities (comma-separated, e.g. critical,high).
    #[arg(long, value_delimiter = ',')]
    severities: Vec<String>,
    /// GOVERN: only these `data.type` values.
    #[arg(long, value_delimiter = ',')]
    types: Vec<String>,
    /// GOVERN: only these systems (`data.ai_system.name`, `system_name` or `system_id`).
    #[arg(long, value_delimiter = ',')]
    systems: Vec<String>,
    /// GOVERN: only these event types (e.g. alert.new).
    #[arg(long, value_delimiter = ',')]
    events: Vec<String>,
    /// Start after this seq, replaying what is retained (default: live events only).
    #[arg(long)]
    since: Option<u64>,
    /// The epoch `--since` belongs to (a mismatch is reported as a gap).
    #[arg(long, requires = "since")]
    epoch: Option<String>,
    /// One JSON envelope per line, as the dialect puts it on the wire (for piping).
    #[arg(long)]
    json: bool,
    /// No ANSI colours (none either when stdout is not a terminal or NO_COLOR is set).
    #[arg(long)]
    no_color: bool,
    /// The server's heartbeat interval; two of them without a message and the feed reconnects.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    heartbeat_interval: Duration,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = feed_config(&args)?;
    let mut feed = Feed::connect(config, Tokens::fixed(args.token.clone()))?;
    let line = status::StatusLine::new(std::io::stderr().is_terminal());
    let watcher = tokio::spawn(status::watch(feed.status(), line.clone()));
    let colour =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let govern = args.dialect == DialectArg::Govern;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let result = loop {
        let item = tokio::select! {
            _ = &mut interrupted => break Ok(()),
            item = feed.next() => item,
        };
        let shown = match item {
            None => break Ok(()),
            Some(Ok(FeedItem::Event(e))) => {
                line.clear();
                show(&e, args.json, govern, colour)
            }
            Some(Ok(FeedItem::Gap(g))) => {
                line.clear();
                eprintln!("socfeed: {}", gap_message(&g));
                Ok(())
            }
            Some(Err(e)) => break Err(e).context("the server refused the subscription"),
        };
        match shown {
            Ok(()) => {}
            // The reader went away (`| head`): stop quietly.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break Ok(()),
            Err(e) => break Err(e).context("writing to stdout"),
        }
    };
    feed.close().await;
    let _ = watcher.await;
    line.clear();
    result
}

/// The feed's settings from the flags.
fn feed_config(args: &Args) -> anyhow::Result<FeedConfig> {
    let filters = Filters {
        severities: args.severities.clone(),
        types: args.types.clone(),
        systems: args.systems.clone(),
        events: args.events.clone(),
    };
    let mut config = match args.dialect {
        DialectArg::Aisoc => {
            if !filters.is_empty() {
                bail!("--severities, --types, --systems and --events need --dialect govern");
            }
            let channels = args
                .channels
                .iter()
                .map(|c| Channel::parse(c).with_context(|| format!("--channel {c:?}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            FeedConfig::aisoc(&args.url, channels)
        }
        DialectArg::Govern => {
            if !args.channels.is_empty() {
                bail!("--channel needs --dialect aisoc (GOVERN narrows with filters)");
            }
            FeedConfig::govern(&args.url, filters)
        }
    };
    config.since = args.since;
    config.epoch = args.epoch.clone();
    config.heartbeat_interval = args.heartbeat_interval;
    Ok(config)
}

/// Writes one event: its wire envelope, or the coloured line.
fn show(e: &Event, json: bool, govern: bool, colour: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let envelope = if govern {
            socfeed_proto::govern::encode_event(e)
        } else {
            socfeed_proto::aisoc::encode_event(e)
        };
        out.write_all(envelope.as_bytes())?;
        out.write_all(b"\n")?;
    } else {
        writeln!(out, "{}", render::line(e, colour))?;
    }
    out.flush()
}

fn gap_message(g: &Gap) -> String {
    let scope = g
        .channel
        .as_ref()
        .map(|c| format!(" on channel {c}"))
        .unwrap_or_default();
    if g.epoch_changed {
        format!(
            "gap{scope}: the server's history was reset (new epoch); showing it from its oldest retained event"
        )
    } else {
        format!(
            "gap{scope}: events after seq {} are no longer retained; resuming at the oldest retained one",
            g.after
        )
    }
}
