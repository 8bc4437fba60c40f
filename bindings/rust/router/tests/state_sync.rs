//! Replica state sync through the safe API: two replicas loaded from one
//! saved LinUCB router, each getting half of the feedback, sync through a
//! memory store and then estimate every model as a router that got all of
//! it does.

use std::fs;
use std::path::PathBuf;

use router::{status, RouteOptions, Router};

const WORDS: [&str; 16] = [
    "python", "function", "code", "bug", "compile", "segfault", "debug", "pointer", "poem",
    "story", "rhyme", "novel", "verse", "stanza", "sonnet", "haiku",
];

/// A LinUCB router fitted on two topics and saved, in a fresh directory.
/// Scores stop short of 0 and 1, so that estimates move with feedback rather
/// than sit at the ends of [0, 1].
fn saved_linucb(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("librouter_rs_sync_{}_{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    for row in 0..160usize {
        let (offset, coder) = if row % 2 == 0 { (0, 0.7) } else { (8, 0.3) };
        let prompt = [row, row * 3 + 1, row * 5 + 2]
            .map(|i| WORDS[offset + i % 8])
            .join(" ");
        text += &format!(
            "{{\"id\": \"r{row}\", \"prompt\": \"{prompt}\", \
             \"scores\": {{\"coder\": {coder}, \"writer\": {}}}, \
             \"costs\": {{\"coder\": 0.001, \"writer\": 0.001}}}}\n",
            1.0 - coder
        );
    }
    let data = dir.join("data.jsonl");
    fs::write(&data, text).unwrap();
    let path = dir.join("linucb.router");
    Router::from_dataset(&data, Some(r#"{"router": "linucb"}"#))
        .unwrap()
        .save(&path)
        .unwrap();
    path
}

/// Options of replica `id` on a memory store named for this test and
/// process (memory stores are process-wide).
fn options(test: &str, id: &str, extra: &str) -> String {
    format!(
        r#"{{"replica_id": "{id}", "store": "memory:rs-{}-{test}"{extra}}}"#,
        std::process::id()
    )
}

/// The largest difference between two routers' estimates of every model.
fn max_difference(a: &Router, b: &Router) -> f64 {
    let mut worst = 0.0f64;
    for prompt in [
        "fix this python bug",
        "a sonnet with rhyme",
        "debug a pointer",
        "a haiku",
    ] {
        for model in ["coder", "writer"] {
            let options = RouteOptions {
                allowed_models: vec![model.into()],
                ..Default::default()
            };
            let x = a.route_text_with(prompt, &options).unwrap().quality();
            let y = b.route_text_with(prompt, &options).unwrap().quality();
            worst = worst.max((x - y).abs());
        }
    }
    worst
}

#[test]
fn two_replicas_converge() {
    let saved = saved_linucb("converge");
    let a = Router::load(&saved).unwrap();
    let b = Router::load(&saved).unwrap();
    let reference = Router::load(&saved).unwrap();
    let sync_a = a
        .start_sync(&options("converge", "a", r#", "interval_ms": 0"#))
        .unwrap();
    let sync_b = b
        .start_sync(&options("converge", "b", r#", "interval_ms": 0"#))
        .unwrap();
    for i in 0..20usize {
        let prompt = [i, i * 3, i * 7].map(|k| WORDS[k % 16]).join(" ");
        let vector = reference.embed_text(&prompt).unwrap();
        let model = ["coder", "writer"][i % 2];
        let score = [1.0, 0.25, 0.0][i % 3];
        let replica = if i % 2 == 0 { &a } else { &b };
        replica
            .feedback_vector(&vector, model, score, 0.001)
            .unwrap();
        reference
            .feedback_vector(&vector, model, score, 0.001)
            .unwrap();
    }
    assert!(max_difference(&a, &reference) > 1e-6);
    sync_a.now().unwrap();
    sync_b.now().unwrap();
    sync_a.now().unwrap();
    assert!(max_difference(&a, &reference) <= 1e-9);
    assert!(max_difference(&b, &reference) <= 1e-9);

    let s = sync_a.status().unwrap();
    assert_eq!(s.replica_id, "a");
    assert!(s.store.starts_with("memory:rs-"), "{}", s.store);
    assert!(s.connected);
    assert_eq!(
        (s.rounds, s.failed_rounds, s.published, s.applied),
        (3, 0, 2, 2)
    );
    assert_eq!((s.rejected, s.replicas), (0, 2));
    assert!(s.lag_ms >= 0);
    assert_eq!(s.last_error, "");
    assert!(sync_b.status_json().unwrap().contains("\"applied\":2"));

    // One sync per router.
    let error = a.start_sync(&options("converge", "a2", "")).unwrap_err();
    assert_eq!(error.status(), status::FAILED_PRECONDITION);

    sync_a.stop();
    drop(sync_b);
    // A router syncs once.
    let error = a.start_sync(&options("converge", "a", "")).unwrap_err();
    assert_eq!(error.status(), status::FAILED_PRECONDITION);
    // Stopped: the routers keep what they learned.
    assert!(max_difference(&a, &reference) <= 1e-9);
}

#[test]
fn a_retired_replica_stays_counted() {
    let saved = saved_linucb("retire");
    let a = Router::load(&saved).unwrap();
    let b = Router::load(&saved).unwrap();
    let reference = Router::load(&saved).unwrap();
    let sync_a = a
        .start_sync(&options("retire", "a", r#", "interval_ms": 0"#))
        .unwrap();
    let sync_b = b
        .start_sync(&options("retire", "b", r#", "interval_ms": 0"#))
        .unwrap();
    for i in 0..12usize {
        let prompt = [i, i * 5].map(|k| WORDS[k % 16]).join(" ");
        let vector = reference.embed_text(&prompt).unwrap();
        let model = ["coder", "writer"][i % 2];
        let score = [1.0, 0.0][i % 2];
        let replica = if i < 6 { &a } else { &b };
        for r in [replica, &reference] {
            r.feedback_vector(&vector, model, score, 0.001).unwrap();
        }
    }
    sync_a.now().unwrap();
    // b publishes its feedback in Retire's last round, then folds its row.
    sync_b.retire().unwrap();
    assert_eq!(
        sync_b.now().unwrap_err().status(),
        status::FAILED_PRECONDITION
    );
    sync_a.now().unwrap();
    assert_eq!(sync_a.status().unwrap().replicas, 1); // b's row is gone
    assert!(max_difference(&a, &reference) <= 1e-9);
}

#[test]
fn the_row_of_a_replica_gone_is_folded() {
    let saved = saved_linucb("fold");
    let a = Router::load(&saved).unwrap();
    let c = Router::load(&saved).unwrap();
    let reference = Router::load(&saved).unwrap();
    let sync_a = a
        .start_sync(&options("fold", "a", r#", "interval_ms": 0"#))
        .unwrap();
    {
        let _sync_c = c
            .start_sync(&options("fold", "c", r#", "interval_ms": 0"#))
            .unwrap();
        for i in 0..8usize {
            let prompt = [i, i * 3].map(|k| WORDS[k % 16]).join(" ");
            let vector = reference.embed_text(&prompt).unwrap();
            let model = ["coder", "writer"][i % 2];
            let score = [1.0, 0.0][i % 2];
            for r in [&c, &reference] {
                r.feedback_vector(&vector, model, score, 0.001).unwrap();
            }
        }
    } // c stops without retiring: its row stays and counts
    sync_a.now().unwrap();
    let before = sync_a.status().unwrap();
    assert_eq!(before.replicas, 2);
    assert_eq!(before.rows.len(), 1); // c's row, the one to fold
    assert_eq!(before.rows[0].replica, "c");
    assert!(before.rows[0].unchanged_ms >= 0);
    assert_eq!(
        sync_a.fold("nobody").unwrap_err().status(),
        status::NOT_FOUND
    );
    assert_eq!(
        sync_a.fold("a").unwrap_err().status(),
        status::INVALID_ARGUMENT
    );
    sync_a.fold("c").unwrap();
    sync_a.now().unwrap();
    let after = sync_a.status().unwrap();
    assert_eq!(after.replicas, 1); // c's row is gone
    assert!(after.rows.is_empty());
    assert!(max_difference(&a, &reference) <= 1e-9);
}

#[test]
fn refused_options() {
    let router = Router::load(saved_linucb("refused")).unwrap();
    let store = format!("memory:rs-{}-refused", std::process::id());
    for (options, named) in [
        (format!(r#"{{"store": "{store}"}}"#), "replica_id"),
        (r#"{"replica_id": "a"}"#.to_string(), "store"),
        (
            format!(r#"{{"replica_id": "a", "store": "{store}", "intervall_ms": 5}}"#),
            "intervall_ms",
        ),
        (r#"{"replica_id": "a", "store": "memory:"}"#.to_string(), "store"),
        (
            r#"{"replica_id": "a", "store": "redis", "redis": {"password": "hunter2-secret", "prot": 1}}"#
                .to_string(),
            "prot",
        ),
        ("{".to_string(), "JSON"),
        ("{\0}".to_string(), "NUL"),
    ] {
        let error = router.start_sync(&options).unwrap_err();
        assert_eq!(error.status(), status::INVALID_ARGUMENT, "{options}");
        assert!(error.message().contains(named), "{options}: {error}");
        assert!(!error.message().contains("hunter2-secret"));
    }
}

/// "{}" means "the config's sync block": on a router whose config has none,
/// it is refused with a message that says what is missing and where it could
/// come from; "" is not JSON at all.
#[test]
fn empty_options_without_a_sync_block() {
    let router = Router::load(saved_linucb("no_block")).unwrap();
    let error = router.start_sync("{}").unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    assert!(
        error.message().contains("'replica_id' is required"),
        "{error}"
    );
    assert!(error.message().contains("\"sync\" block"), "{error}");
    let error = router.start_sync("").unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    assert!(error.message().contains("not valid JSON"), "{error}");
    // Refused before anything started: the router may still sync.
    let store = format!("memory:rs-{}-no_block", std::process::id());
    let sync = router
        .start_sync(&format!(r#"{{"replica_id": "a", "store": "{store}"}}"#))
        .unwrap();
    assert_eq!(sync.status().unwrap().replica_id, "a");
}
