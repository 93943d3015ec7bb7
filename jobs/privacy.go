package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/models"
)

// The privacy flows: what Shopify's compliance topics and the app's
// lifecycle oblige every install to do. Each runs its change, its
// idempotency check and its audit row in one transaction: the audit row's
// subject names the trigger, so a trigger run twice (a crash, a
// re-dispatch) finds its row and changes nothing. Audit rows hold ids and
// counts, never an email, name, phone or address. None of them calls
// Shopify: after an uninstall the token is already revoked.

// PrivacyFlows are the flows every install runs: the compliance topics and
// the app's lifecycle.
func PrivacyFlows(store *models.Store, log *slog.Logger) []Flow {
	p := &privacy{store: store, log: log}
	return []Flow{
		privacyFlow{name: "gdpr_redact", kind: models.TriggerCustomerRedact, handle: p.redactCustomer},
		privacyFlow{name: "gdpr_data_request", kind: models.TriggerCustomerDataReq, handle: p.exportCustomer},
		privacyFlow{name: "gdpr_shop_redact", kind: models.TriggerShopRedact, handle: p.redactShop},
		privacyFlow{name: "uninstall", kind: models.TriggerUninstalled, handle: p.uninstall},
	}
}

type privacyFlow struct {
	name   string
	kind   string
	handle func(ctx context.Context, t models.Trigger) error
}

func (f privacyFlow) Name() string                                       { return f.name }
func (f privacyFlow) Kinds() []string                                    { return []string{f.kind} }
func (f privacyFlow) Handle(ctx context.Context, t models.Trigger) error { return f.handle(ctx, t) }

type privacy struct {
	store *models.Store
	log   *slog.Logger
}

// auditSubject names what the trigger is about and the trigger itself:
// the idempotency key of its audit row.
func auditSubject(t models.Trigger) string {
	return t.Subject + " trigger:" + strconv.FormatUint(t.ID, 10)
}

// once runs work in one transaction unless the trigger's audit row exists,
// then writes that row. work returns the audit detail (rows per table, and
// for some actions a note) and the row count.
func (p *privacy) once(ctx context.Context, t models.Trigger, action string,
	work func(tx *models.Tx) (detail map[string]any, rows int64, err error)) error {
	subject := auditSubject(t)
	var wrote bool
	var rows int64
	err := p.store.InTx(ctx, func(tx *models.Tx) error {
		// Two copies of the same trigger take turns here; the second then
		// finds the first one's audit row.
		if _, err := tx.LockTrigger(t.ID); err != nil && !errors.Is(err, models.ErrNotFound) {
			return err
		}
		done, err := tx.AuditExists(t.ShopID, action, subject)
		if err != nil || done {
			return err
		}
		detail, n, err := work(tx)
		if err != nil {
			return err
		}
		b, err := json.Marshal(detail)
		if err != nil {
			return fmt.Errorf("audit detail: %w", err)
		}
		rows, wrote = n, true
		return tx.WriteAudit(models.AuditLog{ShopID: t.ShopID, Action: action, Subject: subject, Rows: n, Detail: string(b)})
	})
	if err != nil {
		return err
	}
	if wrote {
		p.log.Info("privacy action done", "action", action, "shop", t.ShopID, "trigger", t.ID, "rows", rows)
	}
	return nil
}

func countsDetail(counts map[string]int64) map[string]any {
	d := make(map[string]any, len(counts))
	for k, v := range counts {
		d[k] = v
	}
	return d
}

// customerOf reads the customer id from a "customer:<id>" subject.
func customerOf(t models.Trigger) (int64, error) {
	s, ok := strings.CutPrefix(t.Subject, "customer:")
	id, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil {
		return 0, fmt.Errorf("trigger %d: subject %q names no customer: %w", t.ID, t.Subject, asynq.SkipRetry)
	}
	return id, nil
}

// complianceBody is what customers/redact and customers/data_request carry
// beyond the customer id.
type complianceBody struct {
	Customer struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
		Phone string `json:"phone"`
	} `json:"customer"`
	OrdersToRedact  []int64 `json:"orders_to_redact"`
	OrdersRequested []int64 `json:"orders_requested"`
	DataRequest     struct {
		ID int64 `json:"id"`
	} `json:"data_request"`
}

