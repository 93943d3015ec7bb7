package models_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

func TestSaveSurveyAnswer_FirstAnswerStays(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "survey-a.myshopify.com", models.Token{AccessToken: "x"})
	other := installShop(t, s, "survey-b.myshopify.com", models.Token{AccessToken: "y"})
	at := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

	if _, err := s.SurveyAnswerOf(ctx, shop.ID, 1001, "heard_about"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("before any answer: err %v, want ErrNotFound", err)
	}
	first, created, err := s.SaveSurveyAnswer(ctx, models.SurveyAnswer{ShopID: shop.ID, OrderPlatformID: 1001, Question: "heard_about",
		CustomerPlatformID: 77, Answer: "friend", AnsweredAt: at})
	if err != nil || !created || first.ID == 0 || first.Answer != "friend" {
		t.Fatalf("first: %+v, %v, %v", first, created, err)
	}
	again, created, err := s.SaveSurveyAnswer(ctx, models.SurveyAnswer{ShopID: shop.ID, OrderPlatformID: 1001, Question: "heard_about",
		CustomerPlatformID: 77, Answer: "other", Other: "a billboard", AnsweredAt: at.Add(time.Minute)})
	if err != nil || created || again.ID != first.ID || again.Answer != "friend" || again.Other != "" {
		t.Fatalf("second: %+v, %v, %v; want the first answer back", again, created, err)
	}
	// The same order number in another shop, or another question, is
	// another answer.
	if _, created, err := s.SaveSurveyAnswer(ctx, models.SurveyAnswer{ShopID: other.ID, OrderPlatformID: 1001, Question: "heard_about",
		Answer: "ads", AnsweredAt: at}); err != nil || !created {
		t.Fatalf("other shop: %v, %v", created, err)
	}
	if _, created, err := s.SaveSurveyAnswer(ctx, models.SurveyAnswer{ShopID: shop.ID, OrderPlatformID: 1001, Question: "nps",
		Answer: "9", AnsweredAt: at}); err != nil || !created {
		t.Fatalf("other question: %v, %v", created, err)
	}
	got, err := s.SurveyAnswerOf(ctx, shop.ID, 1001, "heard_about")
	if err != nil || got.Answer != "friend" || got.CustomerPlatformID != 77 || !got.AnsweredAt.Equal(at) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	tally, err := s.SurveyTally(ctx, shop.ID, "heard_about", at.Add(-time.Hour))
	if err != nil || len(tally) != 1 || tally["friend"] != 1 {
		t.Fatalf("tally %v, %v", tally, err)
	}
}

func TestSaveSurveyAnswer_Concurrent_OneRow(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "survey-race.myshopify.com", models.Token{AccessToken: "x"})
	answers := []string{"search", "social", "friend", "ads", "podcast", "other", "search", "friend"}
	var wg sync.WaitGroup
	ids := make([]uint64, len(answers))
	stored := make([]string, len(answers))
	wins := make([]bool, len(answers))
	for i, ans := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, created, err := s.SaveSurveyAnswer(ctx, models.SurveyAnswer{ShopID: shop.ID, OrderPlatformID: 42, Question: "heard_about",
				Answer: ans, AnsweredAt: time.Now()})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i], stored[i], wins[i] = a.ID, a.Answer, created
		}()
	}
	wg.Wait()
	won := 0
	for i := range answers {
		if wins[i] {
			won++
		}
		if ids[i] != ids[0] || stored[i] != stored[0] {
			t.Errorf("caller %d saw answer %d %q, caller 0 saw %d %q", i, ids[i], stored[i], ids[0], stored[0])
		}
	}
	if won != 1 {
		t.Fatalf("%d callers stored an answer, want 1", won)
	}
	var n int64
	if err := s.DB().Model(&models.SurveyAnswer{}).Where("shop_id = ?", shop.ID).Count(&n).Error; err != nil || n != 1 {
		t.Fatalf("%d rows, %v", n, err)
	}
}

func TestDeleteSurveyAnswers_ByCustomerOrOrders(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "survey-redact.myshopify.com", models.Token{AccessToken: "x"})
	other := installShop(t, s, "survey-keep.myshopify.com", models.Token{AccessToken: "y"})
	save := func(shopID uint64, order, customer int64) {
		t.Helper()
		if _, _, err := s.SaveSurveyAnswer(ctx, models.SurveyAnswer{ShopID: shopID, OrderPlatformID: order, Question: "heard_about",
			CustomerPlatformID: customer, Answer: "other", Other: "my neighbour Ana", AnsweredAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	save(shop.ID, 1, 77)  // the customer's
	save(shop.ID, 2, 0)   // a guest order named in the request
	save(shop.ID, 3, 88)  // someone else's
	save(other.ID, 1, 77) // same ids, another shop
	save(shop.ID, 4, 77)  // the customer's again
	var n int64
	err := s.InTx(ctx, func(tx *models.Tx) error {
		var err error
		if none, err := tx.DeleteSurveyAnswers(shop.ID, 0, nil); err != nil || none != 0 {
			return errors.Join(err, errors.New("deleted with neither customer nor orders"))
		}
		n, err = tx.DeleteSurveyAnswers(shop.ID, 77, []int64{2})
		return err
	})
	if err != nil || n != 3 {
		t.Fatalf("deleted %d, %v; want 3", n, err)
	}
	for _, tc := range []struct {
		shop  uint64
		order int64
		kept  bool
	}{{shop.ID, 1, false}, {shop.ID, 2, false}, {shop.ID, 3, true}, {shop.ID, 4, false}, {other.ID, 1, true}} {
		_, err := s.SurveyAnswerOf(ctx, tc.shop, tc.order, "heard_about")
		if kept := err == nil; kept != tc.kept {
			t.Errorf("shop %d order %d: kept %v (err %v), want %v", tc.shop, tc.order, kept, err, tc.kept)
		}
	}
}
