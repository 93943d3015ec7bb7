// Package links signs and verifies the tokens in message links — tracking
// (/t/:token), feedback (/f/:token), preferences (/p/:token) and unsubscribe
// (/u/:token). A token carries only ids and an expiry, so a forwarded email
// leaks nothing personal, and it verifies with the key alone, so the link
// handlers need no database lookup before they know whom a click is about.
package links

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Purposes, which are also the first path segment of the link.
const (
	Tracking    = "t"
	Feedback    = "f"
	Preferences = "p"
	Unsubscribe = "u"
)

var purposes = [...]string{Tracking, Feedback, Preferences, Unsubscribe}

// Errors returned by Verify; callers should treat both as "show a friendly
// page", never as a server error.
var (
	ErrInvalid = errors.New("links: invalid token")
	ErrExpired = errors.New("links: token expired")
)

const (
	// MinKeyLen is the shortest key NewSigner accepts; a shorter key would
	// be weaker than the SHA-256 the MAC is built on.
	MinKeyLen = 32
	// MaxFieldLen bounds Subject and Recipient so links stay short.
	MaxFieldLen = 64
	// maxTokenLen is checked before decoding so junk in a URL costs nothing.
	maxTokenLen = 512
	// macLen is the truncated HMAC-SHA256 tag: 128 bits is plenty against
	// online forgery, and every byte saved shortens every link.
	macLen = 16
	// version leads the payload so the encoding can change without old
	// links verifying under a new meaning.
	version = 1
)

// encoding is strict so each token has exactly one spelling: otherwise the
// unused low bits of the last character could change without breaking the
// MAC.
var encoding = base64.RawURLEncoding.Strict()

// Claims is what a token vouches for.
type Claims struct {
	ShopID  int64
	OrderID int64 // platform order id; 0 when the link is not about an order
	Purpose string
	// Subject narrows the link, e.g. "fulfillment:123" or a customer id:
	// printable ASCII, at most MaxFieldLen bytes.
	Subject string
	// Recipient is an opaque id of whom the message went to (a customer id,
	// never an email address): printable ASCII, at most MaxFieldLen bytes.
	Recipient string
	Expires   time.Time // second precision; Verify returns it in UTC
}

// Signer signs and verifies tokens. It is safe for concurrent use.
type Signer struct {
	// keys holds one subkey per purpose, so a token minted for tracking can
	// never be replayed as an unsubscribe. Not modified after NewSigner.
	keys map[string][]byte
}

// NewSigner derives the per-purpose keys from key, which must be at least
// MinKeyLen bytes of secret randomness.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("links: key is %d bytes, want at least %d", len(key), MinKeyLen)
	}
	s := &Signer{keys: make(map[string][]byte, len(purposes))}
	for _, p := range purposes {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("doorstep/links/v1/" + p))
		s.keys[p] = m.Sum(nil)
	}
	return s, nil
}

// Sign returns a URL-safe token for c. It fails if the purpose is unknown,
// an id is negative, Expires is unset or before 1970, or Subject or
// Recipient is too long or not printable ASCII.
func (s *Signer) Sign(c Claims) (string, error) {
	key, ok := s.keys[c.Purpose]
	if !ok {
		return "", fmt.Errorf("links: unknown purpose %q", c.Purpose)
	}
	payload, err := encode(c)
	if err != nil {
		return "", err
	}
	return encoding.EncodeToString(append(payload, mac(key, payload)...)), nil
}

