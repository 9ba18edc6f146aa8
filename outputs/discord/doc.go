// Package discord posts KubeArmor alerts (and logs, if the dispatcher passes
// them) to a Discord webhook: one message with one embed per event.
//
// How it works: a pure builder (buildPayload) turns a schema.Event into the
// webhook JSON. Discord rejects a whole message with 400 "Invalid Form Body"
// when an embed breaks one of its limits, so the builder never lets that
// happen: it keeps at most 25 fields, cuts the title and field names to 256,
// field values to 1024, the description to 4096 and the footer to 2048, and
// keeps the sum of all of them under 6000, shortening with an ellipsis on a
// rune boundary. Lengths are counted in UTF-16 code units, which is never
// less than Discord's character count, so the budget holds whichever way
// Discord counts astral characters such as emoji.
//
// Send posts with outputs.PostJSON, which classifies the reply (429 and 5xx
// retryable with Retry-After, other 4xx not). The webhook URL is the secret:
// it never appears in an error or a log line.
package discord
