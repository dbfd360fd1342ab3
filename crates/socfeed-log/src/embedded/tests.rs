//! Embedded-only tests: restarts, crashes, concurrency, group commit, failed commits, and a
//! throughput figure (`#[ignore]`d).

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use socfeed_proto::{Event, Seq};

use super::EmbeddedLog;
use crate::conformance::{Recorder, alerts, cut, draft, settle, supplied, tenant};
use crate::{CommitListener, EventLog, Head, LogError, NoListener, now_ms};

fn open(dir: &Path, listener: Arc<dyn CommitListener>) -> EmbeddedLog {
    EmbeddedLog::open(dir, listener).unwrap()
}

async fn all(log: &EmbeddedLog, t: &str) -> Vec<Event> {
    log.read(&tenant(t), 0, Seq::MAX, None, usize::MAX)
        .await
        .unwrap()
}

/// What must survive a restart: every field of every event, byte for byte.
fn fingerprint(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect()
}

#[tokio::test]
async fn reopen_after_drop_keeps_events_ids_and_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), Arc::new(NoListener));
    log.append(vec![
        supplied("a", "x"),
        draft("a", "alert.created"),
        draft("b", "case.new"),
    ])
    .await
    .unwrap();
    log.append(alerts("a", 2)).await.unwrap();
    let (before_a, before_b) = (all(&log, "a").await, all(&log, "b").await);
    let head_a = log.head(&tenant("a")).await.unwrap();
    drop(log);

    let seen = Arc::new(Recorder::default());
    let log = open(dir.path(), seen.clone());
    assert_eq!(fingerprint(&all(&log, "a").await), fingerprint(&before_a));
    assert_eq!(fingerprint(&all(&log, "b").await), fingerprint(&before_b));
    assert_eq!(log.head(&tenant("a")).await.unwrap(), head_a);
    let out = log
        .append(vec![supplied("a", "x"), draft("a", "x"), draft("b", "x")])
        .await
        .unwrap();
    assert_eq!((out[0].seq, out[0].duplicate), (1, true));
    assert_eq!((out[1].seq, out[2].seq), (5, 2));
    settle(&log).await;
    assert_eq!(seen.seqs(), [("a".into(), 5), ("b".into(), 2)]);
}

#[tokio::test]
async fn heads_survive_purging_everything() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), Arc::new(NoListener));
    log.append(vec![supplied("a", "x"), draft("a", "x"), draft("a", "x")])
        .await
        .unwrap();
    let epoch = log.head(&tenant("a")).await.unwrap().epoch;
    let cut = cut().await;
    assert_eq!(log.purge_before(cut).await.unwrap(), 3);
    log.close().await.unwrap();
    drop(log);

    let log = open(dir.path(), Arc::new(NoListener));
    let head = log.head(&tenant("a")).await.unwrap();
    assert_eq!(
        head,
        Head {
            seq: 3,
            epoch: epoch.clone(),
            first_retained: 4
        }
    );
    assert_eq!(log.seq_before(&tenant("a"), now_ms()).await.unwrap(), 3);
    let out = log.append(vec![supplied("a", "x")]).await.unwrap();
    assert_eq!((out[0].seq, out[0].duplicate), (4, false));
    assert_eq!(log.head(&tenant("a")).await.unwrap().epoch, epoch);
}

/// Run as a child process by `crash_keeps_acknowledged_events`: appends, prints, aborts.
#[tokio::test]
#[ignore = "child process of crash_keeps_acknowledged_events"]
async fn crash_child() {
    let Ok(dir) = std::env::var("SOCFEED_LOG_CRASH_DIR") else {
        return;
    };
    let log = open(Path::new(&dir), Arc::new(NoListener));
    for i in 0..3 {
        let batch = (0..10)
            .map(|j| supplied("a", &format!("c-{i}-{j}")))
            .collect();
        log.append(batch).await.unwrap();
    }
    let head = log.head(&tenant("a")).await.unwrap();
    println!("EPOCH={}", head.epoch.unwrap());
    std::process::abort();
}