// Verify checks token for purpose and returns its claims. It returns
// ErrInvalid if the token is malformed, was not signed by this key, or was
// signed for another purpose, and ErrExpired — together with the claims, so
// the page can say which order the stale link was about — if now is past
// Expires.
func (s *Signer) Verify(token, purpose string, now time.Time) (Claims, error) {
	key, ok := s.keys[purpose]
	if !ok {
		return Claims{}, fmt.Errorf("%w: unknown purpose %q", ErrInvalid, purpose)
	}
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: too long", ErrInvalid)
	}
	if !urlSafe(token) {
		return Claims{}, fmt.Errorf("%w: malformed", ErrInvalid)
	}
	raw, err := encoding.DecodeString(token)
	if err != nil || len(raw) <= macLen {
		return Claims{}, fmt.Errorf("%w: malformed", ErrInvalid)
	}
	payload, tag := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(tag, mac(key, payload)) {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	c, err := decode(payload)
	if err != nil {
		// A correctly signed payload we cannot read means a key shared with
		// a newer encoding; still nothing the caller can act on.
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c.Purpose = purpose
	if now.After(c.Expires) {
		return c, ErrExpired
	}
	return c, nil
}

// URL returns base + "/" + purpose + "/" + token. c.Purpose may be left
// empty; if set it must equal purpose.
func (s *Signer) URL(base, purpose string, c Claims) (string, error) {
	if c.Purpose == "" {
		c.Purpose = purpose
	}
	if c.Purpose != purpose {
		return "", fmt.Errorf("links: claims for purpose %q in a %q link", c.Purpose, purpose)
	}
	token, err := s.Sign(c)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(base, "/") + "/" + purpose + "/" + token, nil
}

// urlSafe reports whether s uses only the base64url alphabet. The decoder
// alone is not enough: it skips \r and \n, which would give a token a second
// spelling.
func urlSafe(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func mac(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return m.Sum(nil)[:macLen]
}

// encode lays claims out as a version byte, uvarint shop id, order id and
// expiry (Unix seconds), then length-prefixed subject and recipient. Purpose
// is left out: it is bound by the key instead.
func encode(c Claims) ([]byte, error) {
	if c.ShopID < 0 || c.OrderID < 0 {
		return nil, fmt.Errorf("links: negative id (shop %d, order %d)", c.ShopID, c.OrderID)
	}
	if c.Expires.IsZero() || c.Expires.Unix() < 0 {
		return nil, fmt.Errorf("links: expiry %v is unset or before 1970", c.Expires)
	}
	if err := checkField("subject", c.Subject); err != nil {
		return nil, err
	}
	if err := checkField("recipient", c.Recipient); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 32+len(c.Subject)+len(c.Recipient))
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(c.ShopID))
	b = binary.AppendUvarint(b, uint64(c.OrderID))
	b = binary.AppendUvarint(b, uint64(c.Expires.Unix()))
	b = binary.AppendUvarint(b, uint64(len(c.Subject)))
	b = append(b, c.Subject...)
	b = binary.AppendUvarint(b, uint64(len(c.Recipient)))
	b = append(b, c.Recipient...)
	return b, nil
}

func decode(p []byte) (Claims, error) {
	if len(p) == 0 || p[0] != version {
		return Claims{}, errors.New("unknown version")
	}
	r := reader{buf: p[1:]}
	shop, order, expires := r.uvarint(), r.uvarint(), r.uvarint()
	subject, recipient := r.field(), r.field()
	if r.err != nil || len(r.buf) != 0 {
		return Claims{}, errors.New("bad payload")
	}
	if shop > math.MaxInt64 || order > math.MaxInt64 || expires > math.MaxInt64 {
		return Claims{}, errors.New("value out of range")
	}
	c := Claims{
		ShopID:    int64(shop),
		OrderID:   int64(order),
		Subject:   subject,
		Recipient: recipient,
		Expires:   time.Unix(int64(expires), 0).UTC(),
	}
	// Re-encoding must give the same bytes, so overlong varints and the like
	// never pass as a second spelling of the same claims.
	again, err := encode(c)
	if err != nil || !bytes.Equal(again, p) {
		return Claims{}, errors.New("non-canonical payload")
	}
	return c, nil
}

// reader keeps the first error so decode reads top to bottom.
type reader struct {
	buf []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.err = errors.New("bad varint")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) field() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > MaxFieldLen || n > uint64(len(r.buf)) {
		r.err = errors.New("bad field length")
		return ""
	}
	s := string(r.buf[:n])
	r.buf = r.buf[n:]
	return s
}

func checkField(name, v string) error {
	if len(v) > MaxFieldLen {
		return fmt.Errorf("links: %s is %d bytes, want at most %d", name, len(v), MaxFieldLen)
	}
	for i := range len(v) {
		if v[i] < 0x20 || v[i] > 0x7e {
			return fmt.Errorf("links: %s has a byte outside printable ASCII at %d", name, i)
		}
	}
	return nil
}
