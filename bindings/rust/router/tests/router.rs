//! Tests of the safe API against librouter_c, on a generated two-topic dataset
//! where "coder" is best on code prompts and "writer" on poems.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

use router::{status, RouteOptions, Router};

const CODE_WORDS: [&str; 8] = [
    "python", "function", "code", "bug", "compile", "segfault", "debug", "pointer",
];
const POEM_WORDS: [&str; 8] = [
    "poem", "story", "rhyme", "novel", "verse", "stanza", "sonnet", "haiku",
];
const CODE_PROMPT: &str = "fix this python bug, it will not compile";
const POEM_PROMPT: &str = "a sonnet with rhyme, verse and a story";
const CONFIG: &str = r#"{"knn": {"k": 10}}"#;

/// A fresh directory for one test (tests run on parallel threads).
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("librouter_rs_{}_{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// 160 prompts of two topics: `best_on_code` scores 1 on code, the other model on poems.
fn write_dataset(path: &PathBuf, best_on_code: &str) {
    write_dataset_with(path, best_on_code, false);
}

/// With `sources`, each row names its topic ("code", "poems") as its source.
fn write_dataset_with(path: &PathBuf, best_on_code: &str, sources: bool) {
    let other = if best_on_code == "coder" {
        "writer"
    } else {
        "coder"
    };
    let mut text = String::new();
    for row in 0..160usize {
        let words = if row % 2 == 0 {
            &CODE_WORDS
        } else {
            &POEM_WORDS
        };
        let prompt = [row, row * 3 + 1, row * 5 + 2]
            .map(|i| words[i % 8])
            .join(" ");
        let best = if row % 2 == 0 { best_on_code } else { other };
        let score = |model: &str| if model == best { 1 } else { 0 };
        let source = match (sources, row % 2) {
            (false, _) => "",
            (true, 0) => "\"source\": \"code\", ",
            (true, _) => "\"source\": \"poems\", ",
        };
        text += &format!(
            "{{\"id\": \"r{row}\", \"prompt\": \"{prompt}\", {source}\
             \"scores\": {{\"coder\": {}, \"writer\": {}}}, \
             \"costs\": {{\"coder\": 0.001, \"writer\": 0.001}}}}\n",
            score("coder"),
            score("writer")
        );
    }
    fs::write(path, text).unwrap();
}

fn fitted(test: &str) -> (Router, PathBuf) {
    fitted_with(test, CONFIG)
}

fn fitted_with(test: &str, config: &str) -> (Router, PathBuf) {
    let dir = scratch(test);
    let data = dir.join("data.jsonl");
    write_dataset(&data, "coder");
    (Router::from_dataset(&data, Some(config)).unwrap(), dir)
}

/// The router's vectors of `prompts`, rows back to back.
fn embed(router: &Router, prompts: &[&str]) -> Vec<f32> {
    prompts
        .iter()
        .flat_map(|p| router.embed_text(p).unwrap())
        .collect()
}

fn routed(router: &Router, prompt: &str, options: &RouteOptions) -> String {
    router
        .route_text_with(prompt, options)
        .unwrap()
        .model()
        .to_string()
}

/// The text after `"key":` in compact JSON, up to the next `,` or `}`.
fn json_field<'a>(json: &'a str, key: &str) -> &'a str {
    let pattern = format!("\"{key}\":");
    let start = json
        .find(&pattern)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + pattern.len();
    let rest = &json[start..];
    &rest[..rest.find([',', '}']).unwrap()]
}

#[test]
fn versions() {
    assert_eq!(router::abi_version(), 1);
    assert_eq!(router::version().split('.').count(), 3);
    assert_eq!(router::status_name(status::NOT_FOUND), "ROUTER_NOT_FOUND");
}

/// A Highway target name (hwy/targets.h TargetName: 1.0.3's, plus the ones
/// later releases added), the same on every call.
#[test]
fn simd_target() {
    const KNOWN: &str = "AVX3 AVX3_DL AVX3_ZEN4 AVX3_SPR AVX10_2 AVX10_2_512 AVX2 SSE4 SSSE3 SSE2 \
        NEON NEON_WITHOUT_AES NEON_BF16 SVE SVE2 SVE_256 SVE2_128 PPC8 PPC9 PPC10 Z14 Z15 \
        WASM WASM_EMU256 RVV LSX LASX EMU128 SCALAR";
    let target = router::simd_target();
    assert!(
        KNOWN.split_whitespace().any(|name| name == target),
        "{target}"
    );
    assert_eq!(router::simd_target(), target);
}

