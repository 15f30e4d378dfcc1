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
	// Skip reports whether a file is known, from terms read from exactly
	// its sealed bytes, to hold no record the filter selects; Known
	// whether its terms are recorded at all.
	Skip(fl File) bool
	Known(fl File) bool
	// Record stores the terms of a file just read and checked.
	Record(ctx context.Context, fl File, terms []string) error
}

// LedgerIndex keeps the terms in the ledger (log_terms). Load reads them
// for one filter, keeping per file only whether it may match.
type LedgerIndex struct {
	Ledger  *ledger.Ledger
	Bucket  string
	mu      sync.Mutex
	known   map[string]indexed
	pending []ledger.LogTerms // recorded, not yet written
}

type indexed struct {
	sha      string
	mayMatch bool
}

// Load reads the terms already recorded and judges each file against f.
func (x *LedgerIndex) Load(ctx context.Context, f Filter) error {
	known := map[string]indexed{}
	err := x.Ledger.EachLogTerms(ctx, x.Bucket, func(key, version, sha string, terms []string) {
		set := make(map[string]bool, len(terms))
		for _, t := range terms {
			set[t] = true
		}
		known[key+"\x00"+version] = indexed{sha: sha, mayMatch: f.mayMatch(set)}
	})
	x.mu.Lock()
	x.known = known
	x.mu.Unlock()
	return err
}

// Skip reports whether terms read from the file's sealed bytes show it
// holds nothing the filter selects.
func (x *LedgerIndex) Skip(fl File) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	t, ok := x.known[fl.Key+"\x00"+fl.VersionID]
	return ok && fl.SHA256 != "" && t.sha == fl.SHA256 && !t.mayMatch
}

// Known reports whether the file's terms are recorded for its sealed bytes.
func (x *LedgerIndex) Known(fl File) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	t, ok := x.known[fl.Key+"\x00"+fl.VersionID]
	return ok && fl.SHA256 != "" && t.sha == fl.SHA256
}

// Record stores a file's terms: in batches, one transaction each (a
// transaction a file, with the search's readers all writing, kept them
// waiting on SQLite's lock); Flush records the rest. Terms are recorded
// only for a file the ledger holds sealed with the SHA-256 they were read
// from.
func (x *LedgerIndex) Record(ctx context.Context, fl File, terms []string) error {
	x.mu.Lock()
	x.pending = append(x.pending, ledger.LogTerms{Bucket: x.Bucket, Key: fl.Key, VersionID: fl.VersionID, SHA256: fl.SHA256, Terms: terms})
	var batch []ledger.LogTerms
	if len(x.pending) >= indexBatch {
		batch, x.pending = x.pending, nil
	}
	x.mu.Unlock()
	_, err := x.Ledger.RecordSealedLogTerms(ctx, batch)
	return err
}

// indexBatch is how many files' terms a search records per transaction.
const indexBatch = 500

// Flush records the terms Record holds.
func (x *LedgerIndex) Flush(ctx context.Context) error {
	x.mu.Lock()
	batch := x.pending
	x.pending = nil
	x.mu.Unlock()
	_, err := x.Ledger.RecordSealedLogTerms(ctx, batch)
	return err
}

// termsOf are a record's terms: what Filter's literal fields compare.
func termsOf(r *Record, into map[string]bool) {
	var buf [256]byte
	add := func(prefix, v string, fold bool) {
		if v == "" {
			return
		}
		b := append(append(buf[:0], prefix...), v...)
		if fold {
			b = lowerASCII(b, len(prefix), v)
		}
		if !into[string(b)] { // no allocation unless new
			into[string(b)] = true
		}
	}
	add("k:", r.AccessKey, false)
	add("ip:", r.SourceIP, false)
	add("b:", r.Bucket, false)
	add("e:", r.Action, true)
	add("p:", r.Principal, true)
	for _, n := range r.names {
		add("p:", n, true)
	}
}

// lowerASCII lowers b after its prefix in place when it is ASCII, else
// as strings.ToLower lowers v (what mayMatch compares with).
func lowerASCII(b []byte, prefix int, v string) []byte {
	for i := prefix; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 0x80:
			return append(b[:prefix], strings.ToLower(v)...)
		case 'A' <= c && c <= 'Z':
			b[i] = c + 'a' - 'A'
		}
	}
	return b
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
