// Package pipeline holds the end-to-end test of bluelock's telemetry path:
// the real tracer binary (BLUELOCK_BIN) traces a shell that opens thousands
// of files, emits to the real sidekick binary (SIDEKICK_BIN) over HTTP, and
// the sidekick's webhook output delivers to a test server.
//
// How it works: the workload opens marker files m0..mN-1 in two halves and
// prints "half" and "done" on stdout, then waits on stdin, so the test knows
// where it is without sleeping (write and read are not traced, so the
// handshake adds no events). At "done" the test reads the tracer's own count
// of emitted events from its Prometheus endpoint (bluelock_tracer_events_total)
// and waits until the webhook has every one of them, exactly once, or the
// emitter's SystemEvent drop reports account for the difference exactly.
//
// Scenarios: the sidekick up all along; stopped (SIGTERM, it drains) at
// "half" and restarted on the same port at "done"; crashed (SIGKILL) at
// "half" with the emitter's queue large enough (nothing may be lost) and
// small enough (the drops must be reported exactly). Before a crash the test
// waits until the emitter is idle (bluelock_emitter_* metrics): a SIGKILL
// between the sidekick's delivery and its acknowledgement would make the
// emitter resend, which is at-least-once delivery, not a loss.
//
// The test skips when the binaries are not given (`make test` passes them),
// when the tracer cannot trace on this machine, and the crash scenarios
// skip when the tracer does not export the emitter's metrics.
package pipeline