#[test]
fn routes_text_by_topic() {
    let (router, _) = fitted("routes_text");
    let code = router.route_text(CODE_PROMPT).unwrap();
    let poem = router.route_text(POEM_PROMPT).unwrap();
    assert_eq!(code.model(), "coder");
    assert_eq!(poem.model(), "writer");
    assert_eq!(router.model_name(code.model_index()).unwrap(), "coder");
    assert_eq!(code.fallbacks(), vec!["writer"]);
    assert!(code.quality() > 0.5 && code.quality() <= 1.0);
    assert!(code.cost_usd() > 0.0);
    assert_eq!(code.id(), 0); // kNN does not learn online
    assert!(code.explanation().contains("coder"));
    assert!(code.json().starts_with('{') && code.json().contains("\"coder\""));
    let mut models = router.models().unwrap();
    models.sort_unstable();
    assert_eq!(models, ["coder", "writer"]);
}

#[test]
fn decisions_outlive_their_router() {
    let (router, _) = fitted("outlive");
    let decision = router.route_text(CODE_PROMPT).unwrap();
    drop(router);
    assert_eq!(decision.model(), "coder");
}

#[test]
fn batch_matches_single_routes() {
    let (router, _) = fitted("batch");
    let prompts = [
        CODE_PROMPT,
        POEM_PROMPT,
        "debug a pointer",
        "a haiku",
        "compile",
        "verse",
    ];
    let dim = router.dim().unwrap();
    let vectors: Vec<f32> = prompts
        .iter()
        .flat_map(|p| router.embed_text(p).unwrap())
        .collect();
    let tokens: Vec<i64> = (1..=prompts.len() as i64).collect();
    let routes = router.route_batch(&vectors, Some(&tokens)).unwrap();
    let names: Vec<&str> = routes
        .model_index
        .iter()
        .map(|&i| router.model_name(i as usize).unwrap())
        .collect();
    assert_eq!(
        names,
        ["coder", "writer", "coder", "writer", "coder", "writer"]
    );
    for (i, row) in vectors.chunks(dim).enumerate() {
        let single = router.route_vector(row, tokens[i]).unwrap();
        assert_eq!(routes.model_index[i] as usize, single.model_index());
        assert_eq!(routes.quality[i], single.quality());
        assert_eq!(routes.cost_usd[i], single.cost_usd());
    }

    // Padded rows (stride > dim) into caller-owned slices, without the optional outputs.
    let stride = dim + 3;
    let mut padded = vec![f32::NAN; prompts.len() * stride];
    for (i, row) in vectors.chunks(dim).enumerate() {
        padded[i * stride..i * stride + dim].copy_from_slice(row);
    }
    let mut index = vec![-1; prompts.len()];
    router
        .route_batch_into(&padded, stride, Some(&tokens), &mut index, None, None)
        .unwrap();
    assert_eq!(index, routes.model_index);
}

#[test]
fn batch_arguments_are_checked_before_the_call() {
    let (router, _) = fitted("batch_checks");
    let dim = router.dim().unwrap();
    let vectors = vec![0.0f32; 2 * dim];
    let mut index = vec![0; 3]; // three queries, two rows of floats
    let error = router
        .route_batch_into(&vectors, dim, None, &mut index, None, None)
        .unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    let mut index = vec![0; 2];
    let mut quality = vec![0.0; 1];
    let error = router
        .route_batch_into(&vectors, dim, None, &mut index, Some(&mut quality), None)
        .unwrap_err();
    assert!(error.message().contains("quality"), "{error}");
    let error = router.route_batch(&vectors[1..], None).unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);

    let mut bad = router.embed_text(CODE_PROMPT).unwrap();
    bad.extend(vec![f32::NAN; dim]);
    let error = router.route_batch(&bad, None).unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    assert!(error.message().starts_with("query 1: "), "{error}");
}