// requestBody re-reads the trigger's delivery. Retention may have dropped
// its body already (or a redaction of the same customer): then the zero
// value, and the flow works from the customer id and what is stored.
func (p *privacy) requestBody(ctx context.Context, t models.Trigger) (complianceBody, models.Delivery, error) {
	var b complianceBody
	if t.DeliveryID == 0 {
		return b, models.Delivery{}, nil
	}
	d, err := p.store.Delivery(ctx, t.DeliveryID)
	if errors.Is(err, models.ErrNotFound) {
		return b, models.Delivery{}, nil
	}
	if err != nil {
		return b, models.Delivery{}, err
	}
	if d.ShopID != t.ShopID || len(d.Body) == 0 {
		return b, d, nil
	}
	if err := json.Unmarshal(d.Body, &b); err != nil {
		// It parsed when it was processed; keep going on the id alone.
		p.log.Warn("compliance delivery body does not parse", "delivery", d.ID, "err", err)
		return complianceBody{}, d, nil
	}
	return b, d, nil
}

// redactCustomer (customers/redact): erase that customer's personal data
// everywhere, keeping totals.
func (p *privacy) redactCustomer(ctx context.Context, t models.Trigger) error {
	id, err := customerOf(t)
	if err != nil {
		return err
	}
	body, _, err := p.requestBody(ctx, t)
	if err != nil {
		return err
	}
	return p.once(ctx, t, models.AuditCustomerRedact, func(tx *models.Tx) (map[string]any, int64, error) {
		counts, err := tx.RedactCustomer(t.ShopID, id, body.Customer.Email, body.Customer.Phone, body.OrdersToRedact)
		if err != nil {
			return nil, 0, err
		}
		return countsDetail(counts), models.SumRows(counts), nil
	})
}

// exportCustomer (customers/data_request): assemble everything held for
// that customer and keep it for the merchant to download.
func (p *privacy) exportCustomer(ctx context.Context, t models.Trigger) error {
	id, err := customerOf(t)
	if err != nil {
		return err
	}
	body, d, err := p.requestBody(ctx, t)
	if err != nil {
		return err
	}
	key := d.EventID
	if key == "" {
		key = t.Version // the delivery's event id, kept on the trigger
	}
	if body.DataRequest.ID != 0 {
		key = strconv.FormatInt(body.DataRequest.ID, 10)
	}
	if key == "" {
		key = "trigger:" + strconv.FormatUint(t.ID, 10)
	}
	return p.once(ctx, t, models.AuditDataRequest, func(tx *models.Tx) (map[string]any, int64, error) {
		export, err := tx.ExportCustomer(t.ShopID, id, body.Customer.Email, body.OrdersRequested)
		if errors.Is(err, models.ErrNotFound) {
			return map[string]any{"skipped": "shop deleted"}, 0, nil
		}
		if err != nil {
			return nil, 0, err
		}
		b, err := json.MarshalIndent(export, "", "  ")
		if err != nil {
			return nil, 0, fmt.Errorf("encode export: %w", err)
		}
		saved, err := tx.SaveDataExport(t.ShopID, key, id, b)
		if err != nil {
			return nil, 0, err
		}
		detail := countsDetail(export.Counts)
		detail["export_id"] = strconv.FormatUint(saved.ID, 10)
		return detail, models.SumRows(export.Counts), nil
	})
}

// redactShop (shop/redact, 48 h after uninstall): delete the shop's data.
// A shop that installed the app again keeps it (Shopify does not send
// shop/redact after a reinstall; this is the belt to that brace).
func (p *privacy) redactShop(ctx context.Context, t models.Trigger) error {
	return p.once(ctx, t, models.AuditShopRedact, func(tx *models.Tx) (map[string]any, int64, error) {
		counts, err := tx.DeleteShopData(t.ShopID)
		switch {
		case errors.Is(err, models.ErrShopInstalled):
			p.log.Warn("shop/redact for an installed shop: nothing deleted", "shop", t.ShopID)
			return map[string]any{"skipped": "shop is installed"}, 0, nil
		case errors.Is(err, models.ErrNotFound):
			return map[string]any{"skipped": "shop already deleted"}, 0, nil
		case err != nil:
			return nil, 0, err
		}
		return countsDetail(counts), models.SumRows(counts), nil
	})
}

// uninstall (app/uninstalled): processing already marked the shop and
// dropped its tokens; stop its scheduled work.
func (p *privacy) uninstall(ctx context.Context, t models.Trigger) error {
	return p.once(ctx, t, models.AuditUninstalled, func(tx *models.Tx) (map[string]any, int64, error) {
		counts, err := tx.CancelShopTriggers(t.ShopID)
		switch {
		case errors.Is(err, models.ErrShopInstalled):
			return map[string]any{"skipped": "shop is installed again"}, 0, nil
		case errors.Is(err, models.ErrNotFound):
			return map[string]any{"skipped": "shop already deleted"}, 0, nil
		case err != nil:
			return nil, 0, err
		}
		return countsDetail(counts), models.SumRows(counts), nil
	})
}
