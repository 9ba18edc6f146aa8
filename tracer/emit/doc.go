// Package emit delivers tracer events without ever making the stop loop wait:
// HTTP sends batched NDJSON to the sidekick, Writer writes JSON lines to
// stdout or a file.
//
// How it works:
//
//   - Emit (called on the stop loop) estimates the event's JSON size from its
//     string lengths and appends it to a bounded in-memory queue under a short
//     mutex. It does not marshal: encoding/json takes ~4 µs for a typical
//     alert, as long as the trapped syscall itself, so marshalling happens on
//     the sender goroutine (BenchmarkEmit and BenchmarkMarshal measure both).
//     The caller must therefore not modify an event after emitting it. The
//     sender takes events in chunks of 64 per critical section, so Emit
//     never waits behind a whole batch.
//   - The queue is bounded by count and by bytes, counting the batch in
//     flight, so telemetry memory is fixed by configuration. Alerts and logs
//     wait in two FIFOs merged back in emission order by a sequence number.
//     When the queue is full an incoming log is dropped; an incoming alert
//     evicts the oldest queued logs if that makes room, and is dropped only
//     when alerts alone fill the queue. Every drop is counted by type.
//   - One sender goroutine takes up to MaxBatchEvents/MaxBatchBytes, marshals
//     them into one NDJSON body and POSTs it (Content-Type
//     application/x-ndjson, optional bearer token, TLS/mTLS) over a keep-alive
//     connection. Batching is natural: whatever queued up while the previous
//     POST was in flight goes in the next one, so an idle tracer sends at once
//     and a busy one sends large batches.
//   - Connection errors, 5xx, 408 and 429 are retried with exponential backoff
//     and jitter (Retry-After wins when present); meanwhile the queue absorbs
//     events up to its bound and drops beyond it. Any other 4xx means the
//     sidekick refuses content and is never retried: the sidekick keeps the
//     valid events of a body and its 400 answer counts them ("accepted"), so
//     the rest are counted as Rejected (all of them when no count is given);
//     resending would duplicate the accepted ones. A 413 is the exception:
//     the batch is halved until it fits. Each distinct refusal text is
//     logged once.
//   - Delivery is at least once: if the sidekick delivered a batch but its
//     answer was lost, the retry resends it. Every POST carries an
//     Idempotency-Key naming its events (emitter ID, first sequence number,
//     count), the same on every retry, so a sidekick can drop duplicates.
//   - After a successful POST, if events were dropped because the queue was
//     full since the last report, the sender sends a KubeArmor SystemEvent
//     alert (Operation AlertThreshold, PolicyName "bluelock-emitter") whose
//     message gives the exact number of alerts and logs lost. Close sends a
//     last one after the final flush.
//   - Stats counts every event exactly once (Emitted = Sent + Dropped +
//     Rejected + Queued); Collector exports it as bluelock_emitter_* metrics.
//   - Close stops accepting events and flushes until its context is done; the
//     batch in flight and the queue are then counted as dropped and the error
//     says how many.
package emit
