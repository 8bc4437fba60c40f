//! Route each prompt to the LLM that should answer it: the safe Rust API over
//! librouter's C ABI (`router_c.h`, declared in `router-sys`).
//!
//! ```no_run
//! let router = router::Router::from_dataset("queries.jsonl", Some(r#"{"policy": {"lambda": 100}}"#))?;
//! let decision = router.route_text("Why does free() crash?")?;
//! println!("{} (quality {:.2}, ${:.6})", decision.model(), decision.quality(), decision.cost_usd());
//! # Ok::<(), router::Error>(())
//! ```
//!
//! Ownership: a [`Router`] and a [`Decision`] free their C handle on drop; a
//! decision does not refer to its router and may outlive it. Threads: the C
//! ABI documents every call on a router as safe to make from many threads at
//! once, except `router_free` (run by `Drop`, which has the router to itself),
//! so `Router` is `Send + Sync`; a decision is read-only, so it is too.
//! Errors: every fallible call returns an [`Error`] with the C status code and
//! the library's message (read on the calling thread, right after the call).

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::c_char;
use std::path::Path;
use std::ptr::{self, NonNull};

use router_sys as sys;

mod route_options;
mod state_sync;
pub use route_options::RouteOptions;
pub use state_sync::{StateSync, SyncRow, SyncStatus};

/// The C ABI's status codes (`ROUTER_*` in router_c.h); the values are frozen.
pub mod status {
    use router_sys as sys;
    pub const CANCELLED: i32 = sys::ROUTER_CANCELLED;
    pub const UNKNOWN: i32 = sys::ROUTER_UNKNOWN;
    pub const INVALID_ARGUMENT: i32 = sys::ROUTER_INVALID_ARGUMENT;
    pub const DEADLINE_EXCEEDED: i32 = sys::ROUTER_DEADLINE_EXCEEDED;
    pub const NOT_FOUND: i32 = sys::ROUTER_NOT_FOUND;
    pub const ALREADY_EXISTS: i32 = sys::ROUTER_ALREADY_EXISTS;
    pub const PERMISSION_DENIED: i32 = sys::ROUTER_PERMISSION_DENIED;
    pub const RESOURCE_EXHAUSTED: i32 = sys::ROUTER_RESOURCE_EXHAUSTED;
    pub const FAILED_PRECONDITION: i32 = sys::ROUTER_FAILED_PRECONDITION;
    pub const ABORTED: i32 = sys::ROUTER_ABORTED;
    pub const OUT_OF_RANGE: i32 = sys::ROUTER_OUT_OF_RANGE;
    pub const UNIMPLEMENTED: i32 = sys::ROUTER_UNIMPLEMENTED;
    pub const INTERNAL: i32 = sys::ROUTER_INTERNAL;
    pub const UNAVAILABLE: i32 = sys::ROUTER_UNAVAILABLE;
    pub const DATA_LOSS: i32 = sys::ROUTER_DATA_LOSS;
    pub const UNAUTHENTICATED: i32 = sys::ROUTER_UNAUTHENTICATED;
}

/// A failed call: the C status code (see [`status`]) and the library's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    status: i32,
    message: String,
}

impl Error {
    /// The status code, e.g. [`status::NOT_FOUND`].
    pub fn status(&self) -> i32 {
        self.status
    }

    /// The status code's name, e.g. "ROUTER_NOT_FOUND".
    pub fn status_name(&self) -> &'static str {
        status_name(self.status)
    }

    /// What went wrong, e.g. "queries.jsonl:17: 'scores' must be an object".
    pub fn message(&self) -> &str {
        &self.message
    }

    fn invalid_argument(message: String) -> Error {
        Error {
            status: status::INVALID_ARGUMENT,
            message,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status_name(), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Turns a status into a Result, reading the thread-local message at once.
fn check(status: sys::router_status_t) -> Result<()> {
    if status == sys::ROUTER_OK {
        return Ok(());
    }
    // SAFETY: never NULL; valid until the next router_* call on this thread.
    let message = unsafe { CStr::from_ptr(sys::router_last_error_message()) };
    Err(Error {
        status,
        message: message.to_string_lossy().into_owned(),
    })
}

/// A static C string of the library as &'static str.
fn static_str(text: *const c_char) -> &'static str {
    // SAFETY: the library's static strings are NUL-terminated ASCII.
    unsafe { CStr::from_ptr(text) }.to_str().unwrap_or("")
}

/// A borrowed C string as &str; names are UTF-8 (they come from JSON).
///
/// SAFETY: `text` must stay valid for `'a`.
unsafe fn borrowed_str<'a>(text: *const c_char) -> &'a str {
    std::str::from_utf8(CStr::from_ptr(text).to_bytes()).expect("librouter returns UTF-8")
}

fn c_string(text: &str, what: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::invalid_argument(format!("{what} contains a NUL byte")))
}

