//! Raw declarations of librouter's C ABI, `router_c.h` (ABI version 1).
//!
//! Written by hand in the header's order, one declaration per C function;
//! `tests/header.rs` parses `capi/router_c.h` and checks every function's
//! name, parameter types and return type, and every status value, against
//! this file. The header documents each function (ownership, lifetimes,
//! thread safety); the `router` crate is the safe API over these.
#![allow(non_camel_case_types)]

use std::marker::{PhantomData, PhantomPinned};
use std::os::raw::c_char;

/// `ROUTER_ABI_VERSION`: the ABI these declarations follow.
pub const ROUTER_ABI_VERSION: u32 = 1;

/// `router_status_t`: 0 is success; the values are frozen.
pub type router_status_t = i32;

pub const ROUTER_OK: router_status_t = 0;
pub const ROUTER_CANCELLED: router_status_t = 1;
pub const ROUTER_UNKNOWN: router_status_t = 2;
pub const ROUTER_INVALID_ARGUMENT: router_status_t = 3;
pub const ROUTER_DEADLINE_EXCEEDED: router_status_t = 4;
pub const ROUTER_NOT_FOUND: router_status_t = 5;
pub const ROUTER_ALREADY_EXISTS: router_status_t = 6;
pub const ROUTER_PERMISSION_DENIED: router_status_t = 7;
pub const ROUTER_RESOURCE_EXHAUSTED: router_status_t = 8;
pub const ROUTER_FAILED_PRECONDITION: router_status_t = 9;
pub const ROUTER_ABORTED: router_status_t = 10;
pub const ROUTER_OUT_OF_RANGE: router_status_t = 11;
pub const ROUTER_UNIMPLEMENTED: router_status_t = 12;
pub const ROUTER_INTERNAL: router_status_t = 13;
pub const ROUTER_UNAVAILABLE: router_status_t = 14;
pub const ROUTER_DATA_LOSS: router_status_t = 15;
pub const ROUTER_UNAUTHENTICATED: router_status_t = 16;

