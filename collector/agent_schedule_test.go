package collector

import (
	"testing"

	"github.com/custody-ir/custody/internal/config"
)

// TestEveryKindHasItsSchedule: the agent runs every collector kind on the
// schedule configured for it; a kind the agent has no schedule for would
// be planned and never run ("collector disabled: no schedule").
func TestEveryKindHasItsSchedule(t *testing.T) {
	a := &Agent{Schedules: config.Schedules{CloudTrail: "@every 1m", Config: "@every 2m", Posture: "@every 3m", Versions: "@every 4m",
		AccessLogs: "@every 5m", IAM: "@every 6m", KMS: "@every 7m", Findings: "@every 8m"}}
	seen := map[string]string{}
	for _, k := range Kinds {
		if k.Kind == "organization" {
			continue // the account list has its own schedule (sources.organization.schedule)
		}
		s := a.schedule(k.Kind)
		if s == "" {
			t.Errorf("kind %s has no schedule in the agent", k.Kind)
		}
		if other, dup := seen[s]; dup {
			t.Errorf("kinds %s and %s share schedule %s", k.Kind, other, s)
		}
		seen[s] = k.Kind
	}
}