/// A slice as a C array: NULL when empty (C takes NULL for no elements, and
/// an empty slice's pointer is dangling).
fn ptr_or_null<T>(slice: &[T]) -> *const T {
    if slice.is_empty() {
        ptr::null()
    } else {
        slice.as_ptr()
    }
}

/// Text a C function copies out snprintf-style (`buf`, `capacity`,
/// `out_needed`). The text may grow between calls (a policy's state changes
/// while other threads route), so this retries until it fits.
fn read_text(
    mut write: impl FnMut(*mut c_char, usize, *mut usize) -> sys::router_status_t,
) -> Result<String> {
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let mut needed = 0usize;
        let buf = if buffer.is_empty() {
            ptr::null_mut()
        } else {
            buffer.as_mut_ptr().cast()
        };
        check(write(buf, buffer.len(), &mut needed))?;
        if needed <= buffer.len() {
            buffer.truncate(needed.saturating_sub(1)); // the NUL
            return Ok(String::from_utf8(buffer).expect("librouter writes UTF-8"));
        }
        buffer = vec![0u8; needed];
    }
}

fn c_path(path: &Path) -> Result<CString> {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = path
        .to_str()
        .ok_or_else(|| Error::invalid_argument(format!("{} is not UTF-8", path.display())))?
        .as_bytes()
        .to_vec();
    CString::new(bytes)
        .map_err(|_| Error::invalid_argument(format!("{} contains a NUL byte", path.display())))
}

/// The ABI version of the linked librouter_c.
pub fn abi_version() -> u32 {
    unsafe { sys::router_abi_version() }
}

/// The version of the linked librouter_c, "MAJOR.MINOR.PATCH".
pub fn version() -> &'static str {
    static_str(unsafe { sys::router_version_string() })
}

/// The instruction set the linked librouter_c's SIMD kernels chose at run
/// time for this CPU, as Highway names it: "AVX3" (AVX-512), "AVX2", "SSE4",
/// "NEON", ..., or "EMU128" / "SCALAR" (no SIMD beyond the baseline). What
/// to quote in a performance report.
pub fn simd_target() -> &'static str {
    static_str(unsafe { sys::router_simd_target() })
}

/// The name of a status code, e.g. "ROUTER_INVALID_ARGUMENT".
pub fn status_name(status: i32) -> &'static str {
    static_str(unsafe { sys::router_status_name(status) })
}

/// A fitted router: an embedder, a quality and cost predictor, and a policy.
pub struct Router {
    raw: NonNull<sys::router_t>,
}

// SAFETY: router_c.h: every function on a router may run on many threads at
// once (routing, saving, reload, feedback, model changes); only router_free
// must not overlap other calls, and Drop has exclusive access.
unsafe impl Send for Router {}
unsafe impl Sync for Router {}

/// Results of [`Router::route_batch`], one entry per query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchRoutes {
    /// Index of the chosen model (see [`Router::model_name`]).
    pub model_index: Vec<i32>,
    pub quality: Vec<f64>,
    pub cost_usd: Vec<f64>,
}

impl Router {
    fn create(
        call: impl FnOnce(*mut *mut sys::router_t) -> sys::router_status_t,
    ) -> Result<Router> {
        let mut raw = ptr::null_mut();
        check(call(&mut raw))?;
        Ok(Router {
            raw: NonNull::new(raw).expect("router_create returned OK and NULL"),
        })
    }

