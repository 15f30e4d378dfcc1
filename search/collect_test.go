package search

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/ledger"
)

// TestCollectIndex: files captured as a run stores them are indexed once
// the run is sealed, and only then; a run never sealed, a file too large
// to capture, an artifact the ledger does not hold sealed, and bytes that
// are not what was stored leave no terms, and search reads those files.
// The terms are those a search's own read records.
func TestCollectIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	w := newWorld(t, start, 0)
	x := NewCollectIndex(w.ledger, nil, CollectIndexOptions{MaxFile: 4 << 10, Batch: 2})
	n := 0
	logFile := func(key string, pad int) []byte {
		n++
		e := event{At: start.Add(time.Duration(n) * time.Minute), Name: "GetObject", ARN: attacker, AccessKey: key, IP: "203.0.113.7", Bucket: "customer-data",
			Key: "k", ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n)}
		rec := e.json()
		noise := make([]byte, pad)
		_, _ = rand.Read(noise) // incompressible
		rec["padding"] = hex.EncodeToString(noise)
		raw, _ := json.Marshal(map[string]any{"Records": []any{rec}})
		return gzipped(raw)
	}
	type stored struct {
		a    custody.Artifact
		body []byte
	}
	put := func(run *custody.Run, body []byte, capture bool) stored {
		t.Helper()
		n++
		src := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/2026/10/01/111122223333_CloudTrail_us-east-1_20261001T%02d%02dZ_%016x.json.gz", n/60, n%60, n)
		key := custody.ArtifactPath(w.cfg.Prefix, "111122223333", "us-east-1", "cloudtrail", time.Now(), run.ID, src)
		var r io.Reader = bytes.NewReader(body)
		var done func(string, custody.Artifact, error)
		if capture {
			r, done = x.Capture(KindCloudTrailLog, r)
		}
		a, err := run.Put(ctx, key, r, custody.PutOptions{Kind: KindCloudTrailLog, Account: "111122223333", Region: "us-east-1", Source: "s3://trail/" + src, ContentType: "application/gzip"})
		if done != nil {
			done(run.ID, a, err)
		}
		if err != nil {
			t.Fatal(err)
		}
		return stored{a, body}
	}
	seal := func(run *custody.Run) {
		t.Helper()
		if _, err := run.Seal(ctx, custody.SealRequest{Event: custody.EventCollect, Account: "111122223333", Region: "us-east-1"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	startRun := func() *custody.Run {
		t.Helper()
		run, err := w.chain.StartRun(ctx, "cloudtrail")
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	if r, _ := x.Capture("cloudtrail-digest", strings.NewReader("")); r != nil {
		t.Fatal("a digest was captured: only log files are indexed")
	}

	// A sealed run: its three files are indexed (one too large to be).
	sealed := startRun()
	indexed := []stored{put(sealed, logFile(attackerKey, 0), true), put(sealed, logFile(appKey, 0), true), put(sealed, logFile(appKey, 0), true)}
	put(sealed, logFile(appKey, 8<<10), true) // too large to capture
	seal(sealed)
	x.Sealed(sealed.ID)

	// A run that is never sealed: nothing of it is indexed.
	unsealed := startRun()
	put(unsealed, logFile(appKey, 0), true)
	x.Unsealed(unsealed.ID)

	// A run said sealed whose artifacts no manifest seals (the ledger
	// decides, not the caller): not indexed.
	claimed := startRun()
	put(claimed, logFile(appKey, 0), true)
	x.Sealed(claimed.ID)

	// Sealed, but not captured (collected before the index): read.
	other := startRun()
	put(other, logFile(appKey, 0), false)
	seal(other)

	if err := x.Close(ctx); err != nil {
		t.Fatal(err)
	}
	seal(claimed)
	got := map[string][]string{}
	if err := w.ledger.EachLogTerms(ctx, w.cfg.Bucket, func(key, version, sha string, terms []string) { got[key] = terms }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d files indexed, want the sealed run's 3 small ones: %v", len(got), got)
	}
	for _, s := range indexed {
		if _, ok := got[s.a.Key]; !ok {
			t.Fatalf("%s not indexed", s.a.Key)
		}
	}
	if st := x.Stats(); st.Indexed != 3 || st.Dropped != 3 || st.Failed != 0 {
		t.Fatalf("stats %+v, want 3 indexed and 3 dropped (too large, unsealed, claimed)", st)
	}
	indexedTerms := got[indexed[0].a.Key]
	if !contains(indexedTerms, "k:"+attackerKey) || !contains(indexedTerms, "p:mallory") || !contains(indexedTerms, "e:getobject") {
		t.Fatalf("terms of the attacker's file: %v", indexedTerms)
	}

	// A search: the indexed files without the key are left unread; the
	// others (too large, claimed, uncaptured) are read and indexed now,
	// with the terms a search's own read records.
	all, err := LedgerCatalog{Ledger: w.ledger, Bucket: w.cfg.Bucket}.Files(ctx, KindCloudTrailLog)
	if err != nil || len(all) != 6 {
		t.Fatalf("%d sealed files, %v; want 6", len(all), err)
	}
	f := Filter{AccessKeys: []string{attackerKey}}
	idx := &LedgerIndex{Ledger: w.ledger, Bucket: w.cfg.Bucket}
	if err := idx.Load(ctx, f); err != nil {
		t.Fatal(err)
	}
	var recs []Record
	st, problems, err := Searcher{API: w.s3, Index: idx}.Run(ctx, Window(all, time.Time{}, time.Time{}, 0), f, func(r Record) error { recs = append(recs, r); return nil })
	if err != nil || len(problems) != 0 || len(recs) != 1 || st.Read != 4 || st.Unread != 2 || st.Unindexed != 3 {
		t.Fatalf("search: %d records, %+v, %v %v", len(recs), st, problems, err)
	}
	// The terms a search's own read records are those recorded at
	// collection.
	if err := w.ledger.ForgetLogTerms(ctx, w.cfg.Bucket, []ledger.ArtifactRef{{Key: indexed[0].a.Key, VersionID: indexed[0].a.VersionID}}); err != nil {
		t.Fatal(err)
	}
	if err := idx.Load(ctx, f); err != nil {
		t.Fatal(err)
	}
	if st, _, err := (Searcher{API: w.s3, Index: idx}).Run(ctx, Window(all, time.Time{}, time.Time{}, 0), f, func(Record) error { return nil }); err != nil || st.Unindexed != 1 {
		t.Fatalf("search after forgetting one file's terms: %+v %v", st, err)
	}
	var reread []string
	_ = w.ledger.EachLogTerms(ctx, w.cfg.Bucket, func(key, _, _ string, terms []string) {
		if key == indexed[0].a.Key {
			reread = terms
		}
	})
	if strings.Join(reread, ",") != strings.Join(indexedTerms, ",") {
		t.Fatalf("terms recorded by a search %v, at collection %v", reread, indexedTerms)
	}
	body := indexed[0].body
	if terms, err := fileTerms(KindCloudTrailLog, indexed[0].a.SHA256, body); err != nil || strings.Join(terms, ",") != strings.Join(indexedTerms, ",") {
		t.Fatalf("fileTerms: %v %v", terms, err)
	}
	if _, err := fileTerms(KindCloudTrailLog, strings.Repeat("0", 64), body); err == nil {
		t.Fatal("terms of bytes that are not what was stored")
	}
	plain := []byte("plain")
	if _, err := fileTerms(KindCloudTrailLog, hashOf(plain), plain); err == nil {
		t.Fatal("terms of a CloudTrail file that is not gzip")
	}
}

// TestCollectIndexNeverBlocks: with no room to hold captured bytes, Put
// goes on at full speed and the files are left to search.
func TestCollectIndexNeverBlocks(t *testing.T) {
	t.Parallel()
	x := NewCollectIndex(nil, nil, CollectIndexOptions{MaxHeld: 10})
	r, done := x.Capture(KindAccessLog, strings.NewReader(strings.Repeat("a", 1000)))
	b, err := io.ReadAll(r)
	if err != nil || len(b) != 1000 {
		t.Fatalf("read through a capture that gave up: %d bytes, %v", len(b), err)
	}
	done("run", custody.Artifact{VersionID: "v", SHA256: "s"}, nil)
	if st := x.Stats(); st.Dropped != 1 || x.held.Load() != 0 {
		t.Fatalf("stats %+v, held %d", st, x.held.Load())
	}
	if err := x.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func gzipped(raw []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	return b.Bytes()
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
