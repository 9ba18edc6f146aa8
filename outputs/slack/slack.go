package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"text/template"
	"time"

	"github.com/slack-go/slack"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

// Slack is the Slack incoming-webhook output.
type Slack struct {
	cfg    Config
	tmpl   *template.Template
	client *http.Client
	logger *slog.Logger
}

var _ outputs.Output = (*Slack)(nil)

// New builds the output. It fails on an invalid config, including a
// MESSAGEFORMAT template that does not parse or names an unknown field.
func New(cfg Config, deps outputs.Deps) (*Slack, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tmpl, err := parseTemplate(cfg.MessageFormat)
	if err != nil {
		return nil, fmt.Errorf("slack: MESSAGEFORMAT: %w", err)
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base := deps.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: 10 * time.Second}
	}
	// A copy of the shared client whose transport records what slack-go
	// discards (see doc.go). The shared client itself is not modified.
	client := *base
	client.Transport = &recordingTransport{next: base.Transport}
	return &Slack{
		cfg:    cfg,
		tmpl:   tmpl,
		client: &client,
		logger: logger.With("output", "slack"),
	}, nil
}

// Name implements outputs.Output.
func (s *Slack) Name() string { return "slack" }

// Send posts one message for ev.
func (s *Slack) Send(ctx context.Context, ev schema.Event) error {
	msg, err := buildMessage(s.cfg, s.tmpl, ev)
	if err != nil {
		return &outputs.SendError{Err: fmt.Errorf("slack: %w", err), Reason: "invalid"}
	}
	rec := new(response)
	err = slack.PostWebhookCustomHTTPContext(context.WithValue(ctx, recorderKey{}, rec), s.cfg.WebhookURL, s.client, msg)
	return s.classify(ctx, err, rec)
}

// classify maps slack-go's result plus what the transport recorded to nil or
// an *outputs.SendError whose text never contains the webhook URL.
func (s *Slack) classify(ctx context.Context, err error, rec *response) error {
	var rl *slack.RateLimitedError
	var sc slack.StatusCodeError
	switch {
	case err == nil:
		// slack-go accepted a 200; Slack's webhooks say "ok" on success and
		// may say something else (e.g. "invalid_token") with a 200 too.
		if rec.status == http.StatusOK && strings.TrimSpace(string(rec.body)) != "ok" {
			return &outputs.SendError{Err: fmt.Errorf("slack: HTTP 200 with body %q", rec.snippet()), Reason: "invalid"}
		}
		return nil
	case errors.As(err, &rl):
		// slack-go parsed the Retry-After itself: cap it as ParseRetryAfter does.
		return &outputs.SendError{Err: fmt.Errorf("slack: %w", rl), Retryable: true, RetryAfter: min(rl.RetryAfter, outputs.MaxRetryAfter), Reason: "ratelimit"}
	case errors.As(err, &sc):
		e := fmt.Errorf("slack: HTTP %d: %s", sc.Code, rec.snippet())
		switch {
		case sc.Code == http.StatusTooManyRequests:
			return &outputs.SendError{Err: e, Retryable: true, RetryAfter: outputs.ParseRetryAfter(rec.retryAfter, time.Now()), Reason: "ratelimit"}
		case sc.Code >= 500:
			return &outputs.SendError{Err: e, Retryable: true, RetryAfter: outputs.ParseRetryAfter(rec.retryAfter, time.Now()), Reason: "5xx"}
		default:
			return &outputs.SendError{Err: e, Reason: "4xx"}
		}
	case rec.status == http.StatusTooManyRequests:
		// slack-go only reads integer Retry-After values and returns a bare
		// strconv error for an HTTP date.
		return &outputs.SendError{
			Err:        fmt.Errorf("slack: HTTP 429: %s", rec.snippet()),
			Retryable:  true,
			RetryAfter: outputs.ParseRetryAfter(rec.retryAfter, time.Now()),
			Reason:     "ratelimit",
		}
	}
	se, ok := outputs.ClassifyTransportError(ctx, err).(*outputs.SendError)
	if !ok {
		return &outputs.SendError{Err: s.redact(err), Retryable: true, Reason: "network"}
	}
	se.Err = s.redact(err)
	return se
}

// redact removes the webhook URL (the secret) from an error text.
func (s *Slack) redact(err error) error {
	msg := err.Error()
	if s.cfg.WebhookURL != "" {
		msg = strings.ReplaceAll(msg, s.cfg.WebhookURL, outputs.RedactURL(s.cfg.WebhookURL))
	}
	return fmt.Errorf("slack: %s", msg)
}

// response is what recordingTransport keeps of one webhook call.
type response struct {
	status     int
	retryAfter string
	body       []byte
}

func (r *response) snippet() string {
	return strings.TrimSpace(string(r.body))
}

type recorderKey struct{}

// maxRecordedBody bounds the part of a response body we keep: "ok" or a
// short error code such as "invalid_payload".
const maxRecordedBody = 512

// recordingTransport records status, Retry-After and the start of the body
// into the *response found in the request's context, and hands slack-go a
// body that still reads in full.
type recordingTransport struct {
	next http.RoundTripper
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	rec, ok := req.Context().Value(recorderKey{}).(*response)
	if !ok {
		return resp, nil
	}
	rec.status = resp.StatusCode
	rec.retryAfter = resp.Header.Get("Retry-After")
	head, rerr := io.ReadAll(io.LimitReader(resp.Body, maxRecordedBody))
	rec.body = head
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if rerr != nil {
		// Reading failed part-way: let slack-go see the same failure.
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), errReader{rerr}), resp.Body}
	}
	return resp, nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
