//! What a new user meets first: `socfeed token` never signs with a key no server knows, and
//! errors say their cause once.

use std::process::Command;

fn socfeed(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_socfeed"))
        .args(args)
        .env_remove("SOCFEED_JWT_SECRET")
        .env_remove("SOCFEED_DATA_DIR")
        .output()
        .expect("socfeed runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Without a key setting and without the data dir's development key, `token` fails, says which
/// settings to pass, and creates nothing; with the key a server made, it signs with that one.
#[test]
fn token_never_signs_with_a_key_it_just_made_up() {
    let root = tempfile::tempdir().expect("dir");
    let missing = root.path().join("mistyped");
    let dir = missing.to_str().expect("utf-8");
    let (code, stdout, stderr) = socfeed(&["token", "--tenant", "acme", "--data-dir", dir]);
    assert_ne!(code, 0, "{stdout}");
    assert!(stdout.is_empty(), "no token printed: {stdout}");
    for needed in ["--jwt-secret", "--data-dir", "dev-jwt-secret"] {
        assert!(stderr.contains(needed), "{needed} not named in: {stderr}");
    }
    assert!(!missing.exists(), "nothing was created");

    std::fs::create_dir_all(&missing).unwrap();
    std::fs::write(missing.join("dev-jwt-secret"), "the-servers-secret\n").unwrap();
    let (code, token, stderr) = socfeed(&["token", "--tenant", "acme", "--data-dir", dir]);
    assert_eq!(code, 0, "{stderr}");
    let verifier = socfeed_auth::Verifier::from_settings(&socfeed_auth::KeySettings {
        leeway: std::time::Duration::ZERO,
        ..socfeed_auth::KeySettings::hs256("the-servers-secret")
    })
    .expect("verifier");
    assert!(
        verifier.verify(token.trim()).is_ok(),
        "signed with the server's key"
    );
}

/// A missing file is reported once: the path and the OS error, not the OS error twice.
#[test]
fn errors_say_their_cause_once() {
    let (code, _, stderr) = socfeed(&["serve", "--config", "/nonexistent/socfeed.toml"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("/nonexistent/socfeed.toml"), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}

/// A zero heartbeat blames the heartbeat alone.
#[test]
fn a_bad_setting_is_named_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_str().expect("utf-8");
    let (code, _, stderr) = socfeed(&["serve", "--heartbeat-interval", "0s", "--data-dir", data]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("heartbeat-interval must be positive"),
        "{stderr}"
    );
    assert!(!stderr.contains("handshake-timeout"), "{stderr}");
}

/// `--bind` takes a host name.
#[tokio::test]
async fn bind_accepts_a_host_name() {
    let dir = tempfile::tempdir().expect("dir");
    let server = socfeed_testkit::ServerProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_socfeed")),
        dir.path(),
        "localhost:0",
        &[],
    );
    assert!(server.addr.ip().is_loopback(), "{}", server.addr);
    let status = reqwest::get(format!("http://{}/healthz", server.addr))
        .await
        .expect("healthz")
        .status();
    assert_eq!(status.as_u16(), 200);
}

/// `token --help` lists what minting reads, not the server's thirty settings.
#[test]
fn token_help_shows_only_what_minting_uses() {
    let (code, help, _) = socfeed(&["token", "--help"]);
    assert_eq!(code, 0);
    for wanted in [
        "--tenant",
        "--roles",
        "--ttl",
        "--jwt-secret",
        "--data-dir",
        "--config",
        "--jwt-private-key",
    ] {
        assert!(help.contains(wanted), "{wanted} missing:\n{help}");
    }
    for unwanted in [
        "--max-frame-size",
        "--engine",
        "--heartbeat-interval",
        "--bind",
    ] {
        assert!(!help.contains(unwanted), "{unwanted} listed:\n{help}");
    }
}

/// `serve --help` names the log verbosity variable.
#[test]
fn serve_help_names_the_log_level_variable() {
    let (code, help, _) = socfeed(&["serve", "--help"]);
    assert_eq!(code, 0);
    assert!(help.contains("SOCFEED_LOG_LEVEL"), "{help}");
}

/// A bad value from an environment variable is reported under the variable's name.
#[test]
fn a_bad_env_value_names_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_socfeed"))
        .args(["serve"])
        .env("SOCFEED_HEARTBEAT_INTERVAL", "soon")
        .output()
        .expect("socfeed runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SOCFEED_HEARTBEAT_INTERVAL"), "{stderr}");
    assert!(stderr.contains("soon"), "{stderr}");
    let flag = Command::new(env!("CARGO_BIN_EXE_socfeed"))
        .args(["serve", "--heartbeat-interval", "soon"])
        .output()
        .expect("socfeed runs");
    let stderr = String::from_utf8_lossy(&flag.stderr);
    assert!(stderr.contains("--heartbeat-interval"), "{stderr}");
    assert!(!stderr.contains("SOCFEED_HEARTBEAT_INTERVAL ("), "{stderr}");
}
