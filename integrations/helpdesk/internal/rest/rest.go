// Package rest is the JSON-over-HTTP plumbing the helpdesk clients share:
// Basic auth, a size cap on answers, and non-2xx answers mapped to
// helpdesk's typed errors.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
)

// Client calls one helpdesk account's API.
type Client struct {
	BaseURL    string // scheme://host, no trailing slash
	User, Pass string // Basic auth
	HTTP       *http.Client
	Now        func() time.Time
}

// New builds a Client; a nil httpClient gets one with a 30s timeout.
func New(baseURL, user, pass string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{BaseURL: baseURL, User: user, Pass: pass, HTTP: httpClient, Now: time.Now}
}

// Do sends in (if not nil) as JSON to path?query and decodes a 2xx answer
// into out (if not nil). Non-2xx answers become helpdesk.ErrUnauthorized,
// ErrNotFound, *RateLimited or *APIError; network failures are wrapped.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := c.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("build %s %s: %w", method, path, err)
	}
	req.SetBasicAuth(c.User, c.Pass)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("read %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", method, path, helpdesk.ResponseError(resp, raw, c.Now()))
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return nil
}
