package email

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// TLSPolicy says how an smtp:// connection is upgraded with STARTTLS.
// smtps:// connections are TLS from the first byte and ignore it.
type TLSPolicy string

const (
	// TLSOpportunistic upgrades when the server offers STARTTLS and sends in
	// the clear otherwise. It is the default because relays on a private
	// network often offer no TLS at all.
	TLSOpportunistic TLSPolicy = "opportunistic"
	// TLSMandatory refuses to send unless STARTTLS succeeds.
	TLSMandatory TLSPolicy = "mandatory"
	// TLSNone never tries STARTTLS: for local test servers and relays on
	// loopback.
	TLSNone TLSPolicy = "none"
)

// Auth is the SASL mechanism used when the URL has a user.
type Auth string

const (
	AuthPlain   Auth = "plain" // the default; every hosted relay speaks it
	AuthLogin   Auth = "login"
	AuthCRAMMD5 Auth = "cram-md5"
)

// Settings is a parsed SMTP_URL.
type Settings struct {
	Host        string
	Port        int
	Username    string
	Password    string
	ImplicitTLS bool      // smtps://: TLS from the first byte (port 465)
	TLS         TLSPolicy // smtp:// only
	Auth        Auth      // empty when Username is empty
	// NoPipelining (?pipelining=off) sends one command per round trip even
	// where the relay announces PIPELINING (see WithoutPipelining).
	NoPipelining bool
}

// String prints the settings as a URL with the password redacted, so the
// settings can be logged.
func (s Settings) String() string {
	u := url.URL{Scheme: "smtp", Host: s.Host + ":" + strconv.Itoa(s.Port)}
	if s.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if s.Username != "" {
		u.User = url.UserPassword(s.Username, "xxxxx")
	}
	q := url.Values{}
	if !s.ImplicitTLS && s.TLS != "" && s.TLS != TLSOpportunistic {
		q.Set("tls", string(s.TLS))
	}
	if s.Auth != "" && s.Auth != AuthPlain {
		q.Set("auth", string(s.Auth))
	}
	if s.NoPipelining {
		q.Set("pipelining", "off")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// ParseURL parses an SMTP relay URL:
//
//	smtp://user:pass@host[:587][?tls=opportunistic|mandatory|none][&auth=plain|login|cram-md5][&pipelining=on|off]
//	smtps://user:pass@host[:465][?auth=...][&pipelining=...]
//
// smtp:// upgrades with STARTTLS when the server offers it (tls=opportunistic,
// the default); tls=mandatory refuses plain connections; tls=none never
// upgrades, for local test servers. smtps:// is implicit TLS.
// pipelining=off is for a relay that announces PIPELINING and mishandles it.
// User and
// password are URL-encoded (a password with "@" or "/" must be escaped).
// The error names what is wrong, without echoing the password.
func ParseURL(s string) (Settings, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		// url.Parse errors quote the whole input, password included.
		return Settings{}, fmt.Errorf("smtp url: not a valid URL")
	}
	var st Settings
	switch u.Scheme {
	case "smtp":
		st.Port, st.TLS = 587, TLSOpportunistic
	case "smtps":
		st.Port, st.ImplicitTLS = 465, true
	default:
		return Settings{}, fmt.Errorf("smtp url: scheme must be smtp or smtps, got %q", u.Scheme)
	}
	st.Host = u.Hostname()
	if st.Host == "" {
		return Settings{}, fmt.Errorf("smtp url: missing host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Settings{}, fmt.Errorf("smtp url: port must be 1-65535, got %q", p)
		}
		st.Port = n
	}
	if u.Path != "" && u.Path != "/" {
		return Settings{}, fmt.Errorf("smtp url: unexpected path %q", u.Path)
	}
	if u.User != nil {
		st.Username = u.User.Username()
		st.Password, _ = u.User.Password()
		if st.Username == "" {
			return Settings{}, fmt.Errorf("smtp url: password given without a user")
		}
		st.Auth = AuthPlain
	}
	for key, vals := range u.Query() {
		v := strings.ToLower(vals[len(vals)-1])
		switch key {
		case "tls":
			if st.ImplicitTLS {
				return Settings{}, fmt.Errorf("smtp url: tls= applies to smtp:// only; smtps:// is always TLS")
			}
			switch p := TLSPolicy(v); p {
			case TLSOpportunistic, TLSMandatory, TLSNone:
				st.TLS = p
			default:
				return Settings{}, fmt.Errorf("smtp url: tls must be opportunistic, mandatory or none, got %q", v)
			}
		case "auth":
			if st.Username == "" {
				return Settings{}, fmt.Errorf("smtp url: auth= needs a user in the URL")
			}
			switch a := Auth(v); a {
			case AuthPlain, AuthLogin, AuthCRAMMD5:
				st.Auth = a
			default:
				return Settings{}, fmt.Errorf("smtp url: auth must be plain, login or cram-md5, got %q", v)
			}
		case "pipelining":
			switch v {
			case "on":
				st.NoPipelining = false
			case "off":
				st.NoPipelining = true
			default:
				return Settings{}, fmt.Errorf("smtp url: pipelining must be on or off, got %q", v)
			}
		default:
			return Settings{}, fmt.Errorf("smtp url: unknown parameter %q (known: tls, auth, pipelining)", key)
		}
	}
	return st, nil
}
