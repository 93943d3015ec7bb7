package jobs

import (
	"log/slog"

	"github.com/doorstep/doorstep/models"
)

// PrivacyFlows are the flows every install runs: the compliance topics and
// the app's lifecycle.
func PrivacyFlows(store *models.Store, log *slog.Logger) []Flow { return nil }
