//! `socfeed publish`: POST one event (from flags) or NDJSON from stdin to `/v1/events`.

use std::io::Read;

use anyhow::{Context, bail};

#[derive(clap::Args)]
pub struct Args {
    /// Server base URL.
    #[arg(long, env = "SOCFEED_URL", default_value = "http://127.0.0.1:8086")]
    url: String,
    /// Publisher token.
    #[arg(long, env = "SOCFEED_TOKEN", hide_env_values = true)]
    token: String,
    /// Event type, e.g. alert.created. Without it, NDJSON events are read from stdin.
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// Payload JSON object.
    #[arg(long, default_value = "{}")]
    payload: String,
    /// Target tenant (needed with a `*` token).
    #[arg(long)]
    tenant: Option<String>,
    /// Publisher-chosen event id (repeats are stored once).
    #[arg(long)]
    id: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (body, content_type) = match &args.event_type {
        Some(ty) => {
            let payload: serde_json::Value =
                serde_json::from_str(&args.payload).context("--payload is not JSON")?;
            let mut event = serde_json::json!({"type": ty, "payload": payload});
            if let Some(t) = &args.tenant {
                event["tenant_id"] = t.clone().into();
            }
            if let Some(id) = &args.id {
                event["id"] = id.clone().into();
            }
            (event.to_string(), "application/json")
        }
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading stdin")?;
            (text, "application/x-ndjson")
        }
    };
    let url = format!("{}/v1/events", args.url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&args.token)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{status}: {text}");
    }
    println!("{text}");
    Ok(())
}