    /// Fits a router on a JSONL dataset (rows with split "train" or none).
    /// `config` is the pipeline configuration as JSON; None for the defaults.
    pub fn from_dataset(dataset: impl AsRef<Path>, config: Option<&str>) -> Result<Router> {
        let dataset = c_path(dataset.as_ref())?;
        let config = config.map(|c| c_string(c, "config")).transpose()?;
        let config_ptr = config.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        Router::create(|out| unsafe {
            sys::router_create_from_dataset(dataset.as_ptr(), config_ptr, out)
        })
    }

    /// Like [`Router::from_dataset`], with the host's query vectors (.npy,
    /// one row per JSONL line); the router then routes vectors of that size.
    pub fn from_dataset_with_vectors(
        dataset: impl AsRef<Path>,
        vectors: impl AsRef<Path>,
        config: Option<&str>,
    ) -> Result<Router> {
        let dataset = c_path(dataset.as_ref())?;
        let vectors = c_path(vectors.as_ref())?;
        let config = config.map(|c| c_string(c, "config")).transpose()?;
        let config_ptr = config.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        Router::create(|out| unsafe {
            sys::router_create_from_dataset_with_vectors(
                dataset.as_ptr(),
                vectors.as_ptr(),
                config_ptr,
                out,
            )
        })
    }

    /// Loads a router written by [`Router::save`]; a damaged file is
    /// [`status::DATA_LOSS`].
    pub fn load(path: impl AsRef<Path>) -> Result<Router> {
        let path = c_path(path.as_ref())?;
        Router::create(|out| unsafe { sys::router_load(path.as_ptr(), out) })
    }

