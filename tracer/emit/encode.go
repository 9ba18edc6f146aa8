package emit

import (
	"encoding/json"
	"errors"

	"github.com/bluelock/bluelock/schema"
)

var errEmptyEvent = errors.New("empty event: neither Alert nor Log")

// encode appends ev and a newline to enc's destination. It encodes the
// protobuf struct directly rather than through schema.Event's MarshalJSON:
// the output is the same, but encoding/json re-validates and compacts what
// a Marshaler returns, which tripled the cost (BenchmarkMarshal). On error
// nothing is written.
func encode(enc *json.Encoder, ev schema.Event) error {
	switch {
	case ev.Alert != nil:
		return enc.Encode(ev.Alert)
	case ev.Log != nil:
		return enc.Encode(ev.Log)
	}
	return errEmptyEvent
}
