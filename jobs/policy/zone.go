// Package policy decides when a post-purchase message may go out: in the
// recipient's time zone, outside quiet hours, and within a per-customer
// frequency cap. Everything here is pure: callers pass the clock and the
// customer's send history, so the rules can be tested with fixed times.
package policy

import (
	"strings"
	"sync"
	"time"

	// The worker runs in a scratch image without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// ZoneName returns the IANA zone for a recipient in country (ISO 3166-1
// alpha-2) and province (the code Shopify sends, e.g. "CA" in the US or
// "BC" in Canada; a "US-CA" form is accepted too). It returns "" when the
// country is unknown. An unknown province falls back to the zone most of
// the country lives in.
func ZoneName(country, province string) string {
	country = strings.ToUpper(strings.TrimSpace(country))
	province = strings.ToUpper(strings.TrimSpace(province))
	province = strings.TrimPrefix(province, country+"-")
	if name, ok := provinceZones[country][province]; ok {
		return name
	}
	return countryZones[country]
}

// Zone returns the location of a recipient (see ZoneName), falling back to
// the shop's IANA zone and then to UTC, so a message always has a clock to
// respect. It loads the location on every call (time.LoadLocation does not
// cache, roughly 20µs and 9KB each); use Zones in loops.
func Zone(country, province, shopZone string) *time.Location {
	for _, name := range [...]string{ZoneName(country, province), shopZone} {
		if name == "" {
			continue
		}
		if loc, err := time.LoadLocation(name); err == nil {
			return loc
		}
	}
	return time.UTC
}

// Zones resolves recipient zones like Zone but keeps each loaded location,
// because a batch of messages resolves the same few zones over and over.
// The zero value is not usable; call NewZones. It is safe for concurrent use.
type Zones struct {
	mu   sync.Mutex
	locs map[string]*time.Location
}

// NewZones returns an empty cache.
func NewZones() *Zones {
	return &Zones{locs: make(map[string]*time.Location)}
}

// Zone is the cached form of the package-level Zone.
func (z *Zones) Zone(country, province, shopZone string) *time.Location {
	for _, name := range [...]string{ZoneName(country, province), shopZone} {
		if loc := z.load(name); loc != nil {
			return loc
		}
	}
	return time.UTC
}

// load returns nil for names that do not load. Failures are not cached:
// they are rare (a bad shop setting) and caching them would let arbitrary
// input grow the map.
func (z *Zones) load(name string) *time.Location {
	if name == "" {
		return nil
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if loc, ok := z.locs[name]; ok {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	z.locs[name] = loc
	return loc
}
