package email

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want Settings
	}{
		{"smtp://u:p@mail.example.com", Settings{Host: "mail.example.com", Port: 587, Username: "u", Password: "p", TLS: TLSOpportunistic, Auth: AuthPlain}},
		{"smtps://u:p%40ss@mail.example.com", Settings{Host: "mail.example.com", Port: 465, Username: "u", Password: "p@ss", ImplicitTLS: true, Auth: AuthPlain}},
		{"smtp://127.0.0.1:2525?tls=none", Settings{Host: "127.0.0.1", Port: 2525, TLS: TLSNone}},
		{"smtp://apikey:k@relay.test:25/?tls=mandatory&auth=login", Settings{Host: "relay.test", Port: 25, Username: "apikey", Password: "k", TLS: TLSMandatory, Auth: AuthLogin}},
		{" smtp://[::1]:2525?tls=NONE ", Settings{Host: "::1", Port: 2525, TLS: TLSNone}},
		{"smtps://u:p@relay.test?pipelining=off", Settings{Host: "relay.test", Port: 465, Username: "u", Password: "p", ImplicitTLS: true,
			Auth: AuthPlain, NoPipelining: true}},
		{"smtp://relay.test?pipelining=On", Settings{Host: "relay.test", Port: 587, TLS: TLSOpportunistic}},
	}
	for _, tc := range good {
		got, err := ParseURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	bad := map[string]string{
		"http://mail.example.com":         "scheme",
		"mail.example.com:587":            "scheme",
		"smtp://":                         "host",
		"smtp://u:p@:587":                 "host",
		"smtp://h:0":                      "port",
		"smtp://h:99999":                  "port",
		"smtp://h/path":                   "path",
		"smtp://:pw@h":                    "user",
		"smtp://h?tls=maybe":              "tls",
		"smtps://h?tls=none":              "smtps",
		"smtp://u:p@h?auth=xoauth":        "auth",
		"smtp://h?auth=plain":             "user",
		"smtp://h?pool=3":                 "unknown parameter",
		"smtp://h?pipelining=maybe":       "pipelining must be on or off",
		"smtp://u:p@h:bad-port-secretpwd": "URL",
	}
	for in, want := range bad {
		_, err := ParseURL(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) err = %v, want it to mention %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secretpwd") {
			t.Errorf("ParseURL error leaks the password: %v", err)
		}
	}
}

func TestSettingsString_RedactsPassword(t *testing.T) {
	t.Parallel()
	s, err := ParseURL("smtp://user:hunter2@mail.example.com?auth=login")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); strings.Contains(got, "hunter2") || !strings.Contains(got, "user:xxxxx@mail.example.com:587") || !strings.Contains(got, "auth=login") {
		t.Errorf("String() = %q", got)
	}
}

func TestProviderID(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"2.0.0 Ok: queued as 4F9D12AB3":     "4F9D12AB3",
		"Ok: queued as <abc@x>":             "<abc@x>",
		"Ok 0100018f2c3d4e5f-aaaa-bbbb-000": "0100018f2c3d4e5f-aaaa-bbbb-000",
		"2.0.0 OK: queued":                  "fallback",
		"":                                  "fallback",
		"OK":                                "fallback",
	}
	for resp, want := range cases {
		if got := providerID(resp, "fallback"); got != want {
			t.Errorf("providerID(%q) = %q, want %q", resp, got, want)
		}
	}
}
