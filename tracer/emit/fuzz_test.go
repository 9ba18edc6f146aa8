package emit

import (
	"testing"
	"time"
)

// FuzzSidekickAnswer: whatever a sidekick (or something else on its port)
// answers, the Retry-After wait stays within [0, maxRetryAfter] and the
// accepted count is either absent (-1) or what the JSON says.
func FuzzSidekickAnswer(f *testing.F) {
	f.Add("7", `{"accepted":3,"rejected":1,"errors":["x"]}`)
	f.Add("Sun, 22 Nov 2026 20:00:03 GMT", `not json`)
	f.Add("-5", `{"accepted":-2}`)
	f.Add("99999999999999999999", `{"Accepted":1e3}`)
	f.Fuzz(func(t *testing.T, retryAfter, body string) {
		if d := parseRetryAfter(retryAfter, testNow); d < 0 || d > maxRetryAfter {
			t.Fatalf("Retry-After %q: wait %v", retryAfter, d)
		}
		_ = acceptedCount([]byte(body)) // must not panic
	})
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"3", 3 * time.Second},
		{" 3 ", 3 * time.Second},
		{"-1", 0},
		{"1e3", 0}, // not delta-seconds
		{testNow.Add(5 * time.Second).Format("Mon, 02 Jan 2006 15:04:05 GMT"), 5 * time.Second},
		{testNow.Add(-5 * time.Second).Format("Mon, 02 Jan 2006 15:04:05 GMT"), 0},
		{"99999999999999999999", 0}, // overflows Atoi: unreadable
		{"9223372036854775807", maxRetryAfter},
		{"86400", maxRetryAfter},
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.in, testNow); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
