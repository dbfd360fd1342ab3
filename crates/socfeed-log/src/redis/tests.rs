//! Redis-only tests, each on a private redis-server: crashes and restarts from the AOF, lost
//! history, several instances on one Redis, isolation, durability checks, a frozen Redis,
//! retention, channel reads, the stored record and the live messages.

use std::sync::Arc;
use std::time::Duration;

use socfeed_proto::{Event, Seq};
use socfeed_redis_harness::RedisServer;

use super::{DurabilityError, DurabilityMode, RedisConfig, RedisLog, parse_live};
use crate::conformance::{HANG_GUARD, Recorder, alerts, draft, supplied, tenant};
use crate::follow::Following;
use crate::{EventLog, LogError, now_ms};

fn config(server: &RedisServer, prefix: &str) -> RedisConfig {
    RedisConfig::new(server.url())
        .prefix(prefix)
        .retention(None)
}

async fn open(server: &RedisServer, prefix: &str) -> (RedisLog, Arc<Recorder>) {
    let seen = Arc::new(Recorder::default());
    let log = RedisLog::open(config(server, prefix), seen.clone())
        .await
        .unwrap();
    (log, seen)
}

async fn all(log: &RedisLog, t: &str) -> Vec<Event> {
    log.read(&tenant(t), 0, Seq::MAX, None, usize::MAX)
        .await
        .unwrap()
}

fn fingerprint(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect()
}

/// A stream entry as XRANGE returns it: id and (field, value) pairs.
type RawEntry = (String, Vec<(String, Vec<u8>)>);

fn seqs(events: &[Event]) -> Vec<Seq> {
    events.iter().map(|e| e.seq).collect()
}

/// Follows `t` on `log` and waits until its flow is live.
pub(crate) async fn follow(log: &RedisLog, t: &str) -> Following {
    let following = log.follow(&tenant(t));
    crate::follow::live(following.flow(), HANG_GUARD)
        .await
        .unwrap();
    following
}