/// Opaque `struct router_s`. Neither Send, Sync nor Unpin: the safe crate
/// decides what the C ABI's thread-safety rules allow.
#[repr(C)]
pub struct router_t {
    _private: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// Opaque `struct router_decision_s`.
#[repr(C)]
pub struct router_decision_t {
    _private: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// Opaque `struct router_sync_s`: a router's replica state sync.
#[repr(C)]
pub struct router_sync_t {
    _private: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `router_route_options_t`: per-request parameters, size-prefixed.
/// Set `struct_size` to `size_of::<router_route_options_t>()`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct router_route_options_t {
    pub struct_size: u32,
    pub flags: u32,
    pub lambda: f64,
    pub tau: f64,
    pub allowed_models: *const *const c_char,
    pub allowed_model_count: usize,
    pub budget_class: *const c_char,
    /// Added after the first layout (a smaller `struct_size` omits it).
    pub task: *const c_char,
}

/// `ROUTER_OVERRIDE_LAMBDA` and `ROUTER_OVERRIDE_TAU`: bits of `flags`.
pub const ROUTER_OVERRIDE_LAMBDA: u32 = 1;
pub const ROUTER_OVERRIDE_TAU: u32 = 2;

extern "C" {
    pub fn router_abi_version() -> u32;
    pub fn router_version_number() -> u32;
    pub fn router_version_string() -> *const c_char;
    pub fn router_simd_target() -> *const c_char;
    pub fn router_status_name(status: router_status_t) -> *const c_char;
    pub fn router_last_error_message() -> *const c_char;

    pub fn router_create_from_dataset(
        dataset_jsonl_path: *const c_char,
        config_json: *const c_char,
        out: *mut *mut router_t,
    ) -> router_status_t;
    pub fn router_create_from_dataset_with_vectors(
        dataset_jsonl_path: *const c_char,
        vectors_npy_path: *const c_char,
        config_json: *const c_char,
        out: *mut *mut router_t,
    ) -> router_status_t;
    pub fn router_save(router: *const router_t, path: *const c_char) -> router_status_t;
    pub fn router_load(path: *const c_char, out: *mut *mut router_t) -> router_status_t;
    pub fn router_reload(router: *mut router_t, path: *const c_char) -> router_status_t;
    pub fn router_decision_id(
        decision: *const router_decision_t,
        out_id: *mut u64,
    ) -> router_status_t;
    pub fn router_feedback(
        router: *const router_t,
        decision_id: u64,
        score: f64,
        cost_usd: f64,
    ) -> router_status_t;
    pub fn router_feedback_vector(
        router: *const router_t,
        vector: *const f32,
        dim: usize,
        model: *const c_char,
        score: f64,
        cost_usd: f64,
    ) -> router_status_t;
    pub fn router_add_model(
        router: *mut router_t,
        profile_json: *const c_char,
        vectors: *const f32,
        count: usize,
        dim: usize,
        scores: *const f64,
        costs_usd: *const f64,
    ) -> router_status_t;
    pub fn router_remove_model(router: *mut router_t, model: *const c_char) -> router_status_t;
    pub fn router_set_model_price(
        router: *mut router_t,
        model: *const c_char,
        input_usd_per_mtok: f64,
        output_usd_per_mtok: f64,
    ) -> router_status_t;
    pub fn router_model_price(
        router: *const router_t,
        model: *const c_char,
        out_input_usd_per_mtok: *mut f64,
        out_output_usd_per_mtok: *mut f64,
    ) -> router_status_t;
    pub fn router_record_cost(
        router: *mut router_t,
        expected_cost_usd: f64,
        realised_cost_usd: f64,
    ) -> router_status_t;
    pub fn router_set_model_available(
        router: *mut router_t,
        model: *const c_char,
        available: i32,
    ) -> router_status_t;
    pub fn router_set_policy(router: *mut router_t, policy_json: *const c_char) -> router_status_t;
    pub fn router_calibrate_threshold(
        router: *mut router_t,
        vectors: *const f32,
        count: usize,
        dim: usize,
        strong_share: f64,
        out_threshold: *mut f64,
    ) -> router_status_t;
    pub fn router_policy_state_json(
        router: *const router_t,
        buf: *mut c_char,
        capacity: usize,
        out_needed: *mut usize,
    ) -> router_status_t;
    pub fn router_free(router: *mut router_t);

    pub fn router_dim(router: *const router_t, out_dim: *mut i32) -> router_status_t;
    pub fn router_model_count(router: *const router_t, out_count: *mut i32) -> router_status_t;
    pub fn router_model_name(
        router: *const router_t,
        index: i32,
        out_name: *mut *const c_char,
    ) -> router_status_t;
    pub fn router_embed_text(
        router: *const router_t,
        text: *const c_char,
        out_vector: *mut f32,
        capacity: usize,
    ) -> router_status_t;
    pub fn router_route_text(
        router: *const router_t,
        text: *const c_char,
        out: *mut *mut router_decision_t,
    ) -> router_status_t;
    pub fn router_route_vector(
        router: *const router_t,
        vector: *const f32,
        dim: usize,
        input_tokens: i64,
        out: *mut *mut router_decision_t,
    ) -> router_status_t;
    pub fn router_route_text_with(
        router: *const router_t,
        text: *const c_char,
        options: *const router_route_options_t,
        out: *mut *mut router_decision_t,
    ) -> router_status_t;
    pub fn router_route_vector_with(
        router: *const router_t,
        vector: *const f32,
        dim: usize,
        input_tokens: i64,
        options: *const router_route_options_t,
        out: *mut *mut router_decision_t,
    ) -> router_status_t;
    pub fn router_route_batch(
        router: *const router_t,
        vectors: *const f32,
        count: usize,
        dim: usize,
        stride_floats: usize,
        input_tokens: *const i64,
        out_model_index: *mut i32,
        out_quality: *mut f64,
        out_cost_usd: *mut f64,
    ) -> router_status_t;

    pub fn router_decision_model(
        decision: *const router_decision_t,
        out_name: *mut *const c_char,
    ) -> router_status_t;
    pub fn router_decision_model_index(
        decision: *const router_decision_t,
        out_index: *mut i32,
    ) -> router_status_t;
    pub fn router_decision_quality(
        decision: *const router_decision_t,
        out_quality: *mut f64,
    ) -> router_status_t;
    pub fn router_decision_cost_usd(
        decision: *const router_decision_t,
        out_cost_usd: *mut f64,
    ) -> router_status_t;
    pub fn router_decision_fallback_count(
        decision: *const router_decision_t,
        out_count: *mut i32,
    ) -> router_status_t;
    pub fn router_decision_fallback(
        decision: *const router_decision_t,
        index: i32,
        out_name: *mut *const c_char,
    ) -> router_status_t;
    pub fn router_decision_explain(
        decision: *const router_decision_t,
        buf: *mut c_char,
        capacity: usize,
        out_needed: *mut usize,
    ) -> router_status_t;
    pub fn router_decision_json(
        decision: *const router_decision_t,
        buf: *mut c_char,
        capacity: usize,
        out_needed: *mut usize,
    ) -> router_status_t;
    pub fn router_decision_free(decision: *mut router_decision_t);

    pub fn router_sync_start(
        router: *mut router_t,
        options_json: *const c_char,
        out: *mut *mut router_sync_t,
    ) -> router_status_t;
    pub fn router_sync_now(sync: *mut router_sync_t) -> router_status_t;
    pub fn router_sync_retire(sync: *mut router_sync_t) -> router_status_t;
    pub fn router_sync_fold(sync: *mut router_sync_t, replica_id: *const c_char) -> router_status_t;
    pub fn router_sync_status_json(
        sync: *const router_sync_t,
        buf: *mut c_char,
        capacity: usize,
        out_needed: *mut usize,
    ) -> router_status_t;
    pub fn router_sync_stop(sync: *mut router_sync_t);
}