#[tokio::test]
async fn crash_keeps_acknowledged_events() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "embedded::tests::crash_child",
            "--nocapture",
        ])
        .env("SOCFEED_LOG_CRASH_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success(), "the child should have aborted");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let epoch = stdout
        .lines()
        .find_map(|l| l.strip_prefix("EPOCH="))
        .expect("child printed its epoch");

    let log = open(dir.path(), Arc::new(NoListener));
    let events = all(&log, "a").await;
    let want: Vec<(String, Seq)> = (0..30)
        .map(|n| (format!("c-{}-{}", n / 10, n % 10), n as Seq + 1))
        .collect();
    assert_eq!(
        events
            .iter()
            .map(|e| (e.id.clone(), e.seq))
            .collect::<Vec<_>>(),
        want
    );
    assert_eq!(
        log.head(&tenant("a")).await.unwrap().epoch.as_deref(),
        Some(epoch)
    );
    let out = log
        .append(vec![supplied("a", "c-0-0"), supplied("a", "new")])
        .await
        .unwrap();
    assert_eq!((out[0].seq, out[0].duplicate, out[1].seq), (1, true, 31));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_get_distinct_gap_free_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Recorder::default());
    let log = Arc::new(open(dir.path(), seen.clone()));
    let tasks: Vec<_> = (0..50)
        .map(|task| {
            let log = log.clone();
            tokio::spawn(async move {
                let t = format!("t{}", task % 5);
                let mut got = Vec::new();
                for _ in 0..100 {
                    got.push(log.append(vec![draft(&t, "alert.created")]).await.unwrap()[0].seq);
                }
                (t, got)
            })
        })
        .collect();
    let mut per_tenant = std::collections::HashMap::<String, Vec<Seq>>::new();
    for task in tasks {
        let (t, got) = task.await.unwrap();
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "a task's seqs increase"
        );
        per_tenant.entry(t).or_default().extend(got);
    }
    for (t, mut got) in per_tenant {
        got.sort_unstable();
        assert_eq!(got, (1..=1000).collect::<Vec<_>>(), "tenant {t}");
        assert_eq!(all(&log, &t).await.len(), 1000);
    }
    settle(&*log).await;
    assert_eq!(seen.events().len(), 5000);
    seen.assert_gap_free();
    assert!(
        log.commits() < 5000,
        "{} commits for 5000 appends",
        log.commits()
    );
}

/// A listener that blocks (the writer thread) until opened, then records.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    seen: Recorder,
}

impl Gate {
    fn set(&self, open: bool) {
        *self.open.lock().unwrap() = open;
        self.opened.notify_all();
    }
}

impl CommitListener for Gate {
    fn committed(&self, events: Vec<Event>) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        drop(open);
        self.seen.committed(events);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_batches_concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    let log = Arc::new(open(dir.path(), gate.clone()));
    // The first append holds the writer in the listener while the others queue up.
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.append(alerts(&format!("t{}", i % 3), 2)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    gate.set(true);
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    settle(&*log).await;
    assert_eq!(gate.seen.events().len(), 100);
    gate.seen.assert_gap_free();
    assert!(
        log.commits() < 50,
        "{} commits for 50 appends",
        log.commits()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_do_not_wait_for_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    let log = Arc::new(open(dir.path(), gate.clone()));
    gate.set(true);
    log.append(alerts("a", 2)).await.unwrap();
    // The writer replies before it calls the listener: the gate closes only once it has, or
    // the writer would wait in the listener of this group and never reply to the next.
    settle(&*log).await;
    gate.set(false);
    // The writer replies to this append, then waits in the listener…
    let replied = log.append(alerts("a", 1)).await.unwrap();
    assert_eq!(replied[0].seq, 3);
    // …so this one waits behind it.
    let blocked = tokio::spawn({
        let log = log.clone();
        async move { log.append(alerts("a", 1)).await }
    });
    let reads = async {
        let events = all(&log, "a").await;
        let head = log.head(&tenant("a")).await.unwrap();
        let before = log.seq_before(&tenant("a"), i64::MAX).await.unwrap();
        (events.len(), head.seq, before)
    };
    let (n, head, before) = tokio::time::timeout(Duration::from_secs(10), reads)
        .await
        .unwrap();
    assert!(n >= 3 && head >= 3 && before >= 3);
    assert!(!blocked.is_finished());
    gate.set(true);
    assert_eq!(blocked.await.unwrap().unwrap()[0].seq, 4);
}

#[tokio::test]
async fn failed_commit_stores_nothing_and_skips_no_seq() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Recorder::default());
    let log = open(dir.path(), seen.clone());
    log.append(vec![supplied("a", "x"), draft("a", "x")])
        .await
        .unwrap();
    let head_a = log.head(&tenant("a")).await.unwrap();

