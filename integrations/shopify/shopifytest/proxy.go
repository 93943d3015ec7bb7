package shopifytest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// SignProxyQuery returns a copy of q with the signature Shopify adds to an
// app proxy request: hex HMAC-SHA256 with secret over every other
// parameter as "key=value" (several values joined by ","), the pairs
// sorted and concatenated with no separator, as in Shopify's documented
// Ruby example. Any signature already in q is replaced.
func SignProxyQuery(secret string, q url.Values) url.Values {
	out := url.Values{}
	pairs := make([]string, 0, len(q))
	for k, vs := range q {
		if k == "signature" {
			continue
		}
		out[k] = append([]string(nil), vs...)
		pairs = append(pairs, k+"="+strings.Join(vs, ","))
	}
	sort.Strings(pairs)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strings.Join(pairs, "")))
	out.Set("signature", hex.EncodeToString(m.Sum(nil)))
	return out
}
