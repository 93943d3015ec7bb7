package outbox_test

import (
	"context"
	"testing"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/integrations/notify/notifytest"
	"github.com/doorstep/doorstep/integrations/notify/outbox"
)

func TestChannel_Conformance(t *testing.T) {
	t.Parallel()
	store := notifytest.NewOutbox()
	notifytest.Run(t, outbox.New(store.Save), store)
}

func TestSend_ReceiptIsTheSavedID(t *testing.T) {
	t.Parallel()
	var saved notify.Message
	ch := outbox.New(func(_ context.Context, m notify.Message) (string, error) {
		saved = m
		return "row-17", nil
	})
	m := notify.Message{ID: "m1", ShopID: 3, Channel: notify.SMSChannel, To: "+14155550100", Text: "hi"}
	r, err := ch.Send(t.Context(), m)
	if err != nil || r.ProviderID != "row-17" {
		t.Fatalf("Send = %+v, %v", r, err)
	}
	if saved.ID != "m1" || saved.ShopID != 3 || saved.Text != "hi" || ch.Name() != "outbox" {
		t.Errorf("saved %+v", saved)
	}
}
