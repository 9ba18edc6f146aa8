package emit

// Stats are an emitter's counters, for the tracer's metrics. Every event
// handed to Emit ends up in exactly one of Sent, DroppedAlerts+DroppedLogs,
// Rejected, or is still held (Queued): Emitted = Sent + Dropped* + Rejected + Queued.
type Stats struct {
	// Emitted counts calls to Emit.
	Emitted uint64
	// Queued is what the emitter holds right now: queued plus in flight.
	Queued int
	// Sent counts events the sidekick (or the writer) accepted.
	Sent uint64
	// DroppedAlerts and DroppedLogs count events lost to a full queue, to
	// Emit after Close, or to a Close whose deadline passed.
	DroppedAlerts uint64
	DroppedLogs   uint64
	// Rejected counts events the sidekick refused with a 4xx other than
	// 408/429 (a bad event: retrying cannot help), or that failed to marshal.
	Rejected uint64
	// Retries counts failed attempts that were retried.
	Retries uint64
	// Batches counts successful POSTs (or writes).
	Batches uint64
	// SystemEvents counts the drop reports delivered (not part of Sent).
	SystemEvents uint64
}
