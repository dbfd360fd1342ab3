//! Following on real redis-servers: several instances on one Redis, the start position, lost
//! connections, lost messages, a crashed and restarted Redis, a flushed one and one restored to
//! an older state. Counts and order only, never timings.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use socfeed_proto::{EventDraft, Seq};
use socfeed_redis_harness::RedisServer;

use super::RedisLog;
use super::tests::follow;
use crate::conformance::{HANG_GUARD, Recorder, alerts, draft, supplied, tenant};
use crate::follow::{Flow, Following};
use crate::{Appended, EventLog};

async fn open(server: &RedisServer) -> (Arc<RedisLog>, Arc<Recorder>) {
    let seen = Arc::new(Recorder::default());
    let config = super::RedisConfig::new(server.url())
        .prefix("p")
        .retention(None)
        .timeout(Duration::from_secs(1));
    let log = RedisLog::open(config, seen.clone()).await.unwrap();
    (Arc::new(log), seen)
}

fn seqs_of(seen: &Recorder, t: &str) -> Vec<Seq> {
    seen.of(t).iter().map(|e| e.seq).collect()
}

/// Waits until `seen` has `n` events of `t`, then checks they are 1..=n in order.
async fn expect_all(seen: &Recorder, t: &str, n: Seq) {
    seen.wait_for(&format!("{n} events of {t}"), |s| s.of(t).len() as u64 >= n)
        .await;
    assert_eq!(seqs_of(seen, t), (1..=n).collect::<Vec<_>>());
}

async fn wait_flow(following: &Following, flow: Flow) {
    let mut rx = following.flow().unwrap();
    tokio::time::timeout(HANG_GUARD, rx.wait_for(|f| *f == flow))
        .await
        .unwrap_or_else(|_| panic!("the flow did not become {flow:?}"))
        .unwrap();
}

