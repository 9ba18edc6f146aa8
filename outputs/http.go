package outputs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxErrorBody bounds how much of a failed response we keep for the error text.
const maxErrorBody = 512

// PostJSON POSTs body to rawURL with Content-Type application/json and extra
// headers, and classifies the outcome: nil on 2xx, otherwise a *SendError.
// The URL is redacted in every error, since webhook URLs carry their secret.
func PostJSON(ctx context.Context, client *http.Client, rawURL string, body []byte, headers map[string]string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return &SendError{Err: fmt.Errorf("build request for %s: %w", RedactURL(rawURL), redactErr(err, rawURL)), Reason: "invalid"}
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return ClassifyTransportError(ctx, fmt.Errorf("post to %s: %w", RedactURL(rawURL), redactErr(err, rawURL)))
	}
	defer resp.Body.Close()
	return ClassifyResponse(resp)
}

// ClassifyResponse turns an HTTP response into nil (2xx) or a *SendError: 429
// and 5xx are retryable (honouring Retry-After), 408 too, other 4xx are not.
// It drains a bounded part of the body for the error text.
func ClassifyResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	err := fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(snippet)))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &SendError{Err: err, Retryable: true, RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), Reason: "ratelimit"}
	case resp.StatusCode >= 500:
		return &SendError{Err: err, Retryable: true, RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), Reason: "5xx"}
	case resp.StatusCode == http.StatusRequestTimeout:
		return &SendError{Err: err, Retryable: true, Reason: "timeout"}
	default:
		return &SendError{Err: err, Retryable: false, Reason: "4xx"}
	}
}

// ClassifyTransportError wraps a failed round trip: network errors and
// timeouts are retryable unless ctx itself is done.
func ClassifyTransportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		// A deadline (the dispatcher's per-attempt bound) is a timeout worth
		// retrying; a cancellation means the caller gave up.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &SendError{Err: err, Retryable: true, Reason: "timeout"}
		}
		return &SendError{Err: err, Retryable: false, Reason: "canceled"}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &SendError{Err: err, Retryable: true, Reason: "timeout"}
	}
	return &SendError{Err: err, Retryable: true, Reason: "network"}
}

// MaxRetryAfter caps every server-given wait, so a hostile or broken server
// cannot park an output forever.
const MaxRetryAfter = 10 * time.Minute

// ParseRetryAfter reads a Retry-After header: delta-seconds or an HTTP date.
// It returns 0 when absent or unreadable, and caps the wait at
// MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
		if d <= 0 {
			return 0
		}
	} else {
		return 0
	}
	return min(d, MaxRetryAfter)
}

// RedactURL keeps scheme and host of a URL and hides its path, query and
// credentials, which for webhooks are the secret.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<redacted-url>"
	}
	if u.Path == "" && u.RawQuery == "" && u.User == nil {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/<redacted>"
}

// redactErr removes the raw URL from error texts (url.Error embeds it). It
// keeps whether the error was a timeout, which classification needs.
func redactErr(err error, raw string) error {
	if raw == "" || !strings.Contains(err.Error(), raw) {
		return err
	}
	var ne net.Error
	return &redactedError{
		msg:     strings.ReplaceAll(err.Error(), raw, RedactURL(raw)),
		timeout: errors.As(err, &ne) && ne.Timeout(),
	}
}

// redactedError is an error whose text had a secret removed. It does not
// unwrap to the original, whose text still holds the secret.
type redactedError struct {
	msg     string
	timeout bool
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Timeout() bool   { return e.timeout }
func (e *redactedError) Temporary() bool { return false }
