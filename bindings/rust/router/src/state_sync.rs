//! Replica state sync: [`StateSync`], over the C ABI's `router_sync_t`.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use router_sys as sys;

use crate::{c_string, check, read_text, Error, Result, Router};

/// A router's state sync with the other replicas that use the same store,
/// from [`Router::start_sync`]: what the router learns from feedback and its
/// policy's spend are shared, so every replica routes as if it had seen all
/// the feedback. A library thread runs a round every `interval_ms`; dropping
/// the sync (or [`StateSync::stop`]) stops it after one last round.
///
/// ```no_run
/// # fn demo(router: &router::Router) -> router::Result<()> {
/// let sync = router.start_sync(r#"{"replica_id": "pod-3", "store": "redis"}"#)?;
/// // ... route and report feedback on `router` as usual ...
/// println!("{} ms behind", sync.status()?.lag_ms);
/// # Ok(())
/// # }
/// ```
pub struct StateSync<'r> {
    raw: NonNull<sys::router_sync_t>,
    // The C sync points into its router: it must not outlive it.
    _router: PhantomData<&'r Router>,
}

// SAFETY: router_c.h: router_sync_now and router_sync_status_json may run on
// many threads at once; router_sync_stop (Drop) has the sync to itself.
unsafe impl Send for StateSync<'_> {}
unsafe impl Sync for StateSync<'_> {}

/// A sync's state (`router_sync_status_json` in router_c.h).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStatus {
    pub replica_id: String,
    /// "redis" or "memory:NAME".
    pub store: String,
    /// The last round reached the store.
    pub connected: bool,
    /// Rounds that reached the store.
    pub rounds: i64,
    /// Rounds that did not.
    pub failed_rounds: i64,
    /// Payloads this replica wrote.
    pub published: i64,
    /// Other replicas' payloads added.
    pub applied: i64,
    /// Payloads refused (corrupt, hostile, from another fitted file).
    pub rejected: i64,
    /// Rows in the store at the last round, this one included.
    pub replicas: i64,
    /// Milliseconds since the last round that reached the store; -1: never.
    pub lag_ms: i64,
    /// The last refusal or store error, for logs; "" if none.
    pub last_error: String,
    /// The other replicas' rows in the store (archives excluded): where a
    /// host looks for replicas that are gone, to fold them.
    pub rows: Vec<SyncRow>,
}

/// Another replica's row in the store, as this replica last saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncRow {
    /// The replica that wrote it.
    pub replica: String,
    /// Milliseconds since this replica saw the row change, or first saw it.
    /// Long means gone, or idle: a hint, not proof.
    pub unchanged_ms: i64,
}

impl<'r> StateSync<'r> {
    pub(crate) fn new(raw: NonNull<sys::router_sync_t>) -> StateSync<'r> {
        StateSync {
            raw,
            _router: PhantomData,
        }
    }

    /// Runs one round now, on this thread: adds what the other replicas
    /// published and publishes this one's contribution.
    /// [`status::UNAVAILABLE`](crate::status::UNAVAILABLE) when the store
    /// cannot be reached (routing goes on; nothing is lost).
    pub fn now(&self) -> Result<()> {
        check(unsafe { sys::router_sync_now(self.raw.as_ptr()) })
    }

    /// For a replica leaving for good (call it on SIGTERM, then drop the
    /// sync): a last round, then this replica's row folded into the store's
    /// archive row, atomically. The sync runs no more rounds
    /// ([`now`](Self::now) then fails with
    /// [`status::FAILED_PRECONDITION`](crate::status::FAILED_PRECONDITION)).
    /// On an error (UNAVAILABLE: the store cannot be reached; ABORTED;
    /// FAILED_PRECONDITION) nothing was folded: the row stays and counts.
    pub fn retire(&self) -> Result<()> {
        check(unsafe { sys::router_sync_retire(self.raw.as_ptr()) })
    }

    /// Folds the row of another replica, known to be gone for good (killed,
    /// its node lost, no restart under that id), into the store's archive
    /// row, as its own [`retire`](Self::retire) would have, and deletes the
    /// row. A replica folded while alive stops syncing. On an error
    /// (NOT_FOUND: no such row; INVALID_ARGUMENT: not another replica's id;
    /// FAILED_PRECONDITION: a row of another fitted file; ABORTED: the row
    /// kept changing; UNAVAILABLE) nothing changed.
    pub fn fold(&self, replica_id: &str) -> Result<()> {
        let replica_id = c_string(replica_id, "replica_id")?;
        check(unsafe { sys::router_sync_fold(self.raw.as_ptr(), replica_id.as_ptr()) })
    }

    /// The sync's state as the library's JSON object (keys may be added).
    pub fn status_json(&self) -> Result<String> {
        read_text(|buf, capacity, needed| unsafe {
            sys::router_sync_status_json(self.raw.as_ptr(), buf, capacity, needed)
        })
    }

    /// The sync's state now; it never waits for the store.
    pub fn status(&self) -> Result<SyncStatus> {
        let text = self.status_json()?;
        parse_status(&text).ok_or_else(|| Error {
            status: crate::status::INTERNAL,
            message: format!("cannot read the sync status {text}"),
        })
    }

    /// Stops the sync after one last round and frees it (as dropping it
    /// does); the router keeps what it learned.
    pub fn stop(self) {}
}

