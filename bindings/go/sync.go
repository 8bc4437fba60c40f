// Replica state sync: replicas of one service share what their routers
// learn, and their policies' spend, through a store (docs/scale-out.md).

package router

/*
#include "cgo_helpers.h"
*/
import "C"

import (
	"encoding/json"
	"errors"
	"runtime"
	"unsafe"
)

// ErrSyncStopped is returned by calls on a Sync after Stop.
var ErrSyncStopped = errors.New("router: the sync is stopped")

// Sync is a router's state sync with the other replicas (a C
// router_sync_t), from Router.StartSync. A thread of the library runs a
// round every interval_ms until Stop. Now and Status may be called from many
// goroutines at once; Stop must not overlap them. A finalizer stops a Sync
// that is dropped unstopped.
type Sync struct {
	raw    *C.router_sync_t
	router *Router // the C sync points into the router: keep it reachable
}

// SyncStatus is a sync's state (router_sync_status_json in router_c.h).
type SyncStatus struct {
	ReplicaID    string `json:"replica_id"`
	Store        string `json:"store"`         // "redis" or "memory:NAME"
	Connected    bool   `json:"connected"`     // the last round reached the store
	Rounds       int64  `json:"rounds"`        // rounds that reached the store
	FailedRounds int64  `json:"failed_rounds"` // rounds that did not
	Published    int64  `json:"published"`     // payloads this replica wrote
	Applied      int64  `json:"applied"`       // other replicas' payloads added
	Rejected     int64  `json:"rejected"`      // payloads refused (corrupt, another fitted file)
	Replicas     int64  `json:"replicas"`      // rows in the store, this one included
	LagMs        int64  `json:"lag_ms"`        // ms since the last round reached the store; -1: never
	LastError    string `json:"last_error"`    // the last refusal or store error; "" if none
	// The other replicas' rows in the store, each with the milliseconds
	// since this replica saw it change: where to look for replicas that are
	// gone (Fold). An idle replica's row does not change either.
	Rows []SyncRow `json:"rows"`
}

// SyncRow is one other replica's row in SyncStatus.Rows.
type SyncRow struct {
	Replica     string `json:"replica"`
	UnchangedMs int64  `json:"unchanged_ms"`
}

// StartSync starts sharing the router's learning and policy counters with
// the other replicas using the same store. optionsJSON is a JSON object:
// {"replica_id": "pod-3", "store": "redis" or "memory:NAME", "interval_ms":
// 200, "redis": {"host", "port", "key_prefix", "timeout_ms",
// "password_env", "password"}} (router_c.h, router_sync_start).
// "memory:NAME" is a store in this process, shared by the routers started
// with the same NAME. When the router's configuration (the config it was
// fitted with, or the one saved in the file it was loaded from) has a "sync"
// block (docs/configuration.md), every key is optional: "{}" starts the sync
// the block describes, and the keys given override the block's, e.g.
// `{"replica_id": "pod-3"}` to name this replica. Without a block, "{}" is
// InvalidArgument (replica_id is required), and "" is not JSON:
// InvalidArgument too. A router syncs once (FailedPrecondition after that):
// to sync anew, Load the file again and start under the same replica_id. A
// Redis store in a build without it is Unimplemented. Stop the sync before
// closing the router.
func (r *Router) StartSync(optionsJSON string) (*Sync, error) {
	if r.raw == nil {
		return nil, ErrClosed
	}
	cOptions, err := cString(optionsJSON, false)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cOptions))
	var raw *C.router_sync_t
	err = toError(C.go_sync_start(r.raw, cOptions, &raw))
	runtime.KeepAlive(r)
	if err != nil {
		return nil, err
	}
	s := &Sync{raw: raw, router: r}
	runtime.SetFinalizer(s, (*Sync).Stop)
	return s, nil
}

// Now runs one round on the calling goroutine: it adds what the other
// replicas published and publishes this one's contribution. Unavailable
// when the store cannot be reached (routing goes on; nothing is lost);
// FailedPrecondition once the router was closed.
func (s *Sync) Now() error {
	if s.raw == nil {
		return ErrSyncStopped
	}
	err := toError(C.go_sync_now(s.raw))
	runtime.KeepAlive(s)
	return err
}

// Retire is for a replica leaving for good (call it on SIGTERM, then
// Stop): a last round, then this replica's row folded into the store's
// archive row, atomically. The sync runs no more rounds (Now then returns
// FailedPrecondition). On an error (Unavailable: the store cannot be
// reached; Aborted; FailedPrecondition) nothing was folded: the row stays
// and counts.
func (s *Sync) Retire() error {
	if s.raw == nil {
		return ErrSyncStopped
	}
	err := toError(C.go_sync_retire(s.raw))
	runtime.KeepAlive(s)
	return err
}

// Fold folds the row of another replica, known to be gone for good
// (killed, its node lost, no restart under that id), into the store's
// archive row, as its own Retire would have, and deletes the row. A replica
// folded while alive stops syncing. On an error (NotFound: no such row;
// InvalidArgument: not another replica's id; FailedPrecondition: a row of
// another fitted file; Aborted: the row kept changing; Unavailable)
// nothing changed.
func (s *Sync) Fold(replicaID string) error {
	if s.raw == nil {
		return ErrSyncStopped
	}
	cID, err := cString(replicaID, false)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cID))
	err = toError(C.go_sync_fold(s.raw, cID))
	runtime.KeepAlive(s)
	return err
}

// Status is the sync's state now; it never waits for the store.
func (s *Sync) Status() (SyncStatus, error) {
	var status SyncStatus
	if s.raw == nil {
		return status, ErrSyncStopped
	}
	var text *C.char
	err := toError(C.go_sync_status(s.raw, &text))
	runtime.KeepAlive(s)
	if err != nil {
		return status, err
	}
	defer C.free(unsafe.Pointer(text))
	if err := json.Unmarshal([]byte(C.GoString(text)), &status); err != nil {
		return status, &Error{Status: Internal, Message: "sync status: " + err.Error()}
	}
	return status, nil
}

// Stop stops the sync after one last round and frees it; the router keeps
// what it learned. It must not overlap any other call on s; calling it
// again does nothing.
func (s *Sync) Stop() {
	if s.raw != nil {
		C.router_sync_stop(s.raw)
		s.raw = nil
		s.router = nil
		runtime.SetFinalizer(s, nil)
	}
}
