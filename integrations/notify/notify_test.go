package notify_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/notify"
)

func TestErrorHelpers_SeeThroughWrapping(t *testing.T) {
	t.Parallel()
	base := &notify.Error{Permanent: true, NoSuchAddress: true, Code: "21211", Reason: "Invalid 'To' Phone Number", Err: context.DeadlineExceeded}
	wrapped := fmt.Errorf("send message 9: %w", base)
	if !notify.IsPermanent(wrapped) || !notify.IsNoSuchAddress(wrapped) {
		t.Errorf("helpers do not see through %%w: %v", wrapped)
	}
	if !errors.Is(wrapped, context.DeadlineExceeded) {
		t.Errorf("Unwrap does not reach the cause")
	}
	if s := wrapped.Error(); !strings.Contains(s, "21211") || !strings.Contains(s, "Invalid 'To'") || !strings.Contains(s, "permanent") {
		t.Errorf("Error() = %q", s)
	}

	transient := fmt.Errorf("x: %w", &notify.Error{RetryAfter: 7 * time.Second})
	if d, ok := notify.RetryAfter(transient); !ok || d != 7*time.Second || notify.IsPermanent(transient) {
		t.Errorf("RetryAfter = %s, %v", d, ok)
	}
	plain := errors.New("connection reset")
	if notify.IsPermanent(plain) || notify.IsNoSuchAddress(plain) {
		t.Errorf("an unclassified error must be transient")
	}
	if _, ok := notify.RetryAfter(plain); ok {
		t.Errorf("RetryAfter on an unclassified error")
	}
}
