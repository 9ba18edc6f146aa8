// Package slack posts KubeArmor alerts (and logs, if the dispatcher passes
// them) to a Slack incoming webhook, one message per event.
//
// How it works: a pure builder (buildMessage) turns a schema.Event into a
// slack.WebhookMessage with a top-level text line people can read in a
// notification, and one legacy attachment coloured by action and severity
// that carries the fields people triage by. Send posts it with slack-go's
// PostWebhookCustomHTTPContext through the sidekick's HTTP client.
//
// slack-go reads the status code but throws the body away, and Slack answers
// some failures with a 200 whose body is not "ok". The client we hand to
// slack-go therefore wraps the transport with a small recorder that keeps the
// status, the Retry-After header and the first bytes of the body, so Send can
// classify every outcome into an *outputs.SendError:
//
//	429 (slack.RateLimitedError or a Retry-After date) → retryable, "ratelimit", RetryAfter
//	5xx (slack.StatusCodeError)                        → retryable, "5xx"
//	other non-200                                      → not retryable, "4xx"
//	200 with a body other than "ok"                    → not retryable, "invalid"
//	transport failure                                  → retryable, "network"/"timeout"
//
// The webhook URL is the secret: it never appears in an error or a log line.
package slack
