package msgtmpl

import (
	"fmt"
	"html"
	"strings"
)

// ValidationError says which field of a Set is wrong: "subject", "html",
// "text" or "sms".
type ValidationError struct {
	Field string
	Err   error
}

func (e *ValidationError) Error() string {
	return e.Field + ": " + e.Err.Error()
}

func (e *ValidationError) Unwrap() error { return e.Err }

// Validate parses set and renders it against every sample variant of flow
// (each shipment status, single and split packages, each delay reason,
// both review steps, each points-reversal reason with and without a debt,
// points and code referral rewards, with and without optional data,
// marketing and not),
// so a syntax error, an unknown field or a missing unsubscribe link is
// caught when the merchant saves rather than when a customer is due a
// message. Empty fields are not checked: they fall back to the default.
//
// It returns a *ValidationError for a bad set and an error wrapping
// ErrUnknownFlow for an unknown flow.
func (r *Renderer) Validate(flow string, set Set) error {
	if !knownFlow(flow) {
		return fmt.Errorf("validate %q: %w", flow, ErrUnknownFlow)
	}
	// Function names are the same in every locale, so English phrases
	// catch every error a merchant's locale would.
	c, field, err := r.compile(set, fallbackLocale, false)
	if err != nil {
		return &ValidationError{Field: field, Err: err}
	}
	c = c.orDefault(r.defaults[flow+"/"+fallbackLocale])
	for _, s := range sampleVariants(flow) {
		if _, field, err := execute(c, s.data); err != nil {
			return &ValidationError{Field: field, Err: fmt.Errorf("with sample %s: %w", s.name, err)}
		}
	}
	return nil
}

// checkMarketing refuses a marketing message that a recipient could not
// opt out of: the unsubscribe link in both email parts and the STOP
// keyword in the SMS. It names the part at fault.
func checkMarketing(out Rendered, data Data) (string, error) {
	if !data.Marketing {
		return "", nil
	}
	u := data.Links.Unsubscribe
	if u == "" {
		return "links", fmt.Errorf("%w: Links.Unsubscribe is empty", ErrMissingUnsubscribe)
	}
	// html/template writes & as &amp; and + as &#43; inside attributes.
	if !strings.Contains(html.UnescapeString(out.HTML), u) {
		return partHTML, fmt.Errorf("%w: the html part must show .Links.Unsubscribe when .Marketing is true", ErrMissingUnsubscribe)
	}
	if !strings.Contains(out.Text, u) {
		return partText, fmt.Errorf("%w: the text part must show .Links.Unsubscribe when .Marketing is true", ErrMissingUnsubscribe)
	}
	if !strings.Contains(out.SMS, "STOP") {
		return partSMS, fmt.Errorf("%w: the sms must say how to reply STOP when .Marketing is true", ErrMissingUnsubscribe)
	}
	return "", nil
}
