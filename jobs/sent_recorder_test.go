package jobs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// claimedMessages queues n messages and claims them, as a send task does
// before it calls the provider.
func claimedMessages(t *testing.T, st *models.Store, n int) []models.Message {
	t.Helper()
	ctx := context.Background()
	shop, err := st.SaveInstall(ctx, models.Shop{Platform: models.PlatformShopify, Domain: "recorder.myshopify.com"},
		models.Token{AccessToken: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return modelstest.ClaimedMessages(t, st, shop.ID, FlowThankYou, 1, n, time.Now().UTC())
}

func TestSentRecorder_SendsFinishingDuringAWriteGoTogetherInTheNext(t *testing.T) {
	t.Parallel()
	st := modelstest.Store(t)
	ms := claimedMessages(t, st, 20)

	var (
		mu      sync.Mutex
		groups  []int
		release = make(chan struct{})
		first   = make(chan struct{})
	)
	r := newSentRecorder(st, func() time.Time { return time.Now().UTC() })
	real := r.write
	r.write = func(ctx context.Context, now time.Time, batch []models.Message) ([]uint64, error) {
		mu.Lock()
		groups = append(groups, len(batch))
		n := len(groups)
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release // the first write is slow: everything else finishes meanwhile
		}
		return real(ctx, now, batch)
	}

	results := make([]<-chan sentResult, len(ms))
	results[0] = r.submit(ms[0])
	<-first
	for i := 1; i < len(ms); i++ {
		results[i] = r.submit(ms[i])
	}
	close(release)
	for i, done := range results {
		if res := <-done; res.err != nil || !res.recorded {
			t.Errorf("send %d: recorded %v, err %v", i, res.recorded, res.err)
		}
	}
	mu.Lock()
	if len(groups) != 2 || groups[0] != 1 || groups[1] != 19 {
		t.Errorf("writes carried %v sends, want [1 19]: the first alone at once, the rest together after it", groups)
	}
	mu.Unlock()
	for _, m := range ms {
		got, err := st.Message(context.Background(), m.ID)
		if err != nil || got.Status != models.MessageSent {
			t.Errorf("message %d: %q, %v", m.ID, got.Status, err)
		}
	}

	// Nothing pending, nothing running: the next send is written at once
	// and alone.
	more := modelstest.ClaimedMessages(t, st, ms[0].ShopID, FlowThankYou, 100, 1, time.Now().UTC())
	if ok, err := r.record(more[0]); !ok || err != nil {
		t.Fatalf("a lone send: recorded %v, err %v", ok, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(groups) != 3 || groups[2] != 1 {
		t.Errorf("writes %v, want a third write of 1", groups)
	}
}

func TestSentRecorder_AFailedWriteReachesEverySendItCarried(t *testing.T) {
	t.Parallel()
	st := modelstest.Store(t)
	ms := claimedMessages(t, st, 3)
	r := newSentRecorder(st, func() time.Time { return time.Now().UTC() })
	boom := errors.New("connection reset")
	r.write = func(context.Context, time.Time, []models.Message) ([]uint64, error) { return nil, boom }
	for _, m := range ms {
		ok, err := r.record(m)
		if ok || !errors.Is(err, boom) {
			t.Errorf("message %d: recorded %v, err %v; want the write's error", m.ID, ok, err)
		}
	}
}
