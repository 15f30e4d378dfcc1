package custody

import (
	"context"
	"strings"
	"testing"

	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// TestCaseManifestsAreProvenInTheLog: a case whose manifests are not
// neighbours travels as those manifests and their inclusion proofs.
func TestCaseManifestsAreProvenInTheLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeCompliance)
	addCase := func() {
		run, err := e.chain.StartRun(ctx, "add")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := run.Put(ctx, CaseKey("custody", "IR-3", e.clock.now(), run.ID, "notes.txt"), strings.NewReader("notes "+run.ID), PutOptions{Kind: "file", Case: "IR-3"}); err != nil {
			t.Fatal(err)
		}
		if _, err := run.Seal(ctx, SealRequest{Event: EventAdd, Case: "IR-3"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	e.collect(e.chain, 1)
	addCase() // 2
	e.collect(e.chain, 1)
	e.collect(e.chain, 1)
	addCase() // 5
	e.collect(e.chain, 1)
	e.collect(e.chain, 1)
	pkg, res := e.export(VerifyOptions{Case: "IR-3"})
	if res.Manifests != 2 || res.Artifacts != 2 {
		t.Fatalf("case package holds %d manifests, %d artifacts; want 2 and 2", res.Manifests, res.Artifacts)
	}
	r, err := VerifyBundle(ctx, pkg, VerifyOptions{}, e.pinned(), e.clock.now)
	if err != nil || !r.OK || r.Checked.Manifests != 2 || r.Unchecked.Manifests != 5 {
		t.Fatalf("case package: %v %v %+v %+v", err, testaws.Failures(r.Findings), r.Checked, r.Unchecked)
	}
}