impl Drop for StateSync<'_> {
    fn drop(&mut self) {
        unsafe { sys::router_sync_stop(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for StateSync<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateSync")
            .field("status", &self.status())
            .finish()
    }
}

/// A value of the status object: what SyncStatus has fields for.
enum Value {
    Bool(bool),
    Int(i64),
    Text(String),
    Other,
}

/// Reads the flat JSON object the library writes; keys it does not know
/// (added later) are skipped, whatever their value.
fn parse_status(text: &str) -> Option<SyncStatus> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut s = SyncStatus::default();
    p.object(|p, key| {
        if key == "rows" {
            s.rows = p.rows()?;
            return Some(());
        }
        match (key.as_str(), p.value()?) {
            ("replica_id", Value::Text(v)) => s.replica_id = v,
            ("store", Value::Text(v)) => s.store = v,
            ("connected", Value::Bool(v)) => s.connected = v,
            ("rounds", Value::Int(v)) => s.rounds = v,
            ("failed_rounds", Value::Int(v)) => s.failed_rounds = v,
            ("published", Value::Int(v)) => s.published = v,
            ("applied", Value::Int(v)) => s.applied = v,
            ("rejected", Value::Int(v)) => s.rejected = v,
            ("replicas", Value::Int(v)) => s.replicas = v,
            ("lag_ms", Value::Int(v)) => s.lag_ms = v,
            ("last_error", Value::Text(v)) => s.last_error = v,
            (
                "replica_id" | "store" | "connected" | "rounds" | "failed_rounds" | "published"
                | "applied" | "rejected" | "replicas" | "lag_ms" | "last_error",
                _,
            ) => return None, // a known key with a value of another type
            _ => {}
        }
        Some(())
    })?;
    Some(s)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    /// The next byte that is not white space, left unread.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b) = self.bytes.get(self.at) {
            if !b.is_ascii_whitespace() {
                return Some(*b);
            }
            self.at += 1;
        }
        None
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'"' => self.string().map(Value::Text),
            b't' | b'f' | b'n' => {
                let word = self.word();
                match word {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    "null" => Some(Value::Other),
                    _ => None,
                }
            }
            b'-' | b'0'..=b'9' => {
                let word = self.word();
                Some(word.parse().map_or(Value::Other, Value::Int))
            }
            b'{' | b'[' => self.skip_nested().map(|_| Value::Other),
            _ => None,
        }
    }

    /// An object: `member` is called with each key, the parser standing at
    /// its value, and must read the value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, String) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.expect(b':')?;
            member(self, key)?;
            match self.next()? {
                b',' => continue,
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// The "rows" array: objects with "replica" and "unchanged_ms"; their
    /// other keys (added later) are skipped.
    fn rows(&mut self) -> Option<Vec<SyncRow>> {
        self.expect(b'[')?;
        let mut rows = Vec::new();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(rows);
        }
        loop {
            let mut row = SyncRow::default();
            self.object(|p, key| {
                match (key.as_str(), p.value()?) {
                    ("replica", Value::Text(v)) => row.replica = v,
                    ("unchanged_ms", Value::Int(v)) => row.unchanged_ms = v,
                    ("replica" | "unchanged_ms", _) => return None,
                    _ => {}
                }
                Some(())
            })?;
            rows.push(row);
            match self.next()? {
                b',' => continue,
                b']' => return Some(rows),
                _ => return None,
            }
        }
    }

    /// A literal or number: the bytes up to the next delimiter.
    fn word(&mut self) -> &str {
        let start = self.at;
        while let Some(b) = self.bytes.get(self.at) {
            if matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace() {
                break;
            }
            self.at += 1;
        }
        std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("")
    }

    /// Skips an object or array (a key added later), strings included.
    fn skip_nested(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string()?;
                    if depth == 0 {
                        return None;
                    }
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth -= 1,
                _ => {}
            }
            self.at += 1;
            if depth == 0 {
                return Some(());
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.at;
            while !matches!(self.bytes.get(self.at)?, b'"' | b'\\') {
                self.at += 1;
            }
            out.push_str(std::str::from_utf8(&self.bytes[start..self.at]).ok()?);
            let b = self.bytes[self.at];
            self.at += 1;
            if b == b'"' {
                return Some(out);
            }
            let escape = *self.bytes.get(self.at)?;
            self.at += 1;
            out.push(match escape {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let high = self.hex4()?;
                    if (0xD800..0xDC00).contains(&high) {
                        // A surrogate pair: \uD83D\uDE00.
                        if self.bytes.get(self.at..self.at + 2)? != b"\\u" {
                            return None;
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&low) {
                            return None;
                        }
                        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                    } else {
                        char::from_u32(high)?
                    }
                }
                _ => return None,
            });
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = std::str::from_utf8(self.bytes.get(self.at..self.at + 4)?).ok()?;
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_object() {
        let s = parse_status(
            r#"{"replica_id":"pod-3","store":"memory:x","connected":true,"rounds":12,
                "failed_rounds":1,"published":3,"applied":20,"rejected":0,"replicas":3,
                "lag_ms":-1,"last_error":"a \"quoted\" \u00e9 \ud83d\ude00 \\ end",
                "added_later":{"a":[1,"}"]},"also":null}"#,
        )
        .unwrap();
        assert_eq!(s.replica_id, "pod-3");
        assert_eq!(s.store, "memory:x");
        assert!(s.connected);
        assert_eq!(
            (
                s.rounds,
                s.failed_rounds,
                s.published,
                s.applied,
                s.rejected,
                s.replicas
            ),
            (12, 1, 3, 20, 0, 3)
        );
        assert_eq!(s.lag_ms, -1);
        assert_eq!(s.last_error, "a \"quoted\" \u{e9} \u{1f600} \\ end");
        assert_eq!(parse_status("{}"), Some(SyncStatus::default()));
        assert!(s.rows.is_empty());
    }

    #[test]
    fn reads_the_rows() {
        let s = parse_status(
            r#"{"rows":[{"replica":"b","unchanged_ms":12},
                {"added_later":[1],"unchanged_ms":0,"replica":"c \"2\""},{}],"replicas":3}"#,
        )
        .unwrap();
        assert_eq!(
            s.rows,
            vec![
                SyncRow {
                    replica: "b".into(),
                    unchanged_ms: 12
                },
                SyncRow {
                    replica: "c \"2\"".into(),
                    unchanged_ms: 0
                },
                SyncRow::default(),
            ]
        );
        assert_eq!(s.replicas, 3);
        assert_eq!(parse_status(r#"{"rows":[]}"#).unwrap().rows, vec![]);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for text in [
            "",
            "{",
            r#"{"rounds":"3"}"#,
            r#"{"rounds":3"#,
            r#"{"last_error":"\ud83d"}"#,
            r#"{"a":1 "b":2}"#,
            "[]",
            r#"{"rows":3}"#,
            r#"{"rows":[{"replica":1}]}"#,
            r#"{"rows":[{"unchanged_ms":"5"}]}"#,
            r#"{"rows":[{}"#,
            r#"{"rows":[{} {}]}"#,
        ] {
            assert_eq!(parse_status(text), None, "{text}");
        }
    }
}
