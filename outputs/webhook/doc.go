// Package webhook is the sidekick output that POSTs events to any HTTP
// endpoint.
//
// How it works: by default each event is POSTed on its own as the exact
// KubeArmor JSON (Content-Type application/json). With WEBHOOK_BATCH=true the
// output is an outputs.BatchOutput: the dispatcher collects up to
// WEBHOOK_MAXBATCH events (default 100) or waits WEBHOOK_MAXWAIT (default
// 1s) and the batch goes out as one NDJSON body (Content-Type
// application/x-ndjson), one event per line.
//
// Responses are classified by outputs.ClassifyResponse: 2xx ok; 429 and 5xx
// retryable, honouring Retry-After; 408 retryable; other 4xx dropped. The
// URL may carry a secret (a token in its path or query): it never appears in
// errors or logs, only its scheme and host. WEBHOOK_CUSTOMHEADERS adds
// headers ("Authorization:Bearer x,X-Team:sec"; a value may contain ':').
// The HTTP client (timeouts, WEBHOOK_CHECKCERT, WEBHOOK_MUTUALTLS) is built
// by the sidekick and passed in Deps.
package webhook
