package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/doorstep/doorstep/jobs/policy"
	"github.com/doorstep/doorstep/models"
)

// Duration is a time.Duration written as Go writes it ("168h", "30s") in
// JSON, so a merchant, a test or the demo can run a week-long flow in
// seconds.
type Duration time.Duration

// MarshalJSON writes "168h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "168h" (or a number of seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return fmt.Errorf("a duration is a string such as \"168h\" or \"30s\"")
		}
		*d = Duration(time.Duration(secs * float64(time.Second)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"168h\" or \"30s\"", s)
	}
	*d = Duration(v)
	return nil
}

// D is the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Settings are a shop's choices for every flow and the message policy.
// JSON is the admin API's shape (GET/PUT /api/admin/settings); what a shop
// never saved takes DefaultSettings.
type Settings struct {
	Channels struct {
		Email bool `json:"email"`
		SMS   bool `json:"sms"`
	} `json:"channels"`
	ThankYou struct {
		Enabled bool     `json:"enabled"`
		Delay   Duration `json:"delay"`
	} `json:"thank_you"`
	Shipping struct {
		Enabled bool `json:"enabled"`
		// Statuses that get a notice: confirmed (shipped), in_transit,
		// out_for_delivery, attempted_delivery, delivered, failure,
		// ready_for_pickup.
		Statuses []string `json:"statuses"`
		// Collapse: a shipped notice waits this long so a burst of
		// shipments goes out as one message.
		Collapse Duration `json:"collapse"`
	} `json:"shipping"`
	Delay struct {
		Enabled bool `json:"enabled"`
		// StalledAfter: no carrier event for this long predicts a delay.
		StalledAfter Duration `json:"stalled_after"`
		// MerchantEmail receives internal alerts (default: the shop's email).
		MerchantEmail string `json:"merchant_email"`
	} `json:"delay"`
	Review struct {
		Enabled       bool     `json:"enabled"`
		After         Duration `json:"after"`          // after delivery
		ReminderAfter Duration `json:"reminder_after"` // after the ask, if no answer
		HoldExpiry    Duration `json:"hold_expiry"`    // a held ask is dropped after this
		ProductWindow Duration `json:"product_window"` // one ask per product per customer per window
	} `json:"review"`
	NPS struct {
		Enabled bool     `json:"enabled"`
		After   Duration `json:"after"` // after delivery
	} `json:"nps"`
	Quiet struct {
		// Email quiet hours (SMS always keeps 21:00-08:00).
		EmailEnabled bool   `json:"email_enabled"`
		EmailStart   string `json:"email_start"`
		EmailEnd     string `json:"email_end"`
		// OutForDeliveryExempt lets "out for delivery" email go out at any hour.
		OutForDeliveryExempt bool `json:"out_for_delivery_exempt"`
	} `json:"quiet_hours"`
	Cap struct {
		Max      int      `json:"max"`       // non-transactional messages per customer per window
		Window   Duration `json:"window"`    // rolling
		MaxDelay Duration `json:"max_delay"` // deferred longer than this by the cap: dropped with a reason
	} `json:"frequency_cap"`
	// MarketingWithoutConsent sends review and NPS asks to customers who
	// have not opted in to marketing, where the shop's law allows it.
	MarketingWithoutConsent bool `json:"marketing_without_consent"`
	Brand                   struct {
		LogoURL string `json:"logo_url"`
		Color   string `json:"color"`
		Address string `json:"address"` // postal address for marketing footers
	} `json:"brand"`
	Sender struct {
		FromName  string `json:"from_name"`
		FromEmail string `json:"from_email"`
		ReplyTo   string `json:"reply_to"`
	} `json:"sender"`
	Locale   string `json:"locale"`   // the shop's default message locale
	Timezone string `json:"timezone"` // IANA; default the shop's
}

// AllStatuses are the shipment statuses that can get a notice.
var allStatuses = []string{models.ShipmentConfirmed, models.ShipmentInTransit, models.ShipmentOutForDelivery,
	models.ShipmentAttemptedDeliver, models.ShipmentDelivered, models.ShipmentFailure, models.ShipmentReadyForPickup}

// DefaultSettings are what a shop gets before saving anything.
func DefaultSettings() Settings {
	var s Settings
	s.Channels.Email = true
	s.ThankYou.Enabled = true
	s.Shipping.Enabled = true
	s.Shipping.Statuses = append([]string(nil), allStatuses...)
	s.Shipping.Collapse = Duration(time.Hour)
	s.Delay.Enabled = true
	s.Delay.StalledAfter = Duration(72 * time.Hour)
	s.Review.Enabled = true
	s.Review.After = Duration(7 * 24 * time.Hour)
	s.Review.ReminderAfter = Duration(5 * 24 * time.Hour)
	s.Review.HoldExpiry = Duration(30 * 24 * time.Hour)
	s.Review.ProductWindow = Duration(365 * 24 * time.Hour)
	s.NPS.Enabled = true
	s.NPS.After = Duration(14 * 24 * time.Hour)
	s.Quiet.EmailEnabled = true
	s.Quiet.EmailStart, s.Quiet.EmailEnd = "21:00", "08:00"
	s.Quiet.OutForDeliveryExempt = true
	s.Cap.Max = 1
	s.Cap.Window = Duration(24 * time.Hour)
	s.Cap.MaxDelay = Duration(7 * 24 * time.Hour)
	s.Locale = "en"
	return s
}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// SettingsError names the field that is wrong.
type SettingsError struct {
	Field  string
	Reason string
}

