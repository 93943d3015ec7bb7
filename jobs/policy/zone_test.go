package policy

import (
	"testing"
	"time"
)

func TestZone_KnownPlaces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                        string
		country, province, shopZone string
		want                        string
	}{
		{"us california", "US", "CA", "", "America/Los_Angeles"},
		{"us new york", "US", "NY", "", "America/New_York"},
		{"us texas", "US", "TX", "", "America/Chicago"},
		{"us arizona has no dst", "US", "AZ", "", "America/Phoenix"},
		{"us hawaii", "US", "HI", "", "Pacific/Honolulu"},
		{"us without province", "US", "", "", "America/New_York"},
		{"us unknown province", "US", "ZZ", "", "America/New_York"},
		{"iso style province", "US", "US-CA", "", "America/Los_Angeles"},
		{"lowercase and spaces", " us ", " ca ", "", "America/Los_Angeles"},
		{"canada british columbia", "CA", "BC", "", "America/Vancouver"},
		{"canada quebec", "CA", "QC", "", "America/Toronto"},
		{"canada newfoundland", "CA", "NL", "", "America/St_Johns"},
		{"australia western", "AU", "WA", "", "Australia/Perth"},
		{"australia queensland", "AU", "QLD", "", "Australia/Brisbane"},
		{"brazil amazonas", "BR", "AM", "", "America/Manaus"},
		{"brazil sao paulo", "BR", "SP", "", "America/Sao_Paulo"},
		{"mexico quintana roo", "MX", "Q ROO", "", "America/Cancun"},
		{"mexico baja california", "MX", "BC", "", "America/Tijuana"},
		{"russia novosibirsk", "RU", "NVS", "", "Asia/Novosibirsk"},
		{"russia default", "RU", "", "", "Europe/Moscow"},
		{"spain canaries", "ES", "TF", "", "Atlantic/Canary"},
		{"portugal azores", "PT", "PT-20", "", "Atlantic/Azores"},
		{"france", "FR", "", "", "Europe/Paris"},
		{"japan ignores province", "JP", "JP-13", "", "Asia/Tokyo"},
		{"germany", "DE", "BE", "", "Europe/Berlin"},
		{"kosovo shopify code", "XK", "", "", "Europe/Belgrade"},
		{"unknown country uses shop zone", "ZZ", "", "Europe/Dublin", "Europe/Dublin"},
		{"empty country uses shop zone", "", "", "Asia/Kolkata", "Asia/Kolkata"},
		{"bad shop zone is utc", "", "", "Mars/Olympus", "UTC"},
		{"nothing is utc", "", "", "", "UTC"},
	}
	zones := NewZones()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Zone(tt.country, tt.province, tt.shopZone).String(); got != tt.want {
				t.Errorf("Zone(%q, %q, %q) = %s, want %s", tt.country, tt.province, tt.shopZone, got, tt.want)
			}
			if got := zones.Zone(tt.country, tt.province, tt.shopZone).String(); got != tt.want {
				t.Errorf("Zones.Zone(%q, %q, %q) = %s, want %s", tt.country, tt.province, tt.shopZone, got, tt.want)
			}
		})
	}
}

func TestZoneTables_EveryEntryLoads(t *testing.T) {
	t.Parallel()
	check := func(key, name string) {
		if _, err := time.LoadLocation(name); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	for country, name := range countryZones {
		if len(country) != 2 {
			t.Errorf("country code %q is not two letters", country)
		}
		check(country, name)
	}
	for country, provinces := range provinceZones {
		if _, ok := countryZones[country]; !ok {
			t.Errorf("provinces for %s, which has no country entry", country)
		}
		for province, name := range provinces {
			check(country+"-"+province, name)
		}
	}
	// Every ISO 3166-1 country plus the few extra codes Shopify uses.
	if n := len(countryZones); n < 249 {
		t.Errorf("countryZones has %d entries, want every country (249+)", n)
	}
	if n := len(provinceZones["US"]); n < 51 {
		t.Errorf("US has %d provinces, want all states and DC", n)
	}
}

func TestZones_CachesLocation(t *testing.T) {
	t.Parallel()
	zones := NewZones()
	a := zones.Zone("US", "CA", "")
	b := zones.Zone("US", "CA", "")
	if a != b {
		t.Error("second lookup loaded the location again")
	}
}

func BenchmarkZone(b *testing.B) {
	for b.Loop() {
		Zone("US", "CA", "")
	}
}

func BenchmarkZones(b *testing.B) {
	zones := NewZones()
	for b.Loop() {
		zones.Zone("US", "CA", "")
	}
}
