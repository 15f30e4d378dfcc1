package collector

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// decodePolicy turns a policy document as IAM returns it (URL-encoded, RFC
// 3986) into canonical JSON (sorted keys). A document that is JSON
// already (moto 5.2.1 sends trust policies unencoded) is taken as it is.
// A document that does not decode or is not JSON is kept as a JSON string
// and reported.
func decodePolicy(doc string) (json.RawMessage, error) {
	s := strings.TrimSpace(doc)
	if s == "" {
		return nil, nil
	}
	if !strings.HasPrefix(s, "{") {
		// PathUnescape, not QueryUnescape: IAM encodes a "+" as %2B, and a
		// literal "+" must not become a space.
		d, err := url.PathUnescape(s)
		if err != nil {
			return canonicalJSON(doc), fmt.Errorf("policy document is not URL-encoded JSON: %w", err)
		}
		s = d
	}
	if !json.Valid([]byte(s)) {
		return canonicalJSON(s), errors.New("policy document is not JSON")
	}
	return canonicalJSON(s), nil
}

// PrincipalEveryone is the principal "*" (anyone, in any account).
const PrincipalEveryone = "*"

// TrustedPrincipals lists, sorted and once each, the principals the Allow
// statements of a policy document name: "AWS:arn:aws:iam::111122223333:root",
// "Service:ec2.amazonaws.com", "Federated:...", or "*" for "Principal": "*"
// (and {"AWS": "*"}). An Allow with NotPrincipal grants everyone it does
// not name, so it counts as "*". The document comes from the account being
// investigated: anything may be in it, and what is not a policy is an
// error, never a panic. Statement may be one object or a list; a value
// may be a string or a list of strings.
func TrustedPrincipals(doc []byte) ([]string, error) {
	return allowedPrincipals(doc, false)
}

// UnconditionalPrincipals lists, as TrustedPrincipals names them, the
// principals of the Allow statements that have no Condition: "*" among
// them is a policy open to everyone (custody unfreeze warns before it puts
// one back). A statement with a Condition is left out, its condition
// unjudged (aws:SourceVpce or aws:PrincipalOrgID confine it; others may
// not); an empty Condition ({} or null) is no condition. An error says a
// statement could not be read: what it grants is unknown.
func UnconditionalPrincipals(doc []byte) ([]string, error) {
	return allowedPrincipals(doc, true)
}