func (e *SettingsError) Error() string { return e.Field + ": " + e.Reason }

// Validate checks every field and names the first bad one.
func (s Settings) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &SettingsError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	nonNeg := map[string]Duration{"thank_you.delay": s.ThankYou.Delay, "shipping.collapse": s.Shipping.Collapse,
		"delay.stalled_after": s.Delay.StalledAfter, "review.after": s.Review.After, "review.reminder_after": s.Review.ReminderAfter,
		"review.hold_expiry": s.Review.HoldExpiry, "review.product_window": s.Review.ProductWindow, "nps.after": s.NPS.After,
		"frequency_cap.window": s.Cap.Window, "frequency_cap.max_delay": s.Cap.MaxDelay}
	for _, f := range []string{"thank_you.delay", "shipping.collapse", "delay.stalled_after", "review.after", "review.reminder_after",
		"review.hold_expiry", "review.product_window", "nps.after", "frequency_cap.window", "frequency_cap.max_delay"} {
		if d := nonNeg[f]; d < 0 || d.D() > 400*24*time.Hour {
			return bad(f, "must be between 0s and 9600h, got %s", d.D())
		}
	}
	for _, st := range s.Shipping.Statuses {
		if !contains(allStatuses, st) {
			return bad("shipping.statuses", "unknown status %q (want one of %s)", st, strings.Join(allStatuses, ", "))
		}
	}
	if s.Cap.Max < 0 || s.Cap.Max > 100 {
		return bad("frequency_cap.max", "must be 0 (no cap) to 100, got %d", s.Cap.Max)
	}
	if s.Cap.Max > 0 && s.Cap.Window <= 0 {
		return bad("frequency_cap.window", "must be positive when a cap is set")
	}
	for field, v := range map[string]string{"quiet_hours.email_start": s.Quiet.EmailStart, "quiet_hours.email_end": s.Quiet.EmailEnd} {
		if _, err := policy.ParseClock(v); err != nil {
			return bad(field, "must be a time of day such as 21:00, got %q", v)
		}
	}
	for field, v := range map[string]string{"delay.merchant_email": s.Delay.MerchantEmail, "sender.from_email": s.Sender.FromEmail,
		"sender.reply_to": s.Sender.ReplyTo} {
		if v == "" {
			continue
		}
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
			return bad(field, "must be a plain email address, got %q", v)
		}
	}
	if strings.ContainsAny(s.Sender.FromName, "\r\n<>\"") || len(s.Sender.FromName) > 100 {
		return bad("sender.from_name", "must be a short name without quotes, angle brackets or line breaks")
	}
	if s.Brand.Color != "" && !hexColor.MatchString(s.Brand.Color) {
		return bad("brand.color", "must be a hex colour such as #1a73e8, got %q", s.Brand.Color)
	}
	if s.Brand.LogoURL != "" {
		u, err := url.Parse(s.Brand.LogoURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return bad("brand.logo_url", "must be an https URL, got %q", s.Brand.LogoURL)
		}
	}
	if s.Timezone != "" {
		if _, err := time.LoadLocation(s.Timezone); err != nil {
			return bad("timezone", "unknown time zone %q", s.Timezone)
		}
	}
	if s.Locale == "" || len(s.Locale) > 16 {
		return bad("locale", "must be a locale such as en or fr-CA")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// SettingsStore is the part of the store settings live in.
type SettingsStore interface {
	ShopSettingsJSON(ctx context.Context, shopID uint64) (string, error)
	SaveShopSettingsJSON(ctx context.Context, shopID uint64, data string) error
}

// LoadSettings returns a shop's settings: the defaults overlaid with what
// it saved.
func LoadSettings(ctx context.Context, st SettingsStore, shopID uint64) (Settings, error) {
	s := DefaultSettings()
	raw, err := st.ShopSettingsJSON(ctx, shopID)
	if err != nil {
		return s, err
	}
	if raw == "" {
		return s, nil
	}
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return DefaultSettings(), fmt.Errorf("stored settings of shop %d: %w", shopID, err)
	}
	return s, nil
}

// ErrBadSettings wraps a SettingsError or a JSON error from ParseSettings.
var ErrBadSettings = errors.New("bad settings")

// ParseSettings overlays a JSON document on base (fields left out keep
// base's values), rejects unknown fields, and validates the result.
func ParseSettings(base Settings, body []byte) (Settings, error) {
	s := base
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return base, fmt.Errorf("%w: %v", ErrBadSettings, err)
	}
	if err := s.Validate(); err != nil {
		return base, fmt.Errorf("%w: %w", ErrBadSettings, err)
	}
	return s, nil
}

// SaveSettings stores validated settings.
func SaveSettings(ctx context.Context, st SettingsStore, shopID uint64, s Settings) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSettings, err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return st.SaveShopSettingsJSON(ctx, shopID, string(b))
}
