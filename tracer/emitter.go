package tracer

import "github.com/bluelock/bluelock/schema"

// Emitter is who hears of an event. Emit is called from the stop loop, so it
// must never block: implementations queue and count what they drop.
type Emitter interface {
	Emit(schema.Event)
}
