package links

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	testKey = bytes.Repeat([]byte("k"), MinKeyLen)
	now     = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	later   = now.Add(30 * 24 * time.Hour)
)

func newSigner(t testing.TB, key []byte) *Signer {
	t.Helper()
	s, err := NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewSigner_ShortKey(t *testing.T) {
	t.Parallel()
	if _, err := NewSigner(make([]byte, MinKeyLen-1)); err == nil {
		t.Error("NewSigner accepted a 31-byte key")
	}
}

func TestSigner_RoundTrip(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	tests := []struct {
		name string
		c    Claims
	}{
		{"tracking", Claims{ShopID: 7, OrderID: 5522106319070, Purpose: Tracking, Subject: "fulfillment:123", Expires: later}},
		{"feedback with recipient", Claims{ShopID: 1, OrderID: 2, Purpose: Feedback, Recipient: "cust_8841", Expires: later}},
		{"preferences without order", Claims{ShopID: 1, Purpose: Preferences, Subject: "customer:42", Expires: later}},
		{"unsubscribe zero ids", Claims{Purpose: Unsubscribe, Expires: later}},
		{"largest values", Claims{
			ShopID: 1<<63 - 1, OrderID: 1<<63 - 1, Purpose: Tracking,
			Subject: strings.Repeat("s", MaxFieldLen), Recipient: strings.Repeat("~", MaxFieldLen),
			Expires: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			token, err := s.Sign(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			if len(token) > maxTokenLen {
				t.Errorf("token is %d chars", len(token))
			}
			got, err := s.Verify(token, tt.c.Purpose, now)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tt.c {
				t.Errorf("Verify = %+v, want %+v", got, tt.c)
			}
		})
	}
}

func TestSigner_TokenIsShortAndURLSafe(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	token, err := s.Sign(Claims{ShopID: 12345, OrderID: 5522106319070, Purpose: Tracking, Subject: "fulfillment:4471", Expires: later})
	if err != nil {
		t.Fatal(err)
	}
	if len(token) > 80 {
		t.Errorf("typical token is %d chars, want a short link", len(token))
	}
	if strings.ContainsAny(token, "+/=") {
		t.Errorf("token %q is not URL-safe", token)
	}
}

func TestSigner_ExpiresHasSecondPrecision(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	token, err := s.Sign(Claims{Purpose: Tracking, Expires: later.Add(999 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(token, Tracking, now)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Expires.Equal(later) {
		t.Errorf("Expires = %v, want %v", got.Expires, later)
	}
}

func TestSigner_Verify_Errors(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	other := newSigner(t, bytes.Repeat([]byte("o"), MinKeyLen))
	c := Claims{ShopID: 7, OrderID: 99, Purpose: Tracking, Subject: "fulfillment:1", Expires: later}
	token, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	otherToken, err := other.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		token   string
		purpose string
		now     time.Time
		want    error
	}{
		{"valid", token, Tracking, now, nil},
		{"valid at the expiry second", token, Tracking, later, nil},
		{"expired", token, Tracking, later.Add(time.Second), ErrExpired},
		{"as feedback", token, Feedback, now, ErrInvalid},
		{"as preferences", token, Preferences, now, ErrInvalid},
		{"as unsubscribe", token, Unsubscribe, now, ErrInvalid},
		{"unknown purpose", token, "x", now, ErrInvalid},
		{"other key", otherToken, Tracking, now, ErrInvalid},
		{"empty", "", Tracking, now, ErrInvalid},
		{"padded", token + "=", Tracking, now, ErrInvalid},
		{"trailing newline", token + "\n", Tracking, now, ErrInvalid},
		{"inner carriage return", token[:5] + "\r" + token[5:], Tracking, now, ErrInvalid},
		{"standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(token) + "+", Tracking, now, ErrInvalid},
		{"truncated", token[:len(token)-1], Tracking, now, ErrInvalid},
		{"extended", token + "A", Tracking, now, ErrInvalid},
		{"too long", strings.Repeat("A", maxTokenLen+1), Tracking, now, ErrInvalid},
		{"mac only", token[len(token)-22:], Tracking, now, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.Verify(tt.token, tt.purpose, tt.now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify() error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSigner_Verify_ExpiredStillReturnsClaims(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	token, err := s.Sign(Claims{ShopID: 7, OrderID: 99, Purpose: Feedback, Expires: now})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(token, Feedback, later)
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("err = %v, want ErrExpired", err)
	}
	if got.OrderID != 99 || got.ShopID != 7 {
		t.Errorf("claims = %+v, want the order the link was for", got)
	}
}

// Every change to any one byte of the decoded token — or to any one
// character of its text — must fail, whatever the byte becomes.
func TestSigner_Verify_EverySingleByteTamperIsInvalid(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	token, err := s.Sign(Claims{ShopID: 7, OrderID: 99, Purpose: Tracking, Subject: "fulfillment:1", Recipient: "c1", Expires: later})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := encoding.DecodeString(token)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for x := 1; x < 256; x++ {
			tampered := bytes.Clone(raw)
			tampered[i] ^= byte(x)
			if _, err := s.Verify(encoding.EncodeToString(tampered), Tracking, now); !errors.Is(err, ErrInvalid) {
				t.Fatalf("byte %d xor %#x: err = %v, want ErrInvalid", i, x, err)
			}
		}
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(token) {
		for _, r := range alphabet + "+/=. \r\n" {
			if byte(r) == token[i] {
				continue
			}
			tampered := token[:i] + string(r) + token[i+1:]
			if _, err := s.Verify(tampered, Tracking, now); !errors.Is(err, ErrInvalid) {
				t.Fatalf("char %d -> %q: err = %v, want ErrInvalid", i, r, err)
			}
		}
	}
}

func TestSigner_Sign_RejectsBadClaims(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	tests := []struct {
		name string
		c    Claims
	}{
		{"unknown purpose", Claims{Purpose: "x", Expires: later}},
		{"empty purpose", Claims{Expires: later}},
		{"negative shop", Claims{ShopID: -1, Purpose: Tracking, Expires: later}},
		{"negative order", Claims{OrderID: -1, Purpose: Tracking, Expires: later}},
		{"no expiry", Claims{Purpose: Tracking}},
		{"expiry before 1970", Claims{Purpose: Tracking, Expires: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"long subject", Claims{Purpose: Tracking, Subject: strings.Repeat("s", MaxFieldLen+1), Expires: later}},
		{"email-ish unicode recipient", Claims{Purpose: Tracking, Recipient: "zoë", Expires: later}},
		{"newline in subject", Claims{Purpose: Tracking, Subject: "a\nb", Expires: later}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if token, err := s.Sign(tt.c); err == nil {
				t.Errorf("Sign(%+v) = %q, want error", tt.c, token)
			}
		})
	}
}

func TestSigner_URL(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	c := Claims{ShopID: 1, OrderID: 2, Expires: later}
	for _, base := range []string{"https://shop.example", "https://shop.example/"} {
		u, err := s.URL(base, Feedback, c)
		if err != nil {
			t.Fatal(err)
		}
		token, ok := strings.CutPrefix(u, "https://shop.example/f/")
		if !ok {
			t.Fatalf("URL = %q, want https://shop.example/f/<token>", u)
		}
		if _, err := s.Verify(token, Feedback, now); err != nil {
			t.Errorf("token from URL does not verify: %v", err)
		}
	}
	c.Purpose = Tracking
	if _, err := s.URL("https://shop.example", Feedback, c); err == nil {
		t.Error("URL accepted claims for another purpose")
	}
}

func FuzzVerify(f *testing.F) {
	s := newSigner(f, testKey)
	valid := map[string]bool{}
	for _, c := range []Claims{
		{ShopID: 7, OrderID: 99, Purpose: Tracking, Subject: "fulfillment:1", Expires: later},
		{ShopID: 1, Purpose: Tracking, Recipient: "c1", Expires: now},
		{Purpose: Feedback, Expires: later},
	} {
		token, err := s.Sign(c)
		if err != nil {
			f.Fatal(err)
		}
		if c.Purpose == Tracking {
			valid[token] = true
		}
		f.Add(token)
		f.Add(token[:len(token)-1])
		f.Add(token + "A")
	}
	f.Add("")
	f.Add("AQ")
	f.Add(strings.Repeat("_", 600))
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.Verify(token, Tracking, now)
		switch {
		case err == nil && !valid[token]:
			t.Fatalf("Verify accepted a token it never signed: %q -> %+v", token, c)
		case err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired):
			t.Fatalf("Verify error %v is neither ErrInvalid nor ErrExpired", err)
		}
	})
}

func FuzzSignVerify(f *testing.F) {
	s := newSigner(f, testKey)
	f.Add(int64(7), int64(99), "fulfillment:1", "c1", int64(1_800_000_000))
	f.Fuzz(func(t *testing.T, shop, order int64, subject, recipient string, expires int64) {
		c := Claims{ShopID: shop, OrderID: order, Purpose: Unsubscribe, Subject: subject, Recipient: recipient, Expires: time.Unix(expires, 0).UTC()}
		token, err := s.Sign(c)
		if err != nil {
			return // invalid claims are Sign's to reject
		}
		got, err := s.Verify(token, Unsubscribe, time.Unix(0, 0))
		if err != nil {
			t.Fatalf("Verify(Sign(%+v)): %v", c, err)
		}
		if got != c {
			t.Fatalf("round trip = %+v, want %+v", got, c)
		}
	})
}
