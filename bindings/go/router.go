// Package router routes each prompt to the LLM that should answer it: the Go
// binding of librouter's C ABI (router_c.h), through cgo.
//
//	r, err := router.FromDataset("queries.jsonl", `{"policy": {"lambda": 100}}`)
//	if err != nil { ... }
//	defer r.Close()
//	d, err := r.Route("Why does free() crash?")
//	fmt.Println(d.Model, d.Quality, d.CostUSD)
//
// Building needs librouter_c's pkg-config file (router_c.pc) on
// PKG_CONFIG_PATH, or CGO_CFLAGS/CGO_LDFLAGS naming its include and lib dirs.
//
// Threads: every method of a Router may be called from many goroutines at
// once, except Close, which must not overlap any other call. Errors are
// *Error values carrying the C status and message.
package router

/*
#cgo pkg-config: router_c
#include "cgo_helpers.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// ABIVersion is the C ABI version this package is written against.
const ABIVersion = 1

// Status is a C status code (ROUTER_* in router_c.h); the values are frozen.
type Status int32

const (
	OK                 Status = 0
	Cancelled          Status = 1
	Unknown            Status = 2
	InvalidArgument    Status = 3
	DeadlineExceeded   Status = 4
	NotFound           Status = 5
	AlreadyExists      Status = 6
	PermissionDenied   Status = 7
	ResourceExhausted  Status = 8
	FailedPrecondition Status = 9
	Aborted            Status = 10
	OutOfRange         Status = 11
	Unimplemented      Status = 12
	Internal           Status = 13
	Unavailable        Status = 14
	DataLoss           Status = 15
	Unauthenticated    Status = 16
)

// String is the code's C name, e.g. "ROUTER_NOT_FOUND".
func (s Status) String() string {
	return C.GoString(C.router_status_name(C.router_status_t(s)))
}

// Error is a failed call: its status and librouter's message.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string { return e.Status.String() + ": " + e.Message }

// ErrClosed is returned by calls on a Router after Close.
var ErrClosed = errors.New("router: the router is closed")

func toError(result C.go_result) error {
	if result.status == C.ROUTER_OK {
		return nil
	}
	err := &Error{Status: Status(result.status), Message: C.GoString(result.message)}
	C.free(unsafe.Pointer(result.message))
	return err
}

func invalidArgument(format string, args ...interface{}) error {
	return &Error{Status: InvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// cString is a C copy of s (NULL for "" when emptyIsNull); free it with
// C.free. A NUL byte would silently cut the string short in C: refused.
func cString(s string, emptyIsNull bool) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, invalidArgument("%q contains a NUL byte", s)
	}
	if s == "" && emptyIsNull {
		return nil, nil
	}
	return C.CString(s), nil
}

func floats(v []float32) *C.float {
	if len(v) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&v[0]))
}

func doubles(v []float64) *C.double {
	if len(v) == 0 {
		return nil
	}
	return (*C.double)(unsafe.Pointer(&v[0]))
}

// Version is the linked librouter_c's version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.router_version_string()) }

// SimdTarget is the instruction set the linked librouter_c's SIMD kernels
// chose at run time for this CPU, as Highway names it: "AVX3" (AVX-512),
// "AVX2", "SSE4", "NEON", ..., or "EMU128" / "SCALAR" (no SIMD beyond the
// baseline). What to quote in a performance report.
func SimdTarget() string { return C.GoString(C.router_simd_target()) }

// LinkedABIVersion is the linked librouter_c's ABI version.
func LinkedABIVersion() int { return int(C.router_abi_version()) }

// Router is a fitted router (a C router_t). Free it with Close; a finalizer
// frees one that is dropped unclosed.
type Router struct {
	raw *C.router_t
}

func newRouter(raw *C.router_t) *Router {
	r := &Router{raw: raw}
	runtime.SetFinalizer(r, (*Router).Close)
	return r
}

// FromDataset fits a router on a JSONL dataset (rows with split "train" or
// none). config is the pipeline configuration as JSON, "" for the defaults.
func FromDataset(dataset, config string) (*Router, error) {
	return FromDatasetWithVectors(dataset, "", config)
}

// FromDatasetWithVectors is FromDataset with the host's query vectors (a
// .npy matrix, one row per JSONL line); "" for none.
func FromDatasetWithVectors(dataset, vectors, config string) (*Router, error) {
	cDataset, err := cString(dataset, false)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cDataset))
	cVectors, err := cString(vectors, true)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cVectors))
	cConfig, err := cString(config, true)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cConfig))
	var raw *C.router_t
	if err := toError(C.go_create_from_dataset(cDataset, cVectors, cConfig, &raw)); err != nil {
		return nil, err
	}
	return newRouter(raw), nil
}

// Load loads a router written by Save; a damaged file is a DataLoss error.
func Load(path string) (*Router, error) {
	cPath, err := cString(path, false)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cPath))
	var raw *C.router_t
	if err := toError(C.go_load(cPath, &raw)); err != nil {
		return nil, err
	}
	return newRouter(raw), nil
}

// Close frees the router. It must not overlap any other call on r; calling
// it again does nothing.
func (r *Router) Close() {
	if r.raw != nil {
		C.router_free(r.raw)
		r.raw = nil
		runtime.SetFinalizer(r, nil)
	}
}

// withString calls call with r's handle and text as a C string (freed after
// the call), for the calls that take one string.
func (r *Router) withString(text string, call func(raw *C.router_t, cText *C.char) C.go_result) error {
	if r.raw == nil {
		return ErrClosed
	}
	cText, err := cString(text, false)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cText))
	err = toError(call(r.raw, cText))
	runtime.KeepAlive(r) // the finalizer must not free r.raw during the call
	return err
}

// Save writes the router to one file, atomically.
func (r *Router) Save(path string) error {
	return r.withString(path, func(raw *C.router_t, c *C.char) C.go_result {
		return C.go_save(raw, c)
	})
}

// Reload swaps in the router saved at path while other goroutines keep
// routing; on error the current one keeps serving.
func (r *Router) Reload(path string) error {
	return r.withString(path, func(raw *C.router_t, c *C.char) C.go_result {
		return C.go_reload(raw, c)
	})
}

// Dim is the size of the query vectors the router takes.
func (r *Router) Dim() (int, error) {
	if r.raw == nil {
		return 0, ErrClosed
	}
	var dim C.int32_t
	err := toError(C.go_dim(r.raw, &dim))
	runtime.KeepAlive(r)
	return int(dim), err
}

// Models are the candidate models' names, in index order.
func (r *Router) Models() ([]string, error) {
	if r.raw == nil {
		return nil, ErrClosed
	}
	defer runtime.KeepAlive(r)
	var count C.int32_t
	if err := toError(C.go_model_count(r.raw, &count)); err != nil {
		return nil, err
	}
	names := make([]string, count)
	for i := range names {
		var name *C.char
		if err := toError(C.go_model_name(r.raw, C.int32_t(i), &name)); err != nil {
			return nil, err
		}
		names[i] = C.GoString(name)
	}
	return names, nil
}

// EmbedText writes the vector the router routes text by into out (Dim
// floats) and returns out[:Dim].
func (r *Router) EmbedText(text string, out []float32) ([]float32, error) {
	if r.raw == nil {
		return nil, ErrClosed
	}
	cText, err := cString(text, false)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cText))
	err = toError(C.go_embed_text(r.raw, cText, floats(out), C.size_t(len(out))))
	runtime.KeepAlive(r)
	if err != nil {
		return nil, err
	}
	dim, err := r.Dim()
	if err != nil {
		return nil, err
	}
	return out[:dim], nil
}
