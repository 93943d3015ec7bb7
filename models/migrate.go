package models

import (
	"context"
	"fmt"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migrations lists every schema change in order. IDs are dates; each one
// works on its own frozen structs, so a later edit to types.go never changes
// what an old migration does.
func migrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{
		{
			ID: "202611220001_spine",
			Migrate: func(tx *gorm.DB) error {
				return tx.AutoMigrate(&v1Shop{}, &v1Customer{}, &v1Order{}, &v1LineItem{}, &v1Fulfillment{},
					&v1FulfillmentEvent{}, &v1Refund{}, &v1RefundLine{}, &v1Delivery{}, &v1Trigger{})
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("triggers", "deliveries", "refund_lines", "refunds", "fulfillment_events",
					"fulfillments", "line_items", "orders", "customers", "shops")
			},
		},
		{
			ID: "202611220002_privacy",
			Migrate: func(tx *gorm.DB) error {
				return tx.AutoMigrate(&v2Delivery{}, &v2AuditLog{}, &v2DataExport{})
			},
			Rollback: func(tx *gorm.DB) error {
				if err := tx.Migrator().DropTable("data_exports", "audit_logs"); err != nil {
					return err
				}
				return tx.Migrator().DropColumn(&v2Delivery{}, "order_platform_id")
			},
		},
		{
			// Indexes for the admin order list (newest first per shop) and for
			// retention, which only looks at rows that still have a body.
			ID: "202611220003_indexes",
			Migrate: func(tx *gorm.DB) error {
				return execAll(tx,
					"CREATE INDEX IF NOT EXISTS ix_orders_shop_created ON orders (shop_id, platform_created_at, id)",
					"CREATE INDEX IF NOT EXISTS ix_deliveries_body_received ON deliveries (received_at) WHERE body IS NOT NULL",
				)
			},
			Rollback: func(tx *gorm.DB) error {
				return execAll(tx,
					"DROP INDEX IF EXISTS ix_orders_shop_created",
					"DROP INDEX IF EXISTS ix_deliveries_body_received",
				)
			},
		},
		{
			// Per-shop order sync: backfill progress (resumable cursor) and
			// the reconcile high-water mark.
			ID: "202611220004_sync",
			Migrate: func(tx *gorm.DB) error {
				return tx.AutoMigrate(&v4SyncState{})
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("sync_states")
			},
		},
		{
			// Fulfillments, refunds and carrier events that arrive before their
			// parent are linked by platform id when the parent lands: without
			// these indexes each link would scan the table.
			ID: "202611220005_link_indexes",
			Migrate: func(tx *gorm.DB) error {
				return execAll(tx,
					"CREATE INDEX IF NOT EXISTS ix_fulfillments_order_platform ON fulfillments (shop_id, order_platform_id)",
					"CREATE INDEX IF NOT EXISTS ix_refunds_order_platform ON refunds (shop_id, order_platform_id)",
					"CREATE INDEX IF NOT EXISTS ix_fulfillment_events_fulfillment_platform ON fulfillment_events (shop_id, fulfillment_platform_id)",
				)
			},
			Rollback: func(tx *gorm.DB) error {
				return execAll(tx,
					"DROP INDEX IF EXISTS ix_fulfillments_order_platform",
					"DROP INDEX IF EXISTS ix_refunds_order_platform",
					"DROP INDEX IF EXISTS ix_fulfillment_events_fulfillment_platform",
				)
			},
		},
		{
			// The dispatcher asks for due triggers of the kinds some flow
			// subscribes to. Without kind leading an index, that scans every
			// pending trigger of every other kind (those wait for flows that
			// don't exist yet) on every round — quadratic under a backlog.
			ID: "202611220006_trigger_kind_index",
			Migrate: func(tx *gorm.DB) error {
				return tx.Exec("CREATE INDEX IF NOT EXISTS ix_triggers_kind_due ON triggers (kind, status, due_at)").Error
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Exec("DROP INDEX IF EXISTS ix_triggers_kind_due").Error
			},
		},
		{
			// Post-purchase messages: the messages with their unique key and
			// their decisions, settings, templates, holds, feedback,
			// suppressions, alerts, review asks and the outbox; marketing
			// consent on customers and the province code on addresses.
			ID: "202611220007_messages",
			Migrate: func(tx *gorm.DB) error {
				if err := tx.AutoMigrate(&v7Message{}, &v7MessageEvent{}, &v7ShopSettings{}, &v7MessageTemplate{}, &v7OrderHold{},
					&v7Feedback{}, &v7Suppression{}, &v7Alert{}, &v7ReviewAsk{}, &v7OutboxMessage{}); err != nil {
					return err
				}
				for _, col := range []string{"EmailMarketing", "SMSMarketing"} {
					if !tx.Migrator().HasColumn(&v7Customer{}, col) {
						if err := tx.Migrator().AddColumn(&v7Customer{}, col); err != nil {
							return err
						}
					}
				}
				if !tx.Migrator().HasColumn(&v7Order{}, "ShipProvinceCode") {
					return tx.Migrator().AddColumn(&v7Order{}, "ShipProvinceCode")
				}
				return nil
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("messages", "message_events", "shop_settings", "message_templates", "order_holds",
					"feedback", "suppressions", "alerts", "review_asks", "outbox_messages")
			},
		},
		{
			// Loyalty: the points ledger, cached balances and profiles,
			// redemptions, referrals and their clicks, program settings; and
			// what loyalty and referral attribution read from orders.
			ID: "202611230008_loyalty",
			Migrate: func(tx *gorm.DB) error {
				if err := tx.AutoMigrate(&v8LoyaltyEntry{}, &v8LoyaltyAccount{}, &v8LoyaltyRedemption{}, &v8Referral{},
					&v8ReferralClick{}, &v8LoyaltyProgram{}); err != nil {
					return err
				}
				// Unique when set: an empty code is "none yet".
				if err := tx.Exec("CREATE UNIQUE INDEX IF NOT EXISTS ux_loyalty_accounts_referral_code ON loyalty_accounts (shop_id, referral_code) WHERE referral_code <> ''").Error; err != nil {
					return err
				}
				for _, col := range []string{"OriginalSubtotal", "PresentmentCurrency", "DiscountCodes", "LandingSite", "ReferralCode", "BrowserIP"} {
					if !tx.Migrator().HasColumn(&v8Order{}, col) {
						if err := tx.Migrator().AddColumn(&v8Order{}, col); err != nil {
							return err
						}
					}
				}
				if !tx.Migrator().HasColumn(&v8LineItem{}, "DiscountAllocated") {
					return tx.Migrator().AddColumn(&v8LineItem{}, "DiscountAllocated")
				}
				return nil
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("loyalty_entries", "loyalty_accounts", "loyalty_redemptions", "referrals",
					"referral_clicks", "loyalty_programs")
			},
		},
		{
			// Most entries have no pending time (redemptions, reversals of
			// available points, adjustments) or no order (bonuses,
			// redemptions): partial indexes skip them, so posting one
			// updates fewer indexes.
			ID: "202611230009_loyalty_partial_indexes",
			Migrate: func(tx *gorm.DB) error {
				return execAll(tx,
					"DROP INDEX IF EXISTS ix_loyalty_entries_pending",
					"DROP INDEX IF EXISTS ix_loyalty_entries_order",
					"CREATE INDEX IF NOT EXISTS ix_loyalty_entries_pending ON loyalty_entries (shop_id, pending_until) WHERE pending_until IS NOT NULL",
					"CREATE INDEX IF NOT EXISTS ix_loyalty_entries_order ON loyalty_entries (shop_id, order_platform_id) WHERE order_platform_id <> 0",
				)
			},
			Rollback: func(tx *gorm.DB) error {
				return execAll(tx,
					"DROP INDEX IF EXISTS ix_loyalty_entries_pending",
					"DROP INDEX IF EXISTS ix_loyalty_entries_order",
					"CREATE INDEX IF NOT EXISTS ix_loyalty_entries_pending ON loyalty_entries (shop_id, pending_until)",
					"CREATE INDEX IF NOT EXISTS ix_loyalty_entries_order ON loyalty_entries (shop_id, order_platform_id)",
				)
			},
		},
		{
			// A referral link names only its code: find it across shops.
			ID: "202611230010_referral_code_index",
			Migrate: func(tx *gorm.DB) error {
				return tx.Exec("CREATE INDEX IF NOT EXISTS ix_loyalty_accounts_code ON loyalty_accounts (referral_code) WHERE referral_code <> ''").Error
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Exec("DROP INDEX IF EXISTS ix_loyalty_accounts_code").Error
			},
		},
		{
			// Dashboard: daily rollups per shop (stat_days), when each shop
			// was last rolled up (stat_states), and the indexes the rollup
			// and the live figures read by.
			ID: "202611230011_stats",
			Migrate: func(tx *gorm.DB) error {
				if err := tx.AutoMigrate(&v9StatDay{}, &v9StatState{}); err != nil {
					return err
				}
				for _, ix := range v9Indexes {
					if err := tx.Exec(ix.create).Error; err != nil {
						return err
					}
				}
				return nil
			},
			Rollback: func(tx *gorm.DB) error {
				for _, ix := range v9Indexes {
					if err := tx.Exec("DROP INDEX IF EXISTS " + ix.name).Error; err != nil {
						return err
					}
				}
				return tx.Migrator().DropTable("stat_days", "stat_states")
			},
		},
		{
			// The thank-you page's one-question survey: one answer per
			// order and question.
			ID: "202611230012_survey",
			Migrate: func(tx *gorm.DB) error {
				return tx.AutoMigrate(&v10SurveyAnswer{})
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("survey_answers")
			},
		},
		{
			// Helpdesks: connections (sealed credentials, the secret's hash
			// for lookups), the tickets their webhooks report, and the
			// tickets Doorstep asked them to open.
			ID: "202611230013_helpdesks",
			Migrate: func(tx *gorm.DB) error {
				return tx.AutoMigrate(&v11HelpdeskConnection{}, &v11Ticket{}, &v11TicketRequest{})
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("ticket_requests", "tickets", "helpdesk_connections")
			},
		},
		{
			// A shop's own SMTP relay and Twilio account (sealed), used
			// instead of the deployment's channels.
			ID: "202611230014_shop_channels",
			Migrate: func(tx *gorm.DB) error {
				return tx.AutoMigrate(&v12ShopChannel{})
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("shop_channels")
			},
		},
		{
			// The dispatcher reads waiting deliveries in id order, a round at
			// a time: with id third in the index each read stops at the
			// round's size instead of sorting the whole backlog.
			ID: "202611230015_delivery_pending_order",
			Migrate: func(tx *gorm.DB) error {
				return execAll(tx,
					"DROP INDEX IF EXISTS ix_deliveries_pending",
					"CREATE INDEX ix_deliveries_pending ON deliveries (status, dispatched_at, id)",
				)
			},
			Rollback: func(tx *gorm.DB) error {
				return execAll(tx,
					"DROP INDEX IF EXISTS ix_deliveries_pending",
					"CREATE INDEX ix_deliveries_pending ON deliveries (status, dispatched_at)",
				)
			},
		},
		{
			// The dispatcher reads due messages that were never handed over
			// by index instead of visiting every message already handed over
			// and still waiting for its task (see DueMessages).
			ID: "202611230016_message_dispatch_order",
			Migrate: func(tx *gorm.DB) error {
				return execAll(tx,
					"DROP INDEX IF EXISTS ix_messages_due",
					"CREATE INDEX ix_messages_dispatch ON messages (status, dispatched_at, due_at, id)",
				)
			},
			Rollback: func(tx *gorm.DB) error {
				return execAll(tx,
					"DROP INDEX IF EXISTS ix_messages_dispatch",
					"CREATE INDEX ix_messages_due ON messages (status, due_at)",
				)
			},
		},
		{
			// The dispatcher reads due triggers by kind and lost trigger
			// tasks from a partial index of the dispatched ones (see
			// DueTriggers): nothing reads (status, due_at) any more, and the
			// planner took it over the kind index whenever its statistics
			// predated a backlog. The hourly expiry of pending triggers
			// reads the table instead.
			ID: "202611230017_trigger_lost_index",
			Migrate: func(tx *gorm.DB) error {
				return execAll(tx,
					"DROP INDEX IF EXISTS ix_triggers_due",
					"CREATE INDEX ix_triggers_lost ON triggers (dispatched_at) WHERE status = 'dispatched'",
				)
			},
			Rollback: func(tx *gorm.DB) error {
				return execAll(tx,
					"DROP INDEX IF EXISTS ix_triggers_lost",
					"CREATE INDEX ix_triggers_due ON triggers (status, due_at)",
				)
			},
		},
		{
			// The frequency cap reads a recipient's recent marketing sends
			// (MarketingSendTimes). Without this it had only shop_id to go
			// by and read every message of the shop for each review, NPS
			// or loyalty message. Transactional messages are outside the
			// predicate, so their writes do not touch it.
			ID: "202611240018_message_marketing_index",
			Migrate: func(tx *gorm.DB) error {
				return execAll(tx, "CREATE INDEX IF NOT EXISTS ix_messages_marketing ON messages (shop_id, recipient) WHERE marketing")
			},
			Rollback: func(tx *gorm.DB) error {
				return execAll(tx, "DROP INDEX IF EXISTS ix_messages_marketing")
			},
		},
	}
}

// execAll runs a migration's statements in order, stopping at the first
// that fails.
func execAll(tx *gorm.DB, stmts ...string) error {
	for _, stmt := range stmts {
		if err := tx.Exec(stmt).Error; err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// migrateLockKey serializes migrations across processes on PostgreSQL (web
// and worker starting together must not both create tables).
const migrateLockKey = 0x646f6f72 // "door"

// Migrate brings the schema up to date. It is safe to run from several
// processes at once.
func Migrate(ctx context.Context, db *gorm.DB) error {
	run := func(tx *gorm.DB) error {
		m := gormigrate.New(tx, gormigrate.DefaultOptions, migrations())
		if err := m.Migrate(); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	}
	if !IsPostgres(db) {
		return run(db.WithContext(ctx).Session(&gorm.Session{NewDB: true}))
	}
	// Connection pins one session so the advisory lock and the migration
	// share it.
	return db.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		if err := conn.Exec("SELECT pg_advisory_lock(?)", migrateLockKey).Error; err != nil {
			return fmt.Errorf("migrate lock: %w", err)
		}
		defer conn.Exec("SELECT pg_advisory_unlock(?)", migrateLockKey)
		return run(conn.Session(&gorm.Session{NewDB: true}))
	})
}
