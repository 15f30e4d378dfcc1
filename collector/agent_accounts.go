package collector

import (
	"reflect"
	"sort"
)

// accountOf is the AWS account a source collects from: its Account field
// (every collector of an account has one), the account of the source
// whose discovery failed, or "" for a source of no one account (the
// organization's listing).
func accountOf(c Collector) string {
	if f, ok := c.(*Failed); ok {
		return accountOf(f.Source)
	}
	v := reflect.ValueOf(c)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	if f := v.FieldByName("Account"); f.IsValid() && f.Kind() == reflect.String {
		return f.String()
	}
	return ""
}

// accountHealth is one account's part of /healthz: how many sources the
// agent collects from it, and those failing their last UnhealthyAfter
// runs in a row.
type accountHealth struct {
	Status  string   `json:"status"` // "ok" or "degraded"
	Sources int      `json:"sources"`
	Failing []string `json:"failing,omitempty"`
}

// accountsHealth groups the sources by account and sets the per-account
// gauges. Called with a.mu held.
func (a *Agent) accountsHealth() map[string]accountHealth {
	out := map[string]accountHealth{}
	for name := range a.status {
		acct := a.accounts[name]
		h := out[acct]
		h.Sources++
		if a.status[name].ConsecutiveFailures >= a.unhealthyAfter() {
			h.Failing = append(h.Failing, name)
		}
		out[acct] = h
	}
	for acct, h := range out {
		h.Status = "ok"
		if len(h.Failing) > 0 {
			h.Status = "degraded"
		}
		sort.Strings(h.Failing)
		out[acct] = h
		a.metrics.accountSources.WithLabelValues(acct).Set(float64(h.Sources))
		a.metrics.accountFailing.WithLabelValues(acct).Set(float64(len(h.Failing)))
	}
	return out
}
