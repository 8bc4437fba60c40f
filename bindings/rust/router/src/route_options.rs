//! Per-request parameters: [`RouteOptions`], passed to C as the
//! size-prefixed `router_route_options_t`.

use std::ffi::CString;
use std::mem::size_of;
use std::os::raw::c_char;
use std::ptr;

use router_sys as sys;

use crate::{c_string, Result};

/// One request's own policy parameters (docs/policies.md, "Per-request
/// overrides") and the task it comes from, for [`Router::route_text_with`](crate::Router::route_text_with)
/// and [`Router::route_vector_with`](crate::Router::route_vector_with). What
/// is left `None` or empty keeps the router's setting.
///
/// ```no_run
/// # fn demo(router: &router::Router) -> router::Result<()> {
/// let options = router::RouteOptions {
///     allowed_models: vec!["small".into(), "writer".into()],
///     ..Default::default()
/// };
/// let decision = router.route_text_with("hello there", &options)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouteOptions {
    /// Quality per USD for `max_utility`, or in place of budget pacing's dual
    /// price; finite, >= 0.
    pub lambda: Option<f64>,
    /// `quality_floor`'s floor in [0, 1], or the threshold policy's threshold
    /// in [-1, 1].
    pub tau: Option<f64>,
    /// The only catalog models this request may go to; empty: any.
    pub allowed_models: Vec<String>,
    /// One of the policy's budget classes (its lambda, tau and allow-list
    /// apply where the fields above set none); `None`: no class.
    pub budget_class: Option<String>,
    /// The task or application the request comes from, as the training rows
    /// named it (their "source"): a cluster router then uses that task's
    /// estimates. A task the router did not learn is ignored; `None`: none.
    pub task: Option<String>,
}

impl RouteOptions {
    /// Calls `call` with these options in C form, valid during the call.
    pub(crate) fn with_raw<T>(
        &self,
        call: impl FnOnce(*const sys::router_route_options_t) -> T,
    ) -> Result<T> {
        let names = self
            .allowed_models
            .iter()
            .map(|name| c_string(name, "an allowed model"))
            .collect::<Result<Vec<CString>>>()?;
        let pointers: Vec<*const c_char> = names.iter().map(|name| name.as_ptr()).collect();
        let budget_class = self
            .budget_class
            .as_deref()
            .map(|name| c_string(name, "a budget class"))
            .transpose()?;
        let task = self
            .task
            .as_deref()
            .map(|name| c_string(name, "a task"))
            .transpose()?;
        let mut flags = 0;
        if self.lambda.is_some() {
            flags |= sys::ROUTER_OVERRIDE_LAMBDA;
        }
        if self.tau.is_some() {
            flags |= sys::ROUTER_OVERRIDE_TAU;
        }
        let raw = sys::router_route_options_t {
            struct_size: size_of::<sys::router_route_options_t>() as u32,
            flags,
            lambda: self.lambda.unwrap_or(0.0),
            tau: self.tau.unwrap_or(0.0),
            allowed_models: if pointers.is_empty() {
                ptr::null()
            } else {
                pointers.as_ptr()
            },
            allowed_model_count: pointers.len(),
            budget_class: budget_class
                .as_ref()
                .map_or(ptr::null(), |name| name.as_ptr()),
            task: task.as_ref().map_or(ptr::null(), |name| name.as_ptr()),
        };
        Ok(call(&raw))
    }
}
