package jobs

import (
	"strings"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/models"
)

// recipient is one address a shopper message goes to.
type recipient struct {
	channel, address string
}

// shopperRecipients are where an order's shopper messages go: the order's
// email (else the customer's) when email is on, and a phone when SMS is on.
func shopperRecipients(set Settings, o *models.Order) []recipient {
	var out []recipient
	if set.Channels.Email {
		email := o.Email
		if email == "" && o.Customer != nil {
			email = o.Customer.Email
		}
		if email = strings.TrimSpace(email); email != "" && o.RedactedAt == nil {
			out = append(out, recipient{notify.EmailChannel, email})
		}
	}
	if set.Channels.SMS {
		phone := o.Phone
		if phone == "" {
			phone = o.ShippingAddress.Phone
		}
		if phone == "" && o.Customer != nil {
			phone = o.Customer.Phone
		}
		if phone = normalizePhone(phone); phone != "" && o.RedactedAt == nil {
			out = append(out, recipient{notify.SMSChannel, phone})
		}
	}
	return out
}

// normalizePhone keeps numbers already in E.164 (+ and digits, spaces and
// dashes dropped); anything else is not sendable without guessing a
// country code.
func normalizePhone(p string) string {
	p = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' {
			return -1
		}
		return r
	}, strings.TrimSpace(p))
	if len(p) < 8 || len(p) > 16 || p[0] != '+' {
		return ""
	}
	for _, r := range p[1:] {
		if r < '0' || r > '9' {
			return ""
		}
	}
	return p
}

// merchantAddress is where internal alerts go.
func merchantAddress(set Settings, shop models.Shop) string {
	return orDefault(set.Delay.MerchantEmail, shop.Email)
}

// locale is the shopper's language for an order.
func orderLocale(o *models.Order) string {
	if o.Customer != nil && o.Customer.Locale != "" {
		return o.Customer.Locale
	}
	return o.Locale
}
