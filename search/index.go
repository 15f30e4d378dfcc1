package search

import (
	"context"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/custody-ir/custody/internal/ledger"
)

// TermIndex remembers which filter values occur in which sealed files, so
// that a search skips, unread, the files that cannot match.
type TermIndex interface {
	// Terms are a file's terms, if known for exactly its sealed bytes.
	Terms(f File) (map[string]bool, bool)
	// Record stores the terms of a file just read and checked.
	Record(ctx context.Context, f File, terms []string) error
}

// LedgerIndex keeps the terms in the ledger (log_terms).
type LedgerIndex struct {
	Ledger *ledger.Ledger
	Bucket string
	mu     sync.Mutex
	known  map[string]ledger.FileTerms
}

// Load reads the terms already recorded.
func (x *LedgerIndex) Load(ctx context.Context) error {
	known, err := x.Ledger.LogTerms(ctx, x.Bucket)
	x.mu.Lock()
	x.known = known
	x.mu.Unlock()
	return err
}

// Terms returns a file's terms if they were read from its sealed bytes.
func (x *LedgerIndex) Terms(f File) (map[string]bool, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t, ok := x.known[f.Key+"\x00"+f.VersionID]
	if !ok || f.SHA256 == "" || t.SHA256 != f.SHA256 {
		return nil, false
	}
	return t.Terms, true
}

// Record stores a file's terms.
func (x *LedgerIndex) Record(ctx context.Context, f File, terms []string) error {
	return x.Ledger.RecordLogTerms(ctx, x.Bucket, f.Key, f.VersionID, f.SHA256, terms)
}

// termsOf are a record's terms: what Filter's literal fields compare.
func termsOf(r *Record, into map[string]bool) {
	add := func(prefix, v string) {
		if v != "" {
			into[prefix+v] = true
		}
	}
	add("k:", r.AccessKey)
	add("ip:", r.SourceIP)
	add("b:", r.Bucket)
	add("e:", strings.ToLower(r.Action))
	add("p:", strings.ToLower(r.Principal))
	for _, n := range r.names {
		add("p:", strings.ToLower(n))
	}
}

func sortedTerms(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// mayMatch reports whether a file with these terms can hold a record f
// selects: every literal field given has one of its values among them.
func (f Filter) mayMatch(terms map[string]bool) bool {
	anyOf := func(prefix string, vals []string, fold bool) bool {
		for _, v := range vals {
			if fold {
				v = strings.ToLower(v)
			}
			if terms[prefix+v] {
				return true
			}
		}
		return false
	}
	if len(f.AccessKeys) > 0 && !anyOf("k:", f.AccessKeys, false) ||
		len(f.Buckets) > 0 && !anyOf("b:", f.Buckets, false) ||
		len(f.Events) > 0 && !anyOf("e:", f.Events, true) ||
		len(f.Principals) > 0 && !anyOf("p:", f.Principals, true) {
		return false
	}
	if len(f.SourceIPs) > 0 && !anyOf("ip:", f.SourceIPs, false) {
		for t := range terms {
			ip, ok := strings.CutPrefix(t, "ip:")
			if !ok {
				continue
			}
			addr, err := netip.ParseAddr(ip)
			if err != nil {
				continue
			}
			for _, w := range f.SourceIPs {
				if p, err := netip.ParsePrefix(w); err == nil && p.Contains(addr) {
					return true
				}
			}
		}
		return false
	}
	return true
}