    log.fail_next_commit();
    let failed = log
        .append(vec![
            draft("a", "x"),
            supplied("b", "y"),
            supplied("a", "z"),
        ])
        .await;
    assert!(
        matches!(failed, Err(LogError::Storage { .. })),
        "{failed:?}"
    );
    assert_eq!(log.head(&tenant("a")).await.unwrap(), head_a);
    assert_eq!(
        log.head(&tenant("b")).await.unwrap(),
        Head {
            seq: 0,
            epoch: None,
            first_retained: 1
        }
    );
    assert_eq!(all(&log, "a").await.len(), 2);
    settle(&log).await;
    assert_eq!(seen.events().len(), 2);

    let out = log
        .append(vec![supplied("a", "z"), supplied("b", "y")])
        .await
        .unwrap();
    assert_eq!(
        (out[0].seq, out[0].duplicate, out[1].seq, out[1].duplicate),
        (3, false, 1, false)
    );
    settle(&log).await;
    seen.assert_gap_free();
}

#[tokio::test]
async fn payload_bytes_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), Arc::new(NoListener));
    let raw = "{ \"z\" :1,\"a\":[1,  2.50, \"\\u00e9\u{e9}\"], \"n\":null }";
    let mut d = draft("a", "alert.created");
    d.payload = RawValue::from_string(raw.to_owned()).unwrap();
    log.append(vec![d]).await.unwrap();
    drop(log);
    let log = open(dir.path(), Arc::new(NoListener));
    assert_eq!(all(&log, "a").await[0].payload.get(), raw);
}

/// Throughput of the embedded log: batches of 100 events with ~200-byte payloads.
/// `cargo test -p socfeed-log --release -- --ignored --nocapture append_throughput`
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "prints a throughput figure"]
async fn append_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path(), Arc::new(NoListener)));
    let payload = format!(
        r#"{{"host":"srv-01","rule":"{}","score":97}}"#,
        "r".repeat(160)
    );
    let batch = move || -> Vec<_> {
        (0..100)
            .map(|_| {
                let mut d = draft("bench", "alert.created");
                d.payload = RawValue::from_string(payload.clone()).unwrap();
                d
            })
            .collect()
    };
    for writers in [1usize, 8] {
        let rounds = 200 / writers;
        let started = Instant::now();
        let commits = log.commits();
        let tasks: Vec<_> = (0..writers)
            .map(|_| {
                let (log, batch) = (log.clone(), batch.clone());
                tokio::spawn(async move {
                    for _ in 0..rounds {
                        log.append(batch()).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        let appends = (writers * rounds) as f64;
        println!(
            "{writers} writer(s): {:.0} appends/s ({:.0} events/s), {} commits for {appends} appends",
            appends / secs,
            appends * 100.0 / secs,
            log.commits() - commits,
        );
    }
}