/// Retries an append until Redis takes it (the drafts have supplied ids: safe).
async fn append_until_ok(log: &RedisLog, drafts: Vec<EventDraft>) -> Vec<Appended> {
    for _ in 0..200 {
        match log.append(drafts.clone()).await {
            Ok(out) => return out,
            Err(e) => assert!(e.is_unreachable(), "{e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("Redis did not come back");
}

fn epoch_of(server: &RedisServer, log: &RedisLog, t: &str) -> Option<String> {
    server.query(
        ::redis::cmd("HGET")
            .arg(log.keys().head(&tenant(t)))
            .arg("epoch"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_gets_every_nodes_events_once_in_order_and_only_its_tenants() {
    let server = RedisServer::start();
    let (a, _) = open(&server).await;
    let (b, seen) = open(&server).await;
    let _following = follow(&b, "t").await;
    let writer_a = {
        let a = a.clone();
        tokio::spawn(async move {
            for _ in 0..100 {
                let mut batch = alerts("t", 5);
                batch.push(draft("u", "alert.created"));
                a.append(batch).await.unwrap();
            }
        })
    };
    let writer_b = {
        let b = b.clone();
        tokio::spawn(async move {
            for _ in 0..30 {
                b.append(alerts("t", 2)).await.unwrap();
            }
        })
    };
    writer_a.await.unwrap();
    writer_b.await.unwrap();
    assert_eq!(b.head(&tenant("t")).await.unwrap().seq, 560);
    expect_all(&seen, "t", 560).await;
    assert!(seen.of("u").is_empty());
    assert!(seen.timed() > 0, "deliveries carry their acceptance time");
    assert!(seen.resets().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_right_after_live_is_delivered() {
    let server = RedisServer::start();
    let (a, _) = open(&server).await;
    let (b, seen) = open(&server).await;
    // Tenants without history, each followed, live, then appended to at once.
    let mut followings = Vec::new();
    for i in 0..20 {
        let t = format!("new{i}");
        followings.push(follow(&b, &t).await);
        a.append(alerts(&t, 1)).await.unwrap();
        expect_all(&seen, &t, 1).await;
    }
    // A tenant with history: what came before the start position is not delivered.
    a.append(alerts("old", 3)).await.unwrap();
    let _old = follow(&b, "old").await;
    b.append(alerts("old", 1)).await.unwrap();
    seen.wait_for("seq 4", |s| !s.of("old").is_empty()).await;
    a.append(alerts("old", 1)).await.unwrap();
    seen.wait_for("seq 5", |s| s.of("old").len() >= 2).await;
    assert_eq!(seqs_of(&seen, "old"), [4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followings_are_counted_and_the_last_one_unsubscribes() {
    let server = RedisServer::start();
    let (a, _) = open(&server).await;
    let (b, seen) = open(&server).await;
    let first = follow(&b, "t").await;
    let second = follow(&b, "t").await;
    assert_eq!(b.followed(), 1);
    drop(first);
    a.append(alerts("t", 1)).await.unwrap();
    expect_all(&seen, "t", 1).await;
    drop(second);
    assert_eq!(b.followed(), 0);
    let channel = b.keys().live(&tenant("t"));
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    loop {
        let (_, subscribers): (String, u64) =
            server.query(::redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel));
        if subscribers == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still subscribed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Nobody follows: appends (own ones too) reach no listener.
    a.append(alerts("t", 1)).await.unwrap();
    b.append(alerts("t", 1)).await.unwrap();
    let _again = follow(&b, "t").await;
    a.append(alerts("t", 1)).await.unwrap();
    seen.wait_for("seq 4", |s| s.of("t").len() >= 2).await;
    assert_eq!(seqs_of(&seen, "t"), [1, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_connections_killed_in_a_loop_lose_nothing() {
    let server = Arc::new(RedisServer::start());
    let (a, _) = open(&server).await;
    let (b, seen) = open(&server).await;
    let _following = follow(&b, "t").await;
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU64::new(0));
    let killer = {
        let (server, stop, kills) = (server.clone(), stop.clone(), kills.clone());
        std::thread::spawn(move || {
            let mut conn = server.connection();
            while !stop.load(Ordering::SeqCst) {
                let killed: u64 = ::redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg("pubsub")
                    .query(&mut conn)
                    .unwrap();
                kills.fetch_add(killed, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    // One event per append, with pauses, so that the kills land all along.
    for i in 0..1000 {
        a.append(alerts("t", 1)).await.unwrap();
        if i % 5 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    // The last kill may land after the last append: keep killing until one was counted.
    seen.wait_for("a resubscription", |s| s.resubscribes() > 0)
        .await;
    stop.store(true, Ordering::SeqCst);
    killer.join().unwrap();
    assert!(kills.load(Ordering::SeqCst) > 0);
    expect_all(&seen, "t", 1000).await;
    assert!(seen.resets().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_messages_are_repaired_from_the_stream() {
    let server = RedisServer::start();
    let (muted, _) = open(&server).await;
    muted.mute_live();
    let (b, seen) = open(&server).await;
    let _following = follow(&b, "t").await;
    b.append(alerts("t", 1)).await.unwrap();
    expect_all(&seen, "t", 1).await;
    // Seq 2 comes from a node whose message is lost; seq 3 is this node's own: 2 is read
    // from the stream before 3 is delivered.
    muted.append(alerts("t", 1)).await.unwrap();
    b.append(alerts("t", 1)).await.unwrap();
    expect_all(&seen, "t", 3).await;
    assert_eq!(seen.repaired(), 1);
    // The last messages are lost and nothing comes after them: the head check finds them.
    muted.append(alerts("t", 2)).await.unwrap();
    muted.append(alerts("t", 1)).await.unwrap();
    expect_all(&seen, "t", 6).await;
    assert_eq!(seen.repaired(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_and_restart_while_following_lose_nothing_and_keep_the_epoch() {
    let server = RedisServer::start();
    let (a, _) = open(&server).await;
    let (b, seen) = open(&server).await;
    let following = follow(&b, "t").await;
    let first: Vec<_> = (0..10).map(|i| supplied("t", &format!("s{i}"))).collect();
    a.append(first).await.unwrap();
    expect_all(&seen, "t", 10).await;
    let epoch = epoch_of(&server, &a, "t");

    server.kill9();
    wait_flow(&following, Flow::Down).await;
    server.restart();
    let more: Vec<_> = (10..20).map(|i| supplied("t", &format!("s{i}"))).collect();
    let out = append_until_ok(&a, more).await;
    assert_eq!(out.last().map(|o| o.seq), Some(20));
    wait_flow(&following, Flow::Live).await;
    expect_all(&seen, "t", 20).await;
    assert_eq!(epoch_of(&server, &a, "t"), epoch);
    assert!(seen.resets().is_empty());
    assert!(seen.resubscribes() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_while_following_resets_and_the_new_epoch_starts_at_seq_1() {
    let server = RedisServer::start();
    let (a, _) = open(&server).await;
    let (b, seen) = open(&server).await;
    let _following = follow(&b, "t").await;
    a.append(alerts("t", 3)).await.unwrap();
    expect_all(&seen, "t", 3).await;
    let old = epoch_of(&server, &a, "t");
    server.flushall();
    a.append(alerts("t", 2)).await.unwrap();
    seen.wait_for("the new epoch", |s| s.of("t").len() >= 5)
        .await;
    let resets = seen.resets();
    assert_eq!(resets, [(tenant("t"), 3)]);
    assert_eq!(seqs_of(&seen, "t"), [1, 2, 3, 1, 2]);
    assert_ne!(epoch_of(&server, &a, "t"), old);
}

/// Copies the files of `from` into `to` (created).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restored_to_an_older_state_gets_a_new_epoch() {
    let server = RedisServer::start();
    let (a, _) = open(&server).await;
    let (b, seen) = open(&server).await;
    let _following = follow(&b, "t").await;
    a.append(alerts("t", 10)).await.unwrap();
    expect_all(&seen, "t", 10).await;
    let old = epoch_of(&server, &a, "t");
    let aof = server.dir().join("appendonlydir");
    let backup = tempfile::tempdir().unwrap();
    copy_dir(&aof, backup.path());
    a.append(alerts("t", 10)).await.unwrap();
    expect_all(&seen, "t", 20).await;

    server.kill9();
    std::fs::remove_dir_all(&aof).unwrap();
    copy_dir(backup.path(), &aof);
    server.restart();
    // The follower saw seq 20 of the epoch, Redis has 10: the epoch is renewed.
    seen.wait_for("a reset", |s| !s.resets().is_empty()).await;
    assert_eq!(seen.resets(), [(tenant("t"), 20)]);
    let head = b.head(&tenant("t")).await.unwrap();
    assert_eq!(head.seq, 10);
    assert!(head.epoch.is_some());
    assert_ne!(head.epoch, old);
    let out = append_until_ok(&a, vec![supplied("t", "after")]).await;
    assert_eq!(out[0].seq, 11);
    seen.wait_for("seq 11", |s| s.of("t").len() >= 21).await;
    assert_eq!(seen.of("t")[20].seq, 11);
    assert_eq!(b.head(&tenant("t")).await.unwrap().epoch, head.epoch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_events_no_longer_retained_are_skipped_with_a_reset() {
    let server = RedisServer::start();
    let (muted, _) = open(&server).await;
    muted.mute_live();
    let (b, seen) = open(&server).await;
    let _following = follow(&b, "t").await;
    b.append(alerts("t", 1)).await.unwrap();
    expect_all(&seen, "t", 1).await;
    muted.append(alerts("t", 3)).await.unwrap();
    // As a trim would: seqs 2 and 3 leave the stream before the follower reads them.
    server.query::<()>(
        ::redis::cmd("XDEL")
            .arg(b.keys().log(&tenant("t")))
            .arg("2-0")
            .arg("3-0"),
    );
    b.append(alerts("t", 1)).await.unwrap();
    seen.wait_for("seq 5", |s| s.of("t").len() >= 3).await;
    assert_eq!(seqs_of(&seen, "t"), [1, 4, 5]);
    assert_eq!(seen.resets(), [(tenant("t"), 1)]);
    assert_eq!(seen.repaired(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_works_over_resp2_too() {
    let server = RedisServer::start();
    let (a, _) = open(&server).await;
    let seen = Arc::new(Recorder::default());
    let config = super::RedisConfig::new(format!("{}?protocol=resp2", server.url()))
        .prefix("p")
        .retention(None);
    let b = RedisLog::open(config, seen.clone()).await.unwrap();
    let _following = follow(&b, "t").await;
    a.append(alerts("t", 2)).await.unwrap();
    b.append(alerts("t", 1)).await.unwrap();
    expect_all(&seen, "t", 3).await;
}