#[test]
fn errors_carry_status_and_message() {
    let dir = scratch("errors");
    let missing = dir.join("missing.jsonl");
    let error = Router::from_dataset(&missing, None).unwrap_err();
    assert_eq!(error.status(), status::NOT_FOUND);
    assert!(error.message().contains("missing.jsonl"), "{error}");
    assert!(error.to_string().starts_with("ROUTER_NOT_FOUND: "));

    let data = dir.join("data.jsonl");
    write_dataset(&data, "coder");
    let error = Router::from_dataset(&data, Some(r#"{"no_such_key": 1}"#)).unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    assert!(error.message().contains("no_such_key"), "{error}");
    let error = Router::from_dataset(&data, Some("{\"a\0\": 1}")).unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);

    let garbage = dir.join("garbage.router");
    fs::write(&garbage, b"not a router file at all").unwrap();
    assert_eq!(
        Router::load(&garbage).unwrap_err().status(),
        status::DATA_LOSS
    );

    let router = Router::from_dataset(&data, Some(CONFIG)).unwrap();
    assert_eq!(
        router.remove_model("nobody").unwrap_err().status(),
        status::NOT_FOUND
    );
    let error = router.set_model_price("coder", -1.0, 1.0).unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    let error = router.route_vector(&[1.0, 2.0], 0).unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    assert_eq!(
        router.model_name(99).unwrap_err().status(),
        status::OUT_OF_RANGE
    );
}

#[test]
fn save_load_reload() {
    let (router, dir) = fitted("save_load");
    let saved = dir.join("router.bin");
    router.save(&saved).unwrap();
    let loaded = Router::load(&saved).unwrap();
    assert_eq!(loaded.route_text(CODE_PROMPT).unwrap().model(), "coder");

    let flipped_data = dir.join("flipped.jsonl");
    write_dataset(&flipped_data, "writer");
    let flipped = dir.join("flipped.bin");
    Router::from_dataset(&flipped_data, Some(CONFIG))
        .unwrap()
        .save(&flipped)
        .unwrap();
    loaded.reload(&flipped).unwrap();
    assert_eq!(loaded.route_text(CODE_PROMPT).unwrap().model(), "writer");
    assert_eq!(
        loaded.reload(dir.join("missing.bin")).unwrap_err().status(),
        status::NOT_FOUND
    );
    assert_eq!(loaded.route_text(CODE_PROMPT).unwrap().model(), "writer");
}

#[test]
fn model_changes() {
    let (router, _) = fitted("model_changes");
    router.set_model_price("writer", 0.5, 1.5).unwrap();
    // Read back in their order: swapped prices would fail here.
    assert_eq!(router.model_price("writer").unwrap(), (0.5, 1.5));
    assert_eq!(
        router.model_price("nobody").unwrap_err().status(),
        status::NOT_FOUND
    );
    // A budget policy's spend moves by realised - expected.
    router
        .set_policy(r#"{"kind": "budget", "target_cost_usd": 1}"#)
        .unwrap();
    router.record_cost(1e-3, 4e-3).unwrap();
    assert!(router.policy_state().unwrap().contains(r#""spend_usd":0.003,"#));
    assert_eq!(
        router.record_cost(-1.0, 0.0).unwrap_err().status(),
        status::INVALID_ARGUMENT
    );
    router.remove_model("writer").unwrap();
    assert_eq!(router.models().unwrap(), ["coder"]);
    assert_eq!(router.route_text(POEM_PROMPT).unwrap().model(), "coder");
    assert_eq!(
        router.remove_model("coder").unwrap_err().status(),
        status::FAILED_PRECONDITION
    );
}

#[test]
fn feedback_on_an_online_router() {
    let dir = scratch("feedback");
    let data = dir.join("data.jsonl");
    write_dataset(&data, "coder");
    let router = Router::from_dataset(&data, Some(r#"{"router": "linucb"}"#)).unwrap();
    let decision = router.route_text(CODE_PROMPT).unwrap();
    assert_ne!(decision.id(), 0);
    let error = router.feedback(decision.id(), 1.5, 0.001).unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    router.feedback(decision.id(), 1.0, 0.001).unwrap();
    let error = router.feedback(decision.id(), 1.0, 0.001).unwrap_err();
    assert_eq!(error.status(), status::NOT_FOUND); // reported already

    let vector = router.embed_text(POEM_PROMPT).unwrap();
    router
        .feedback_vector(&vector, "writer", 1.0, 0.001)
        .unwrap();
    let error = router
        .feedback_vector(&vector, "nobody", 1.0, 0.001)
        .unwrap_err();
    assert_eq!(error.status(), status::NOT_FOUND);
}

#[test]
fn concurrent_routing_and_errors() {
    let (router, _) = fitted("concurrent");
    let router = Arc::new(router);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let router = Arc::clone(&router);
            thread::spawn(move || {
                for i in 0..50 {
                    let (prompt, model) = if (i + t) % 2 == 0 {
                        (CODE_PROMPT, "coder")
                    } else {
                        (POEM_PROMPT, "writer")
                    };
                    assert_eq!(router.route_text(prompt).unwrap().model(), model);
                    // Each thread sees its own call's message.
                    let name = format!("nobody-{t}-{i}");
                    let error = router.remove_model(&name).unwrap_err();
                    assert!(error.message().contains(&name), "{error}");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn route_options() {
    let (router, _) = fitted("route_options");
    let none = RouteOptions::default();
    assert_eq!(routed(&router, CODE_PROMPT, &none), "coder");
    // A request allow-list forces the allowed model, for text and vectors.
    let writer_only = RouteOptions {
        allowed_models: vec!["writer".into()],
        ..Default::default()
    };
    assert_eq!(routed(&router, CODE_PROMPT, &writer_only), "writer");
    let vector = router.embed_text(CODE_PROMPT).unwrap();
    let decision = router.route_vector_with(&vector, 5, &writer_only).unwrap();
    assert_eq!(decision.model(), "writer");
    let decision = router.route_vector_with(&vector, 5, &none).unwrap();
    assert_eq!(decision.model(), "coder");
    // An overridden lambda is used, and the explanation says so.
    let lambda = RouteOptions {
        lambda: Some(12345.0),
        ..Default::default()
    };
    let explanation = router
        .route_text_with(CODE_PROMPT, &lambda)
        .unwrap()
        .explanation();
    assert!(
        explanation.contains("lambda=12345 (request override)"),
        "{explanation}"
    );
    // Bad overrides are refused by the library.
    let unknown = RouteOptions {
        allowed_models: vec!["no-such-model".into()],
        ..Default::default()
    };
    let error = router.route_text_with(CODE_PROMPT, &unknown).unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    assert!(error.message().contains("no-such-model"), "{error}");
    let nan = RouteOptions {
        lambda: Some(f64::NAN),
        ..Default::default()
    };
    let error = router.route_text_with(CODE_PROMPT, &nan).unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    let error = router
        .route_vector_with(&vector[1..], 0, &writer_only)
        .unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    let nul = RouteOptions {
        allowed_models: vec!["writer".into(), "co\0der".into()],
        ..Default::default()
    };
    let error = router.route_text_with(CODE_PROMPT, &nul).unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
}

#[test]
fn availability_and_policies() {
    let (router, _) = fitted("policies");
    let none = RouteOptions::default();
    // An outage: the model is skipped until it is marked up.
    router.set_model_available("coder", false).unwrap();
    assert_eq!(routed(&router, CODE_PROMPT, &none), "writer");
    assert_eq!(routed(&router, POEM_PROMPT, &none), "writer");
    router.set_model_available("coder", true).unwrap();
    assert_eq!(routed(&router, CODE_PROMPT, &none), "coder");
    let error = router.set_model_available("nobody", false).unwrap_err();
    assert_eq!(error.status(), status::NOT_FOUND);

    // A budget policy shows its pacing state; a bad policy changes nothing.
    router
        .set_policy(r#"{"kind": "budget", "target_cost_usd": 0.001}"#)
        .unwrap();
    router.route_text(CODE_PROMPT).unwrap();
    let state = router.policy_state().unwrap();
    assert_eq!(json_field(&state, "kind"), "\"budget\"", "{state}");
    assert_eq!(json_field(&state, "requests"), "1", "{state}");
    let error = router.set_policy("{not json").unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    assert_eq!(router.policy_state().unwrap(), state);

    // Calibrating needs a threshold policy.
    let dim = router.dim().unwrap();
    let sample = embed(&router, &[CODE_PROMPT, POEM_PROMPT]);
    let error = router.calibrate_threshold(&sample, dim, 0.5).unwrap_err();
    assert_eq!(error.status(), status::FAILED_PRECONDITION);
    router
        .set_policy(r#"{"kind": "threshold", "strong": "coder", "weak": "writer"}"#)
        .unwrap();
    let error = router
        .calibrate_threshold(&sample[..2 * (dim - 1)], dim - 1, 0.5)
        .unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT); // wrong dim
    let error = router
        .calibrate_threshold(&sample[1..], dim, 0.5)
        .unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT); // not whole rows
    let threshold = router.calibrate_threshold(&sample, dim, 0.5).unwrap();
    assert!(threshold.is_finite() && (-1.0..=1.0).contains(&threshold));
    let state = router.policy_state().unwrap();
    assert_eq!(json_field(&state, "kind"), "\"threshold\"", "{state}");
    assert_eq!(
        json_field(&state, "threshold").parse::<f64>().unwrap(),
        threshold
    );
    // Half the sample goes to the strong model: the code prompt. A request's
    // own threshold of 1 sends everything to the weak one.
    assert_eq!(routed(&router, CODE_PROMPT, &none), "coder");
    let tau_one = RouteOptions {
        tau: Some(1.0),
        ..Default::default()
    };
    assert_eq!(routed(&router, CODE_PROMPT, &tau_one), "writer");
}

#[test]
fn task() {
    // A request naming its task gets that task's cluster where the text cannot
    // tell; a task the router did not learn leaves the text to decide.
    let dir = scratch("task");
    let data = dir.join("tasks.jsonl");
    write_dataset_with(&data, "coder", true);
    let router = Router::from_dataset(&data, Some(r#"{"router": "cluster"}"#)).unwrap();
    let vague = "please help me with this";
    let quality_only = RouteOptions {
        lambda: Some(0.0),
        ..Default::default()
    };
    let inferred = routed(&router, vague, &quality_only);
    for (task, model) in [("code", "coder"), ("poems", "writer")] {
        let told = RouteOptions {
            task: Some(task.into()),
            ..quality_only.clone()
        };
        assert_eq!(routed(&router, vague, &told), model, "task {task}");
    }
    let unknown = RouteOptions {
        task: Some("limericks".into()),
        ..quality_only.clone()
    };
    assert_eq!(routed(&router, vague, &unknown), inferred);
    let nul = RouteOptions {
        task: Some("po\0ems".into()),
        ..Default::default()
    };
    assert!(router.route_text_with(vague, &nul).is_err());
}

#[test]
fn budget_class() {
    let (router, _) = fitted("budget_class");
    let classes = r#"{"budget_classes": {"poets": {"allowed_models": ["writer"]}}}"#;
    router.set_policy(classes).unwrap();
    // A class carries an allow-list by name; the request's own wins.
    let poets = RouteOptions {
        budget_class: Some("poets".into()),
        ..Default::default()
    };
    assert_eq!(routed(&router, CODE_PROMPT, &poets), "writer");
    let own = RouteOptions {
        allowed_models: vec!["coder".into()],
        ..poets.clone()
    };
    assert_eq!(routed(&router, CODE_PROMPT, &own), "coder");
    let unknown = RouteOptions {
        budget_class: Some("platinum".into()),
        ..Default::default()
    };
    let error = router.route_text_with(CODE_PROMPT, &unknown).unwrap_err();
    assert_eq!(error.status(), status::NOT_FOUND);
    assert!(error.message().contains("poets"), "{error}");
}

#[test]
fn add_model() {
    // A cluster router learns a cheaper poet from embedded examples (good on
    // poems, bad on code) and, under a quality floor, sends poems to it and
    // code still to the coder.
    let config = r#"{"router": "cluster", "policy": {"kind": "quality_floor", "tau": 0.7}}"#;
    let (router, _) = fitted_with("add_model", config);
    let dim = router.dim().unwrap();
    let prompts = [POEM_PROMPT, CODE_PROMPT].repeat(20);
    let vectors = embed(&router, &prompts);
    let scores = [1.0, 0.0].repeat(20);
    let costs = [0.0001; 40];
    let poet = r#"{"name": "poet", "input_usd_per_mtok": 0.01, "output_usd_per_mtok": 0.02}"#;
    let error = router
        .add_model(poet, &vectors[..40 * (dim - 1)], dim - 1, &scores, None)
        .unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT); // wrong dim
    let error = router
        .add_model(poet, &vectors, dim, &scores[..39], None)
        .unwrap_err();
    assert_eq!(error.status(), status::INVALID_ARGUMENT);
    let error = router
        .add_model(poet, &vectors, dim, &scores, Some(&costs[..39]))
        .unwrap_err();
    assert!(error.message().contains("costs_usd"), "{error}");
    assert_eq!(router.models().unwrap(), ["coder", "writer"]);
    router
        .add_model(poet, &vectors, dim, &scores, Some(&costs))
        .unwrap();
    assert_eq!(router.models().unwrap(), ["coder", "writer", "poet"]);
    assert_eq!(router.route_text(POEM_PROMPT).unwrap().model(), "poet");
    assert_eq!(router.route_text(CODE_PROMPT).unwrap().model(), "coder");
    let error = router
        .add_model(poet, &vectors, dim, &scores, None)
        .unwrap_err();
    assert_eq!(error.status(), status::ALREADY_EXISTS);

    // Without examples: a linucb router starts the arm at its prior.
    let (online, _) = fitted_with("add_model_online", r#"{"router": "linucb"}"#);
    online
        .add_model(r#"{"name": "fresh"}"#, &[], 0, &[], None)
        .unwrap();
    assert_eq!(online.models().unwrap(), ["coder", "writer", "fresh"]);
    // kNN needs every model's score on every reference prompt.
    let (knn, _) = fitted("add_model_knn");
    let error = knn
        .add_model(poet, &vectors, dim, &scores, None)
        .unwrap_err();
    assert_eq!(error.status(), status::UNIMPLEMENTED);
}
