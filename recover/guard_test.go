package recovery

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/custody"
)

func TestIsCustodyKey(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	run := custody.NewRunID(now)
	for key, want := range map[string]bool{
		custody.ManifestKey("custody", "agent", 1):        true,
		custody.ManifestKey("", "agent", 42):              true,
		custody.ManifestKey("org/ir/custody", "a-b", 7):   true,
		custody.CheckpointKey("custody", "responder"):     true,
		custody.CheckpointKey("", "responder"):            true,
		custody.TimestampKey("x", "agent", 3):             true,
		"custody/manifests/agent/notes.txt":               false,
		"custody/manifests/agent/000000000000.dsse.json":  false, // seq 0 is never written
		"custody/manifests/000000000001.dsse.json":        false, // no stream
		"mymanifests/agent/000000000001.dsse.json":        false,
		"data/manifests/agent/1.dsse.json":                false,
		"reports/2026/11/q4.pdf":                          false,
		custody.CaseKey("custody", "IR-7", now, run, "x"): false, // an artifact, not a manifest
	} {
		if got := IsCustodyKey(key); got != want {
			t.Errorf("IsCustodyKey(%q) = %v, want %v", key, got, want)
		}
	}
	for key, want := range map[string]bool{
		custody.CaseKey("custody", "IR-7", now, run, "dump.raw"):                            true,
		custody.ArtifactKey("", "123456789012", "us-east-1", "posture", now, run, "p.json"): true,
		custody.EventKey("ir", "responder", now, run, "summary.json"):                       true,
		"reports/2026/11/29/q4.pdf":                                                         false,
		"backups/2026/11/29/20261129T120000Z/db.dump":                                       false,
		"logs/2026/11/29/20261129T120000Z-0badcafe":                                         false, // a file, not a run folder
	} {
		if got := isCustodyLayout(key); got != want {
			t.Errorf("isCustodyLayout(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	oldest := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	newOnly := &Plan{Bucket: "b", Target: oldest.Add(-time.Hour), Oldest: oldest, Keys: 3,
		Actions: []Action{{Kind: HideNew, Key: "a"}, {Kind: HideNew, Key: "b"}}}
	err := CheckTarget(newOnly, false)
	if !errors.Is(err, ErrTargetBeforeOldest) || !strings.Contains(err.Error(), "all 2 key(s) there now would be hidden") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("target before the oldest version: %v", err)
	}
	if err := CheckTarget(newOnly, true); err != nil {
		t.Fatalf("--force: %v", err)
	}
	for name, p := range map[string]*Plan{
		"target after the oldest": {Target: oldest.Add(time.Hour), Oldest: oldest, Keys: 1, Actions: []Action{{Kind: HideNew}}},
		"empty bucket":            {Target: oldest.Add(-time.Hour), Keys: 0},
		"restored from a replica": {Target: oldest.Add(-time.Hour), Oldest: oldest, Keys: 2, Actions: []Action{{Kind: ReplicaCopy}, {Kind: HideNew}}},
	} {
		if err := CheckTarget(p, false); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestChangesCountsWhatChangesTheBucket(t *testing.T) {
	p := &Plan{Actions: []Action{{Kind: CopyBack}, {Kind: ReportNew}, {Kind: RemoveMarkers}, {Kind: Unrecoverable}, {Kind: HideNew}, {Kind: ReplicaCopy}}}
	if p.Changes() != 4 {
		t.Fatalf("Changes() = %d, want 4 (new-key and unrecoverable are reported only)", p.Changes())
	}
}
