package models

import "time"

// Frozen structs of migration 202611230013_helpdesks.

type v11HelpdeskConnection struct {
	ID             uint64 `gorm:"primaryKey"`
	ShopID         uint64 `gorm:"not null;index"`
	Kind           string `gorm:"size:16;not null"`
	BaseURL        string `gorm:"size:255;not null"`
	Email          string `gorm:"size:320;not null;default:''"`
	CredentialsEnc []byte
	SecretEnc      []byte
	SecretHash     string `gorm:"size:64;not null;uniqueIndex"`
	PublicKeyPEM   string `gorm:"type:text;not null;default:''"`
	PublicKeyURL   string `gorm:"size:2048;not null;default:''"`
	Resources      string `gorm:"type:text;not null;default:'{}'"`
	Settings       string `gorm:"type:text;not null;default:'{}'"`
	TicketReasons  string `gorm:"size:255;not null;default:''"`
	LastCallAt     *time.Time
	LastError      string `gorm:"size:1024;not null;default:''"`
	LastErrorAt    *time.Time
	DisconnectedAt *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (v11HelpdeskConnection) TableName() string { return "helpdesk_connections" }

type v11Ticket struct {
	ID              uint64 `gorm:"primaryKey"`
	ShopID          uint64 `gorm:"not null;index:ix_tickets_shop_email,priority:1"`
	ConnectionID    uint64 `gorm:"not null;uniqueIndex:ux_tickets_external,priority:1"`
	ExternalID      string `gorm:"size:64;not null;uniqueIndex:ux_tickets_external,priority:2"`
	CustomerEmail   string `gorm:"size:320;not null;default:'';index:ix_tickets_shop_email,priority:2"`
	OrderPlatformID int64  `gorm:"not null;default:0"`
	Status          string `gorm:"size:16;not null"`
	Subject         string `gorm:"size:512;not null;default:''"`
	URL             string `gorm:"size:2048;not null;default:''"`
	DedupKey        string `gorm:"size:255;not null;default:''"`
	RemoteUpdatedAt *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (v11Ticket) TableName() string { return "tickets" }

type v11TicketRequest struct {
	ID              uint64 `gorm:"primaryKey"`
	ShopID          uint64 `gorm:"not null;index"`
	ConnectionID    uint64 `gorm:"not null;uniqueIndex:ux_ticket_requests_key,priority:1"`
	DedupKey        string `gorm:"size:255;not null;uniqueIndex:ux_ticket_requests_key,priority:2"`
	OrderPlatformID int64  `gorm:"not null;default:0"`
	Reason          string `gorm:"size:32;not null"`
	AlertID         uint64 `gorm:"not null;default:0"`
	Status          string `gorm:"size:16;not null"`
	ExternalID      string `gorm:"size:64;not null;default:''"`
	Attempts        int    `gorm:"not null;default:0"`
	LastError       string `gorm:"size:1024;not null;default:''"`
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (v11TicketRequest) TableName() string { return "ticket_requests" }
