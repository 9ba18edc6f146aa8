package sidekick_test

import (
	"log/slog"
	"time"

	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/sidekick"
)

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testAlert() schema.Event { return sidekick.TestAlert("h", time.Unix(1700000000, 0)) }