// allowedPrincipals is TrustedPrincipals, and with unconditional
// UnconditionalPrincipals.
func allowedPrincipals(doc []byte, unconditional bool) ([]string, error) {
	var p struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal(doc, &p); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	type statement struct {
		Effect       string
		Principal    json.RawMessage
		NotPrincipal json.RawMessage
		Condition    json.RawMessage
	}
	var stmts []statement
	if len(bytes.TrimSpace(p.Statement)) == 0 || string(bytes.TrimSpace(p.Statement)) == "null" {
		return nil, nil
	}
	if err := json.Unmarshal(p.Statement, &stmts); err != nil {
		var one statement
		if err := json.Unmarshal(p.Statement, &one); err != nil {
			return nil, errors.New("policy: Statement is neither a statement nor a list of them")
		}
		stmts = []statement{one}
	}
	set := map[string]bool{}
	var errs []error
	for i, s := range stmts {
		if s.Effect != "Allow" {
			continue
		}
		if unconditional {
			cond, err := hasCondition(s.Condition)
			if err != nil {
				errs = append(errs, fmt.Errorf("statement %d: %w", i, err))
			}
			if cond || err != nil {
				continue
			}
		}
		if len(s.NotPrincipal) > 0 && string(s.NotPrincipal) != "null" {
			set[PrincipalEveryone] = true
		}
		if len(s.Principal) == 0 || string(s.Principal) == "null" {
			continue
		}
		names, err := principalNames(s.Principal)
		if err != nil {
			errs = append(errs, fmt.Errorf("statement %d: %w", i, err))
		}
		for _, n := range names {
			set[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, errors.Join(errs...)
}

// hasCondition reports whether a statement's Condition says anything: an
// absent one, null or {} does not. One that is not an object is an error.
func hasCondition(raw json.RawMessage) (bool, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return false, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return false, errors.New("the Condition is not an object")
	}
	return len(m) > 0, nil
}

// principalNames reads one Principal element: "*", or {"TYPE": value}
// with value a string or a list of strings.
func principalNames(raw json.RawMessage) ([]string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == PrincipalEveryone {
			return []string{PrincipalEveryone}, nil
		}
		return nil, fmt.Errorf("principal %q is neither \"*\" nor an object", s)
	}
	var byType map[string]json.RawMessage
	if err := json.Unmarshal(raw, &byType); err != nil {
		return nil, errors.New("principal is neither \"*\" nor an object")
	}
	var out []string
	var errs []error
	for _, typ := range sortedKeys(byType) {
		var values []string
		if json.Unmarshal(byType[typ], &s) == nil {
			values = []string{s}
		} else if err := json.Unmarshal(byType[typ], &values); err != nil {
			errs = append(errs, fmt.Errorf("principal %s is neither a string nor a list of strings", typ))
			continue
		}
		for _, v := range values {
			if typ == "AWS" && v == PrincipalEveryone {
				out = append(out, PrincipalEveryone)
				continue
			}
			out = append(out, typ+":"+v)
		}
	}
	return out, errors.Join(errs...)
}

var (
	accountID  = regexp.MustCompile(`^[0-9]{12}$`)
	accountARN = regexp.MustCompile(`^arn:[a-z-]+:(?:iam|sts)::([0-9]{12}):`)
)

// PrincipalAccount is the account a principal of TrustedPrincipals belongs
// to: the account of an AWS principal ("AWS:111122223333",
// "AWS:arn:aws:iam::111122223333:role/x"), "*" for everyone, and "" for a
// service or a federated principal (or an AWS principal it cannot place).
func PrincipalAccount(p string) string {
	if p == PrincipalEveryone {
		return PrincipalEveryone
	}
	v, ok := strings.CutPrefix(p, "AWS:")
	if !ok {
		return ""
	}
	if accountID.MatchString(v) {
		return v
	}
	if m := accountARN.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	return ""
}

// CredentialReport is the IAM credential report, read from its CSV: one
// row per user (the account's root user included), each a map from the
// report's column names ("user", "arn", "password_enabled",
// "access_key_1_active", ...) to the value as written.
type CredentialReport struct {
	Columns []string            `json:"columns"`
	Rows    []map[string]string `json:"rows"`
}

// maxReportRows bounds what ParseCredentialReport reads: IAM allows 5,000
// users an account.
const maxReportRows = 100000

// ParseCredentialReport reads a credential report CSV. The header must
// name the "user" and "arn" columns, and every row must have as many
// fields as the header; an error names the line.
func ParseCredentialReport(r io.Reader) (CredentialReport, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		return CredentialReport{}, errors.New("credential report: empty")
	}
	if err != nil {
		return CredentialReport{}, fmt.Errorf("credential report: header: %w", err)
	}
	seen := map[string]bool{}
	for _, c := range header {
		if c == "" || seen[c] {
			return CredentialReport{}, fmt.Errorf("credential report: header: empty or repeated column %q", c)
		}
		seen[c] = true
	}
	if !seen["user"] || !seen["arn"] {
		return CredentialReport{}, errors.New(`credential report: header: no "user" or "arn" column`)
	}
	rep := CredentialReport{Columns: header, Rows: []map[string]string{}}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rep, nil
		}
		if err != nil {
			return rep, fmt.Errorf("credential report: %w", err)
		}
		if len(rep.Rows) == maxReportRows {
			return rep, fmt.Errorf("credential report: more than %d rows", maxReportRows)
		}
		row := make(map[string]string, len(header))
		for i, c := range header {
			row[c] = rec[i]
		}
		rep.Rows = append(rep.Rows, row)
	}
}

// stateChange is one item of a snapshot's state that differs from the
// previous snapshot's.
type stateChange struct {
	Item, Change  string // Change: added, removed, changed
	Before, After string // the item's JSON ("" when absent)
}

// diffState compares two snapshots' items (name to canonical JSON), in
// item order; without a previous snapshot there is no change (the first
// snapshot is the baseline).
func diffState(prev, cur map[string]string) []stateChange {
	if prev == nil {
		return nil
	}
	names := map[string]bool{}
	for n := range prev {
		names[n] = true
	}
	for n := range cur {
		names[n] = true
	}
	var out []stateChange
	for _, n := range sortedKeys(names) {
		a, hadA := prev[n]
		b, hasB := cur[n]
		switch {
		case !hadA:
			out = append(out, stateChange{Item: n, Change: "added", After: b})
		case !hasB:
			out = append(out, stateChange{Item: n, Change: "removed", Before: a})
		case a != b:
			out = append(out, stateChange{Item: n, Change: "changed", Before: a, After: b})
		}
	}
	return out
}

// stateValue is an item's canonical JSON.
func stateValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return `"unencodable"`
	}
	return string(canonicalJSON(string(b)))
}
