package helpdesk_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
)

func TestNormalizeBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"acme.gorgias.com", "https://acme.gorgias.com"},
		{"  ACME.zendesk.com/ ", "https://acme.zendesk.com"},
		{"http://127.0.0.1:9000", "http://127.0.0.1:9000"},
		{"http://127.0.0.1:9000/", "http://127.0.0.1:9000"},
		{"https://acme.freshdesk.com", "https://acme.freshdesk.com"},
		{"localhost:8080", "https://localhost:8080"},
		{"", ""},
		{"ftp://acme.test", ""},
		{"https://acme.test/api", ""},
		{"https://user:pw@acme.test", ""},
		{"acme.test?x=1", ""},
		{"https://", ""},
	}
	for _, tt := range tests {
		got, err := helpdesk.NormalizeBaseURL(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeBaseURL(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeBaseURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestResponseError(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	resp := func(status int, retryAfter string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{}}
		if retryAfter != "" {
			r.Header.Set("Retry-After", retryAfter)
		}
		return r
	}
	var rl *helpdesk.RateLimited
	if err := helpdesk.ResponseError(resp(429, "3"), nil, now); !errors.As(err, &rl) || rl.RetryAfter != 3*time.Second {
		t.Errorf("429 seconds: %v", err)
	}
	if err := helpdesk.ResponseError(resp(429, now.Add(90*time.Second).Format(http.TimeFormat)), nil, now); !errors.As(err, &rl) || rl.RetryAfter != 90*time.Second {
		t.Errorf("429 date: %v", err)
	}
	if err := helpdesk.ResponseError(resp(429, ""), nil, now); !errors.As(err, &rl) || rl.RetryAfter != 0 {
		t.Errorf("429 no hint: %v", err)
	}
	for _, s := range []int{401, 403} {
		if err := helpdesk.ResponseError(resp(s, ""), []byte("nope"), now); !errors.Is(err, helpdesk.ErrUnauthorized) {
			t.Errorf("%d: %v", s, err)
		}
	}
	if err := helpdesk.ResponseError(resp(404, ""), nil, now); !errors.Is(err, helpdesk.ErrNotFound) {
		t.Errorf("404: %v", err)
	}
	var ae *helpdesk.APIError
	if err := helpdesk.ResponseError(resp(502, ""), []byte(strings.Repeat("x", 1000)), now); !errors.As(err, &ae) || !ae.Transient() || len(ae.Body) > 300 {
		t.Errorf("502: %v", err)
	}
	if err := helpdesk.ResponseError(resp(422, ""), nil, now); !errors.As(err, &ae) || ae.Transient() {
		t.Errorf("422: %v", err)
	}
}

func TestVerifySecret(t *testing.T) {
	t.Parallel()
	if !helpdesk.VerifySecret("s3cret", "s3cret") || helpdesk.VerifySecret("s3cret", "s3cre") ||
		helpdesk.VerifySecret("", "") || helpdesk.VerifySecret("s3cret", "") {
		t.Error("VerifySecret")
	}
}

func TestDedupTag_SafeDistinctStable(t *testing.T) {
	t.Parallel()
	a, b := helpdesk.DedupTag("delay:1042:f-7"), helpdesk.DedupTag("delay_1042_f-7")
	if a == b {
		t.Errorf("keys that sanitize alike share tag %q", a)
	}
	if a != helpdesk.DedupTag("delay:1042:f-7") {
		t.Error("not stable")
	}
	long := helpdesk.DedupTag(strings.Repeat("Ü", 200))
	for _, tag := range []string{a, b, long} {
		if len(tag) > 64 || strings.Trim(tag, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			t.Errorf("tag %q is not short and plain", tag)
		}
	}
}