/// Retries an append of drafts with supplied ids until Redis takes it (safe: they dedup).
async fn append_until_ok(
    log: &RedisLog,
    drafts: Vec<socfeed_proto::EventDraft>,
) -> Vec<crate::Appended> {
    for _ in 0..100 {
        match log.append(drafts.clone()).await {
            Ok(out) => return out,
            Err(e) => assert!(e.is_unreachable(), "{e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("Redis did not come back");
}

#[tokio::test]
async fn kill9_and_restart_from_the_aof_lose_nothing_acknowledged() {
    let server = RedisServer::start();
    let (log, _) = open(&server, "p").await;
    for i in 0..5 {
        log.append(vec![
            supplied("a", &format!("s{i}")),
            draft("a", "case.updated"),
            draft("b", "alert.created"),
        ])
        .await
        .unwrap();
    }
    let (before_a, before_b) = (all(&log, "a").await, all(&log, "b").await);
    let head_a = log.head(&tenant("a")).await.unwrap();
    assert_eq!(head_a.seq, 10);

    server.kill9();
    let down = log.append(alerts("a", 1)).await.unwrap_err();
    assert!(down.is_unreachable(), "{down:?}");
    server.restart();

    // A new node and the old one (reconnecting by itself) see the same history.
    let (fresh, _) = open(&server, "p").await;
    for node in [&fresh, &log] {
        let out = append_until_ok(node, vec![supplied("a", "s0")]).await;
        assert_eq!((out[0].seq, out[0].duplicate), (1, true));
        assert_eq!(fingerprint(&all(node, "a").await), fingerprint(&before_a));
        assert_eq!(fingerprint(&all(node, "b").await), fingerprint(&before_b));
        assert_eq!(node.head(&tenant("a")).await.unwrap(), head_a);
    }
    let out = fresh.append(vec![draft("a", "x")]).await.unwrap();
    assert_eq!(out[0].seq, 11);
}

#[tokio::test]
async fn a_flushed_history_gets_a_new_epoch_and_starts_again() {
    let server = RedisServer::start();
    let (log, _) = open(&server, "p").await;
    log.append(alerts("a", 3)).await.unwrap();
    let old = log.head(&tenant("a")).await.unwrap().epoch.unwrap();
    server.flushall();
    let head = log.head(&tenant("a")).await.unwrap();
    assert_eq!((head.seq, head.epoch, head.first_retained), (0, None, 1));
    let out = log.append(alerts("a", 1)).await.unwrap();
    assert_eq!(out[0].seq, 1);
    let new = log.head(&tenant("a")).await.unwrap().epoch.unwrap();
    assert_ne!(new, old);
    // The registry was flushed too; the new history is registered again for purges.
    let cut = now_ms() + 60_000;
    assert_eq!(log.purge_before(cut).await.unwrap(), 1);
}

#[tokio::test]
async fn a_lost_head_drops_the_leftovers_of_its_history() {
    let server = RedisServer::start();
    let (log, _) = open(&server, "p").await;
    log.append(vec![supplied("a", "x"), draft("a", "y")])
        .await
        .unwrap();
    // As an eviction would: the head goes, the stream and ids stay.
    server.query::<()>(::redis::cmd("DEL").arg(log.keys().head(&tenant("a"))));
    let out = log.append(vec![supplied("a", "x")]).await.unwrap();
    assert_eq!((out[0].seq, out[0].duplicate), (1, false));
    assert_eq!(seqs(&all(&log, "a").await), [1]);
    assert_eq!(all(&log, "a").await[0].id, "x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_redis_share_one_gap_free_sequence() {
    let server = RedisServer::start();
    let (one, seen_one) = open(&server, "p").await;
    let (two, seen_two) = open(&server, "p").await;
    let (_f1, _f2) = (follow(&one, "a").await, follow(&two, "a").await);
    let (one, two) = (Arc::new(one), Arc::new(two));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let node = if i % 2 == 0 { one.clone() } else { two.clone() };
        tasks.push(tokio::spawn(async move {
            node.append(alerts("a", 5)).await.unwrap()
        }));
    }
    let mut got: Vec<Seq> = Vec::new();
    for task in tasks {
        got.extend(task.await.unwrap().iter().map(|o| o.seq));
    }
    got.sort_unstable();
    assert_eq!(got, (1..=200).collect::<Vec<_>>());
    assert_eq!(seqs(&all(&one, "a").await), got);
    // Each node's listener saw every event, its own and the other's, once, in seq order.
    for seen in [seen_one, seen_two] {
        seen.wait_for("200 events", |s| s.events().len() >= 200)
            .await;
        assert_eq!(seqs(&seen.events()), got);
    }
}

#[tokio::test]
async fn a_publisher_id_repeated_on_another_node_is_a_duplicate() {
    let server = RedisServer::start();
    let (one, _) = open(&server, "p").await;
    let (two, seen_two) = open(&server, "p").await;
    let _following = follow(&two, "a").await;
    let out = one.append(vec![supplied("a", "evt-1")]).await.unwrap();
    assert_eq!((out[0].seq, out[0].duplicate), (1, false));
    let out = two
        .append(vec![supplied("a", "evt-1"), supplied("a", "evt-2")])
        .await
        .unwrap();
    assert_eq!((out[0].seq, out[0].duplicate), (1, true));
    assert_eq!((out[1].seq, out[1].duplicate), (2, false));
    // The duplicate is not delivered again.
    seen_two
        .wait_for("2 events", |s| s.events().len() >= 2)
        .await;
    assert_eq!(seqs(&seen_two.events()), [1, 2]);
}

#[tokio::test]
async fn prefixes_on_one_redis_are_isolated() {
    let server = RedisServer::start();
    let (p1, _) = open(&server, "one").await;
    let (p2, _) = open(&server, "one:two").await;
    p1.append(vec![supplied("a", "same"), draft("a", "x")])
        .await
        .unwrap();
    let out = p2.append(vec![supplied("a", "same")]).await.unwrap();
    assert_eq!((out[0].seq, out[0].duplicate), (1, false));
    assert_eq!(all(&p1, "a").await.len(), 2);
    assert_eq!(all(&p2, "a").await.len(), 1);
    assert_ne!(
        p1.head(&tenant("a")).await.unwrap().epoch,
        p2.head(&tenant("a")).await.unwrap().epoch
    );
    // A purge under one prefix leaves the other alone.
    assert_eq!(p2.purge_before(now_ms() + 60_000).await.unwrap(), 1);
    assert_eq!(all(&p1, "a").await.len(), 2);
    let keys: Vec<String> = server.query(::redis::cmd("KEYS").arg("*"));
    assert!(keys.iter().all(|k| k.starts_with("one:")), "{keys:?}");
}

#[tokio::test]
async fn strict_durability_refuses_a_redis_that_does_not_fsync() {
    let durable = RedisServer::start();
    let (log, _) = open(&durable, "p").await;
    let report = log.check_durability(true).await.unwrap();
    assert_eq!(report.mode, DurabilityMode::FsyncAlways);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    for (name, value) in [("appendonly", "no"), ("appendfsync", "everysec")] {
        let loose = RedisServer::builder().config(name, value).start();
        let (log, _) = open(&loose, "p").await;
        let err = log.check_durability(true).await.unwrap_err();
        assert!(matches!(err, DurabilityError::NotDurable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&format!("{name} {value}")), "{text}");
        assert!(
            text.contains(&format!("Redis at 127.0.0.1:{}", loose.port())),
            "{text}"
        );
        assert!(
            text.contains("`appendonly yes` and `appendfsync always`"),
            "{text}"
        );
        let relaxed = log.check_durability(false).await.unwrap();
        assert_eq!(relaxed.mode, DurabilityMode::InMemory);
        assert!(
            relaxed.warnings[0].contains("relaxed"),
            "{:?}",
            relaxed.warnings
        );
        // Relaxed still works.
        assert_eq!(log.append(alerts("a", 1)).await.unwrap()[0].seq, 1);
    }
}

#[tokio::test]
async fn appends_waiting_for_waitaof_are_acknowledged_only_once_it_confirms() {
    let server = RedisServer::start();
    let (log, seen) = open(&server, "p").await;
    let _following = follow(&log, "a").await;
    log.wait_for_aof();
    let known: ::redis::Value = server.query(::redis::cmd("COMMAND").arg("INFO").arg("WAITAOF"));
    let has_waitaof = matches!(&known, ::redis::Value::Array(v) if v.first().is_some_and(|c| *c != ::redis::Value::Nil));
    // Redis forgot the script (as after a restart): it is loaded and the pair sent again.
    server.query::<()>(::redis::cmd("SCRIPT").arg("FLUSH"));
    let out = log.append(vec![supplied("a", "w")]).await;
    if has_waitaof {
        assert_eq!(out.unwrap()[0].seq, 1);
    } else {
        // Redis < 7.2: the script ran, the fsync cannot be confirmed, so the outcome is
        // unknown to the caller. The event is in Redis all the same: readers see it, and
        // followers get it from its live message, as they would from any node.
        let err = out.unwrap_err();
        assert!(err.is_uncertain(), "{err:?}");
    }
    assert_eq!(seqs(&all(&log, "a").await), [1]);
    seen.wait_for("the event", |s| !s.events().is_empty()).await;
    assert_eq!(seqs(&seen.events()), [1]);
}

#[tokio::test]
async fn a_frozen_redis_fails_calls_within_the_timeout_and_retries_are_safe() {
    let server = RedisServer::start();
    let seen = Arc::new(Recorder::default());
    let config = config(&server, "p").timeout(Duration::from_secs(1));
    let log = RedisLog::open(config, seen.clone()).await.unwrap();
    log.append(vec![supplied("a", "first")]).await.unwrap();

    server.pause();
    let attempt = tokio::time::timeout(HANG_GUARD, log.append(vec![supplied("a", "evt")]))
        .await
        .expect("an append to a frozen Redis must not hang");
    let err = attempt.unwrap_err();
    assert!(err.is_uncertain(), "{err:?}");
    let read = tokio::time::timeout(HANG_GUARD, log.head(&tenant("a")))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(read, LogError::Unavailable { .. }), "{read:?}");
    assert!(!tokio::time::timeout(HANG_GUARD, log.ready()).await.unwrap());
    server.resume();

    // The uncertain append may have run once Redis woke up: the retry tells, and stores once.
    let out = append_until_ok(&log, vec![supplied("a", "evt")]).await;
    assert_eq!(out[0].seq, 2);
    let stored = all(&log, "a").await;
    assert_eq!(stored.iter().filter(|e| e.id == "evt").count(), 1);
    assert_eq!(seqs(&stored), [1, 2]);
    assert!(log.ready().await);
}

#[tokio::test]
async fn nothing_listening_is_unavailable_at_open() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config =
        RedisConfig::new(format!("redis://127.0.0.1:{port}/")).timeout(Duration::from_millis(500));
    let err = tokio::time::timeout(
        HANG_GUARD,
        RedisLog::open(config, Arc::new(crate::NoListener)),
    )
    .await
    .unwrap()
    .err()
    .unwrap();
    assert!(matches!(err, LogError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_lazy_log_starts_while_redis_is_down_and_serves_once_it_is_up() {
    let server = RedisServer::start();
    server.kill9();
    let config = config(&server, "p").timeout(Duration::from_millis(500));
    let log = RedisLog::open_lazy(config, Arc::new(crate::NoListener)).unwrap();
    assert!(!log.ready().await);
    let err = log.append(vec![supplied("a", "x")]).await.unwrap_err();
    assert!(matches!(err, LogError::Unavailable { .. }), "{err:?}");
    server.restart();
    let out = append_until_ok(&log, vec![supplied("a", "x")]).await;
    assert_eq!((out[0].seq, out[0].duplicate), (1, false));
    assert!(log.ready().await);
}

#[tokio::test]
async fn appends_trim_events_older_than_the_retention() {
    let server = RedisServer::start();
    let mut config = config(&server, "p").retention(Some(Duration::from_secs(60)));
    config.trim_budget = 2;
    let log = RedisLog::open(config, Arc::new(crate::NoListener))
        .await
        .unwrap();
    let t = tenant("a");
    let start = now_ms();
    log.append(vec![
        supplied("a", "old"),
        draft("a", "x"),
        draft("a", "x"),
        draft("a", "x"),
        draft("a", "x"),
    ])
    .await
    .unwrap();
    let ttl: i64 = server.query(::redis::cmd("PTTL").arg(log.keys().log(&t)));
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
    // Two minutes pass for the tenant: ingest times never go back, so the next appends are
    // ingested two minutes on (no sleeping).
    server.query::<()>(
        ::redis::cmd("HSET")
            .arg(log.keys().head(&t))
            .arg("ms")
            .arg(start + 120_000),
    );
    // Bounded work: each append removes at most the budget (2) from the front.
    log.append(alerts("a", 1)).await.unwrap();
    assert_eq!(log.head(&t).await.unwrap().first_retained, 3);
    log.append(alerts("a", 1)).await.unwrap();
    assert_eq!(log.head(&t).await.unwrap().first_retained, 5);
    // A purge finishes the job; the trimmed id is forgotten, seqs go on.
    assert_eq!(log.purge_before(start + 60_000).await.unwrap(), 1);
    assert_eq!(seqs(&all(&log, "a").await), [6, 7]);
    let out = log.append(vec![supplied("a", "old")]).await.unwrap();
    assert_eq!((out[0].seq, out[0].duplicate), (8, false));
    let head = log.head(&t).await.unwrap();
    assert_eq!((head.seq, head.first_retained), (8, 6));
    assert_eq!(log.seq_before(&t, start + 60_000).await.unwrap(), 5);
}

#[tokio::test]
async fn channel_reads_page_through_the_index() {
    let server = RedisServer::start();
    let (log, _) = open(&server, "p").await;
    let batch: Vec<_> = (0..1500)
        .map(|i| {
            draft(
                "a",
                if i % 3 == 0 {
                    "alert.created"
                } else {
                    "case.new"
                },
            )
        })
        .collect();
    log.append(batch).await.unwrap();
    let t = tenant("a");
    let alerts = socfeed_proto::Channel::parse("alerts").unwrap();
    let got = log
        .read(&t, 0, Seq::MAX, Some(&alerts), usize::MAX)
        .await
        .unwrap();
    assert_eq!(seqs(&got), (1..=1500).step_by(3).collect::<Vec<_>>());
    let got = log.read(&t, 100, 1000, Some(&alerts), 200).await.unwrap();
    assert_eq!(got.len(), 200);
    assert_eq!(got[0].seq, 103);
    assert!(got.iter().all(|e| e.event_type == "alert.created"));
    assert_eq!(
        log.read(&t, 0, Seq::MAX, None, 1200).await.unwrap().len(),
        1200
    );
    assert_eq!(
        seqs(&log.read(&t, 1498, Seq::MAX, None, 10).await.unwrap()),
        [1499, 1500]
    );
}

#[tokio::test]
async fn the_record_is_the_event_json_with_ingest_time_and_flags() {
    let server = RedisServer::start();
    let (log, _) = open(&server, "p").await;
    let before = now_ms();
    log.append(vec![supplied("a", "pub-1"), draft("a", "case.new")])
        .await
        .unwrap();
    let stored = all(&log, "a").await;
    let entries: Vec<RawEntry> = server.query(
        ::redis::cmd("XRANGE")
            .arg(log.keys().log(&tenant("a")))
            .arg("-")
            .arg("+"),
    );
    assert_eq!(entries.len(), 2);
    for ((id, fields), event) in entries.iter().zip(&stored) {
        assert_eq!(id, &format!("{}-0", event.seq));
        let field = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(field("ev").unwrap(), serde_json::to_vec(event).unwrap());
        let ms: i64 = String::from_utf8(field("ms").unwrap())
            .unwrap()
            .parse()
            .unwrap();
        assert!(ms >= before - 1000, "{ms} vs {before}");
        let sup = if event.id == "pub-1" { b"1" } else { b"0" };
        assert_eq!(field("sup").unwrap(), sup);
    }
}

#[tokio::test]
async fn every_new_event_is_published_with_its_epoch() {
    let server = RedisServer::start();
    let (log, _) = open(&server, "p").await;
    let channel = log.keys().live(&tenant("a"));
    let mut sub = server.connection();
    let (tx, rx) = std::sync::mpsc::channel();
    let ready = std::sync::Arc::new(std::sync::Barrier::new(2));
    let listening = ready.clone();
    let thread = std::thread::spawn(move || {
        let mut pubsub = sub.as_pubsub();
        pubsub.subscribe(&channel).unwrap();
        pubsub
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        listening.wait();
        for _ in 0..2 {
            let msg = pubsub.get_message().unwrap();
            tx.send(msg.get_payload_bytes().to_vec()).unwrap();
        }
    });
    ready.wait();
    log.append(vec![
        supplied("a", "x"),
        supplied("a", "x"),
        draft("a", "case.new"),
    ])
    .await
    .unwrap();
    thread.join().unwrap();
    let epoch = log.head(&tenant("a")).await.unwrap().epoch.unwrap();
    let stored = all(&log, "a").await;
    let live: Vec<_> = rx.try_iter().map(|m| parse_live(&m).unwrap()).collect();
    assert_eq!(live.len(), 2);
    for (l, e) in live.iter().zip(&stored) {
        assert_eq!(l.epoch, epoch);
        // The append's Redis TIME, in µs: within a minute of this clock.
        let us = l.accepted_us.unwrap();
        assert!((us / 1000 - now_ms()).abs() < 60_000, "{us}");
        assert_eq!(
            serde_json::to_string(&l.event).unwrap(),
            serde_json::to_string(e).unwrap()
        );
    }
    assert_eq!(
        log.keys().tenant_of_live(&log.keys().live(&tenant("a"))),
        Some(tenant("a"))
    );
}

#[tokio::test]
async fn renew_epoch_replaces_only_the_epoch_it_was_told() {
    let server = RedisServer::start();
    let (log, _) = open(&server, "p").await;
    let t = tenant("a");
    assert_eq!(log.renew_epoch(&t, "x", "y").await.unwrap(), None);
    log.append(alerts("a", 2)).await.unwrap();
    let e1 = log.head(&t).await.unwrap().epoch.unwrap();
    let fresh = crate::sequencer::new_epoch();
    assert_eq!(
        log.renew_epoch(&t, "not-it", &fresh).await.unwrap(),
        Some(e1.clone())
    );
    assert_eq!(
        log.renew_epoch(&t, &e1, &fresh).await.unwrap(),
        Some(fresh.clone())
    );
    let head = log.head(&t).await.unwrap();
    assert_eq!((head.seq, head.epoch), (2, Some(fresh.clone())));
    assert_eq!(log.append(alerts("a", 1)).await.unwrap()[0].seq, 3);
    // A second renewal from the same stale view changes nothing.
    let other = crate::sequencer::new_epoch();
    assert_eq!(log.renew_epoch(&t, &e1, &other).await.unwrap(), Some(fresh));
}

#[tokio::test]
async fn a_stream_ahead_of_its_head_is_refused_and_left_untouched() {
    let server = RedisServer::start();
    let (log, seen) = open(&server, "p").await;
    let _following = follow(&log, "b").await;
    log.append(alerts("b", 3)).await.unwrap();
    seen.wait_for("3 events", |s| s.events().len() >= 3).await;
    server.query::<()>(
        ::redis::cmd("HSET")
            .arg(log.keys().head(&tenant("b")))
            .arg("seq")
            .arg(1),
    );
    // Tenant a is stored; b is refused before any write; the caller cannot tell the whole
    // batch's outcome, so it is uncertain.
    let err = log
        .append(vec![draft("a", "x"), draft("b", "x")])
        .await
        .unwrap_err();
    assert!(err.is_uncertain(), "{err:?}");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.starts_with("storage failed"), "{source}");
    assert_eq!(seqs(&all(&log, "a").await), [1]);
    assert_eq!(seqs(&all(&log, "b").await), [1, 2, 3]);
    let b: Vec<Seq> = seen
        .events()
        .iter()
        .filter(|e| e.tenant_id.as_str() == "b")
        .map(|e| e.seq)
        .collect();
    assert_eq!(b, [1, 2, 3]);
    let alone = log.append(vec![draft("b", "x")]).await.unwrap_err();
    assert!(matches!(alone, LogError::Storage { .. }), "{alone:?}");
}

/// `cargo test -p socfeed-log --release -- --ignored --nocapture redis_append_throughput`
///
/// Each figure twice: with nobody following the tenants, then with this instance following
/// them (its own appends and their live messages go through its followers to the listener).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "prints a throughput figure"]
async fn redis_append_throughput() {
    let server = RedisServer::start();
    let (log, seen) = open(&server, "bench").await;
    let log = Arc::new(log);
    let payload = format!(
        r#"{{"host":"srv-01","rule":"{}","score":97}}"#,
        "r".repeat(160)
    );
    let batch = move |t: &str| -> Vec<_> {
        (0..100)
            .map(|_| {
                let mut d = draft(t, "alert.created");
                d.payload = serde_json::value::RawValue::from_string(payload.clone()).unwrap();
                d
            })
            .collect()
    };
    for followed in [false, true] {
        for (writers, tenants) in [(1usize, 1usize), (8, 1), (8, 8)] {
            let rounds = 200 / writers;
            let names: Vec<String> = (0..tenants)
                .map(|i| format!("bench-{followed}-{writers}-{i}"))
                .collect();
            let mut followings = Vec::new();
            if followed {
                for t in &names {
                    followings.push(follow(&log, t).await);
                }
            }
            let before = seen.events().len();
            let started = std::time::Instant::now();
            let tasks: Vec<_> = (0..writers)
                .map(|w| {
                    let (log, batch) = (log.clone(), batch.clone());
                    let t = names[w % tenants].clone();
                    tokio::spawn(async move {
                        for _ in 0..rounds {
                            log.append(batch(&t)).await.unwrap();
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            let secs = started.elapsed().as_secs_f64();
            let appends = (writers * rounds) as f64;
            if followed {
                let total = before + writers * rounds * 100;
                seen.wait_for("every event", |s| s.events().len() >= total)
                    .await;
                assert_eq!(seen.events().len(), total);
            }
            println!(
                "{} {writers} writer(s), {tenants} tenant(s): {:.0} appends/s ({:.0} events/s)",
                if followed {
                    "followed:  "
                } else {
                    "unfollowed:"
                },
                appends / secs,
                appends * 100.0 / secs,
            );
        }
    }
}