    /// Writes the router to one file, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = c_path(path.as_ref())?;
        check(unsafe { sys::router_save(self.raw.as_ptr(), path.as_ptr()) })
    }

    /// Swaps in the router saved at `path` while other threads keep routing;
    /// on error the current one keeps serving.
    pub fn reload(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = c_path(path.as_ref())?;
        check(unsafe { sys::router_reload(self.raw.as_ptr(), path.as_ptr()) })
    }

    /// Reports a routed request's outcome by its [`Decision::id`]: the
    /// observed quality in [0, 1] and cost. Each id is reported at most once.
    pub fn feedback(&self, decision_id: u64, score: f64, cost_usd: f64) -> Result<()> {
        check(unsafe { sys::router_feedback(self.raw.as_ptr(), decision_id, score, cost_usd) })
    }

    /// Reports an outcome by the query's vector and the model that answered.
    pub fn feedback_vector(
        &self,
        vector: &[f32],
        model: &str,
        score: f64,
        cost_usd: f64,
    ) -> Result<()> {
        let model = c_string(model, "model")?;
        check(unsafe {
            sys::router_feedback_vector(
                self.raw.as_ptr(),
                vector.as_ptr(),
                vector.len(),
                model.as_ptr(),
                score,
                cost_usd,
            )
        })
    }

    /// Takes a model out of service; the indexes of later models shift down.
    pub fn remove_model(&self, model: &str) -> Result<()> {
        let model = c_string(model, "model")?;
        check(unsafe { sys::router_remove_model(self.raw.as_ptr(), model.as_ptr()) })
    }

    /// Changes a model's prices, in USD per million tokens.
    pub fn set_model_price(
        &self,
        model: &str,
        input_usd_per_mtok: f64,
        output_usd_per_mtok: f64,
    ) -> Result<()> {
        let model = c_string(model, "model")?;
        check(unsafe {
            sys::router_set_model_price(
                self.raw.as_ptr(),
                model.as_ptr(),
                input_usd_per_mtok,
                output_usd_per_mtok,
            )
        })
    }

    /// A model's current (input, output) prices, in USD per million tokens.
    pub fn model_price(&self, model: &str) -> Result<(f64, f64)> {
        let model = c_string(model, "model")?;
        let (mut input, mut output) = (0.0, 0.0);
        check(unsafe {
            sys::router_model_price(self.raw.as_ptr(), model.as_ptr(), &mut input, &mut output)
        })?;
        Ok((input, output))
    }

    /// Reports what a decision really cost (`expected_usd`: its cost). A
    /// budget policy paces on the difference; other policies ignore it.
    pub fn record_cost(&self, expected_usd: f64, realised_usd: f64) -> Result<()> {
        check(unsafe { sys::router_record_cost(self.raw.as_ptr(), expected_usd, realised_usd) })
    }

    /// Adds a model while other threads keep routing, and has the router
    /// learn it from labelled examples.
    ///
    /// `profile_json` is the model's entry of the config's "models" list
    /// (`{"name": ..., "input_usd_per_mtok": ..., "output_usd_per_mtok": ...}`).
    /// The examples are `scores.len()` queries: `vectors` holds their rows of
    /// `dim` floats back to back, `scores` the new model's score on each in
    /// [0, 1], `costs_usd` its observed cost on each (None: the profile's
    /// prices). Without examples (`&[], 0, &[], None`) only a linucb router
    /// can add a model; kNN cannot add one at all ([`status::UNIMPLEMENTED`]).
    /// A taken name is [`status::ALREADY_EXISTS`] (a removed model's name is
    /// free again).
    /// On error nothing changes.
    pub fn add_model(
        &self,
        profile_json: &str,
        vectors: &[f32],
        dim: usize,
        scores: &[f64],
        costs_usd: Option<&[f64]>,
    ) -> Result<()> {
        // C reads `count` rows through raw pointers: check every length first.
        let count = scores.len();
        if count.checked_mul(dim) != Some(vectors.len()) {
            return Err(Error::invalid_argument(format!(
                "{count} scores with dim {dim} need {} floats, got {}",
                count.saturating_mul(dim),
                vectors.len()
            )));
        }
        if let Some(costs) = costs_usd.filter(|costs| costs.len() != count) {
            return Err(Error::invalid_argument(format!(
                "costs_usd has {} entries for {count} examples",
                costs.len()
            )));
        }
        let profile = c_string(profile_json, "profile_json")?;
        check(unsafe {
            sys::router_add_model(
                self.raw.as_ptr(),
                profile.as_ptr(),
                ptr_or_null(vectors),
                count,
                dim,
                ptr_or_null(scores),
                costs_usd.map_or(ptr::null(), ptr_or_null),
            )
        })
    }

    /// Marks a model down (every policy skips it, e.g. during an outage) or
    /// up again.
    pub fn set_model_available(&self, model: &str, available: bool) -> Result<()> {
        let model = c_string(model, "model")?;
        check(unsafe {
            sys::router_set_model_available(self.raw.as_ptr(), model.as_ptr(), available as i32)
        })
    }

    /// Replaces the policy by the config's "policy" object given as JSON,
    /// e.g. `{"kind": "budget", "target_cost_usd": 0.0002}`. On error the
    /// current policy stays.
    pub fn set_policy(&self, policy_json: &str) -> Result<()> {
        let policy = c_string(policy_json, "policy_json")?;
        check(unsafe { sys::router_set_policy(self.raw.as_ptr(), policy.as_ptr()) })
    }

    /// Sets a threshold policy's threshold so that `strong_share` (in [0, 1])
    /// of the sample queries go to the strong model, and returns it.
    /// `vectors` holds the queries' rows of `dim` floats back to back. A
    /// policy of another kind is [`status::FAILED_PRECONDITION`].
    pub fn calibrate_threshold(
        &self,
        vectors: &[f32],
        dim: usize,
        strong_share: f64,
    ) -> Result<f64> {
        if dim == 0 || vectors.len() % dim != 0 {
            return Err(Error::invalid_argument(format!(
                "{} floats are not whole rows of dim {dim}",
                vectors.len()
            )));
        }
        let mut threshold = 0.0;
        check(unsafe {
            sys::router_calibrate_threshold(
                self.raw.as_ptr(),
                ptr_or_null(vectors),
                vectors.len() / dim,
                dim,
                strong_share,
                &mut threshold,
            )
        })?;
        Ok(threshold)
    }

    /// The policy's live state as one JSON object: its kind and parameters;
    /// for "budget" the pacing price, spend and requests so far; for
    /// "threshold" the threshold, decisions made and realised strong share.
    pub fn policy_state(&self) -> Result<String> {
        read_text(|buf, capacity, needed| unsafe {
            sys::router_policy_state_json(self.raw.as_ptr(), buf, capacity, needed)
        })
    }

    /// Starts sharing this router's learning and policy counters with the
    /// other replicas using the same store (docs/scale-out.md). `options_json`:
    /// `{"replica_id": "pod-3", "store": "redis" or "memory:NAME",
    /// "interval_ms": 200, "redis": {"host", "port", "key_prefix",
    /// "timeout_ms", "password_env", "password"}}` (router_c.h,
    /// `router_sync_start`). `"memory:NAME"` is a store in this process,
    /// shared by the routers started with the same NAME. When the router's
    /// configuration (the config it was fitted with, or the one saved in the
    /// file it was loaded from) has a `"sync"` block (docs/configuration.md),
    /// every key is optional: `"{}"` starts the sync the block describes, and
    /// the keys given override the block's, e.g. `{"replica_id": "pod-3"}` to
    /// name this replica. Without a block, `"{}"` is
    /// [`status::INVALID_ARGUMENT`] (`replica_id` is required), and `""` is
    /// not JSON: [`status::INVALID_ARGUMENT`] too. A router syncs once
    /// ([`status::FAILED_PRECONDITION`] after that): to sync anew, load the
    /// file again and start under the same replica id. Redis in a build
    /// without it is [`status::UNIMPLEMENTED`]. The sync borrows the router,
    /// so it stops (on drop, or [`StateSync::stop`]) before the router can
    /// be dropped.
    pub fn start_sync(&self, options_json: &str) -> Result<StateSync<'_>> {
        let options = c_string(options_json, "options_json")?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::router_sync_start(self.raw.as_ptr(), options.as_ptr(), &mut raw) })?;
        Ok(StateSync::new(
            NonNull::new(raw).expect("router_sync_start returned OK and NULL"),
        ))
    }

    /// The size of the query vectors the router takes.
    pub fn dim(&self) -> Result<usize> {
        let mut dim = 0;
        check(unsafe { sys::router_dim(self.raw.as_ptr(), &mut dim) })?;
        Ok(dim as usize)
    }

    /// The number of candidate models.
    pub fn model_count(&self) -> Result<usize> {
        let mut count = 0;
        check(unsafe { sys::router_model_count(self.raw.as_ptr(), &mut count) })?;
        Ok(count as usize)
    }

    /// The name of the model at `index`; it lives as long as the router.
    pub fn model_name(&self, index: usize) -> Result<&str> {
        let index = i32::try_from(index)
            .map_err(|_| Error::invalid_argument(format!("model index {index} is too large")))?;
        let mut name = ptr::null();
        check(unsafe { sys::router_model_name(self.raw.as_ptr(), index, &mut name) })?;
        // SAFETY: valid until router_free, i.e. as long as &self.
        Ok(unsafe { borrowed_str(name) })
    }

    /// Every candidate model's name, in index order.
    pub fn models(&self) -> Result<Vec<&str>> {
        (0..self.model_count()?)
            .map(|i| self.model_name(i))
            .collect()
    }

    /// The vector the router routes `text` by (its built-in featurizer).
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>> {
        let text = c_string(text, "text")?;
        let mut vector = vec![0.0f32; self.dim()?];
        check(unsafe {
            sys::router_embed_text(
                self.raw.as_ptr(),
                text.as_ptr(),
                vector.as_mut_ptr(),
                vector.len(),
            )
        })?;
        Ok(vector)
    }

    /// Routes a prompt.
    pub fn route_text(&self, text: &str) -> Result<Decision> {
        let text = c_string(text, "text")?;
        Decision::create(|out| unsafe {
            sys::router_route_text(self.raw.as_ptr(), text.as_ptr(), out)
        })
    }

    /// Routes a query vector the host computed; `input_tokens` is the prompt's
    /// length in tokens (0 = unknown).
    pub fn route_vector(&self, vector: &[f32], input_tokens: i64) -> Result<Decision> {
        Decision::create(|out| unsafe {
            sys::router_route_vector(
                self.raw.as_ptr(),
                vector.as_ptr(),
                vector.len(),
                input_tokens,
                out,
            )
        })
    }

    /// Routes a prompt with this request's own policy parameters. An unknown
    /// allowed model is [`status::INVALID_ARGUMENT`].
    pub fn route_text_with(&self, text: &str, options: &RouteOptions) -> Result<Decision> {
        let text = c_string(text, "text")?;
        options.with_raw(|options| {
            Decision::create(|out| unsafe {
                sys::router_route_text_with(self.raw.as_ptr(), text.as_ptr(), options, out)
            })
        })?
    }

    /// Like [`Router::route_vector`], with this request's own policy
    /// parameters.
    pub fn route_vector_with(
        &self,
        vector: &[f32],
        input_tokens: i64,
        options: &RouteOptions,
    ) -> Result<Decision> {
        options.with_raw(|options| {
            Decision::create(|out| unsafe {
                sys::router_route_vector_with(
                    self.raw.as_ptr(),
                    vector.as_ptr(),
                    vector.len(),
                    input_tokens,
                    options,
                    out,
                )
            })
        })?
    }

    /// Routes `vectors`, consecutive rows of [`Router::dim`] floats, in one
    /// call. `input_tokens`: None, or one count per row (0 = unknown).
    pub fn route_batch(
        &self,
        vectors: &[f32],
        input_tokens: Option<&[i64]>,
    ) -> Result<BatchRoutes> {
        let dim = self.dim()?;
        if vectors.len() % dim != 0 {
            return Err(Error::invalid_argument(format!(
                "{} floats are not whole rows of {dim}",
                vectors.len()
            )));
        }
        let count = vectors.len() / dim;
        let mut routes = BatchRoutes {
            model_index: vec![0; count],
            quality: vec![0.0; count],
            cost_usd: vec![0.0; count],
        };
        self.route_batch_into(
            vectors,
            dim,
            input_tokens,
            &mut routes.model_index,
            Some(&mut routes.quality),
            Some(&mut routes.cost_usd),
        )?;
        Ok(routes)
    }

    /// Routes `model_index.len()` queries into the caller's slices. Query i is
    /// the [`Router::dim`] floats at `vectors[i * stride..]` (`stride >= dim`,
    /// so rows may be padded). `quality` and `cost_usd`, when given, and
    /// `input_tokens` have one entry per query.
    pub fn route_batch_into(
        &self,
        vectors: &[f32],
        stride: usize,
        input_tokens: Option<&[i64]>,
        model_index: &mut [i32],
        quality: Option<&mut [f64]>,
        cost_usd: Option<&mut [f64]>,
    ) -> Result<()> {
        let count = model_index.len();
        let dim = self.dim()?;
        // The C call reads and writes through raw pointers: check every length
        // first. (A concurrent reload changing dim makes the C call refuse our
        // dim, so these checks stay sound.)
        if stride < dim {
            return Err(Error::invalid_argument(format!(
                "stride {stride} is below dim {dim}"
            )));
        }
        if count > 0 && vectors.len() < (count - 1) * stride + dim {
            return Err(Error::invalid_argument(format!(
                "{count} rows of stride {stride} need {} floats, got {}",
                (count - 1) * stride + dim,
                vectors.len()
            )));
        }
        let lengths = [
            ("input_tokens", input_tokens.map(|s| s.len())),
            ("quality", quality.as_ref().map(|s| s.len())),
            ("cost_usd", cost_usd.as_ref().map(|s| s.len())),
        ];
        for (what, length) in lengths {
            if let Some(length) = length.filter(|&length| length != count) {
                return Err(Error::invalid_argument(format!(
                    "{what} has {length} entries for {count} queries"
                )));
            }
        }
        check(unsafe {
            sys::router_route_batch(
                self.raw.as_ptr(),
                vectors.as_ptr(),
                count,
                dim,
                stride,
                input_tokens.map_or(ptr::null(), |s| s.as_ptr()),
                model_index.as_mut_ptr(),
                quality.map_or(ptr::null_mut(), |s| s.as_mut_ptr()),
                cost_usd.map_or(ptr::null_mut(), |s| s.as_mut_ptr()),
            )
        })
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        unsafe { sys::router_free(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("models", &self.models())
            .finish()
    }
}

/// One routing decision: the chosen model, its ranked fallbacks, and the
/// figures and trace behind the choice. Independent of its router.
pub struct Decision {
    raw: NonNull<sys::router_decision_t>,
}

// SAFETY: router_c.h: a decision may be read from several threads at once and
// freed from any thread, once (Drop).
unsafe impl Send for Decision {}
unsafe impl Sync for Decision {}

impl Decision {
    fn create(
        call: impl FnOnce(*mut *mut sys::router_decision_t) -> sys::router_status_t,
    ) -> Result<Decision> {
        let mut raw = ptr::null_mut();
        check(call(&mut raw))?;
        Ok(Decision {
            raw: NonNull::new(raw).expect("router_route returned OK and NULL"),
        })
    }

    // The accessors fail only on NULL arguments, which a Decision never passes.
    fn read<T: Default>(
        &self,
        accessor: unsafe extern "C" fn(*const sys::router_decision_t, *mut T) -> i32,
    ) -> T {
        let mut value = T::default();
        let status = unsafe { accessor(self.raw.as_ptr(), &mut value) };
        assert_eq!(status, sys::ROUTER_OK, "a decision accessor failed");
        value
    }

    fn read_text(
        &self,
        writer: unsafe extern "C" fn(
            *const sys::router_decision_t,
            *mut c_char,
            usize,
            *mut usize,
        ) -> i32,
    ) -> String {
        read_text(|buf, capacity, needed| unsafe {
            writer(self.raw.as_ptr(), buf, capacity, needed)
        })
        .expect("a decision accessor failed")
    }

    /// The chosen model's name.
    pub fn model(&self) -> &str {
        let mut name = ptr::null();
        let status = unsafe { sys::router_decision_model(self.raw.as_ptr(), &mut name) };
        assert_eq!(status, sys::ROUTER_OK, "a decision accessor failed");
        // SAFETY: valid until router_decision_free, i.e. as long as &self.
        unsafe { borrowed_str(name) }
    }

    /// The chosen model's index (see [`Router::model_name`]).
    pub fn model_index(&self) -> usize {
        self.read(sys::router_decision_model_index) as usize
    }

    /// The chosen model's predicted quality, in [0, 1].
    pub fn quality(&self) -> f64 {
        self.read(sys::router_decision_quality)
    }

    /// The chosen model's expected cost for this query, in USD.
    pub fn cost_usd(&self) -> f64 {
        self.read(sys::router_decision_cost_usd)
    }

    /// The other eligible models, in the order to retry them.
    pub fn fallbacks(&self) -> Vec<&str> {
        let count = self.read(sys::router_decision_fallback_count);
        (0..count)
            .map(|i| {
                let mut name = ptr::null();
                let status =
                    unsafe { sys::router_decision_fallback(self.raw.as_ptr(), i, &mut name) };
                assert_eq!(status, sys::ROUTER_OK, "a decision accessor failed");
                // SAFETY: valid as long as the decision.
                unsafe { borrowed_str(name) }
            })
            .collect()
    }

    /// The id to report this decision's outcome under ([`Router::feedback`]);
    /// 0 unless the router learns online.
    pub fn id(&self) -> u64 {
        self.read(sys::router_decision_id)
    }

    /// A readable paragraph explaining the choice.
    pub fn explanation(&self) -> String {
        self.read_text(sys::router_decision_explain)
    }

    /// The decision and its trace as one JSON object.
    pub fn json(&self) -> String {
        self.read_text(sys::router_decision_json)
    }
}

impl Drop for Decision {
    fn drop(&mut self) {
        unsafe { sys::router_decision_free(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decision")
            .field("model", &self.model())
            .field("quality", &self.quality())
            .field("cost_usd", &self.cost_usd())
            .field("fallbacks", &self.fallbacks())
            .finish()
    }
}
