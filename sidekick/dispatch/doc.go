// Package dispatch fans accepted events out to the sidekick's outputs.
//
// # How it works
//
// Every output (a Route) gets its own bounded queue (a buffered channel of
// QueueSize) and Workers goroutines that drain it; nothing is shared between
// outputs, so a slow or dead output only fills its own queue, never delays
// another. Enqueue never blocks: for each route whose Filter matches, the
// event is offered to the queue; a full queue drops the newest event and
// counts it (output_drops_total{reason="queue_full"}), as tetragon's
// per-listener channels do.
//
// A worker calls Output.Send (or SendBatch for an outputs.BatchOutput, after
// collecting up to MaxBatch events or waiting MaxWait since the first one),
// each attempt bounded by AttemptTimeout. On failure it reads the
// *outputs.SendError: a non-retryable error drops the event
// (reason="non_retryable"); a retryable one waits Backoff(n) — exponential
// with jitter — or the server's RetryAfter if longer, and tries again, at
// most MaxRetries times (reason="max_retries" after) and never past MaxAge
// since the event was queued (reason="max_age"). An error that is not a
// *SendError is retried with reason "unknown".
//
// Shutdown stops intake, lets the workers drain the queues, and at the
// context's deadline cancels what is still in flight; every event not
// delivered by then is counted with reason="shutdown".
//
// Metrics (all pre-created at zero for every route, labels bounded):
// outputs_total{destination,status}, output_retries_total{destination,
// reason}, output_drops_total{destination,reason},
// output_filtered_total{destination}, output_queue_depth{destination},
// delivery_latency_seconds{destination} (queued → delivered).
package dispatch
