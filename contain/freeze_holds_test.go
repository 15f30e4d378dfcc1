package contain

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/custody"
)

// holdPuts counts the legal holds a freezer puts.
type holdPuts struct {
	BucketAPI
	put []Version
}

func (h *holdPuts) PutObjectLegalHold(ctx context.Context, in *s3.PutObjectLegalHoldInput, opts ...func(*s3.Options)) (*s3.PutObjectLegalHoldOutput, error) {
	h.put = append(h.put, Version{Key: aws.ToString(in.Key), VersionID: aws.ToString(in.VersionId)})
	return h.BucketAPI.PutObjectLegalHold(ctx, in, opts...)
}

// TestFreezeAgainChecksHolds: a freeze run again on a frozen bucket reads
// each version's legal hold and puts none that is in place: nothing
// sealed, "already frozen". A hold lifted since (by the owner, whom the
// freeze's deny does not bind on MinIO) is put again, alone, and the
// event sealed names it: that is evidence someone lifted it.
func TestFreezeAgainChecksHolds(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	a, b, c := w.version("a.csv"), w.version("b.csv"), w.version("c.csv")
	f := w.freezer()
	api := &holdPuts{BucketAPI: w.c}
	f.API = api
	o := FreezeOptions{Partition: "aws", Allowed: allowed, Hold: []Version{a, b, c}}
	if res, err := f.Freeze(ctx, o); err != nil || res.Phase != PhaseFrozen || len(api.put) != 3 || w.events(custody.EventFreeze) != 2 {
		t.Fatalf("freeze: %+v, %v; %d holds put, %d events", res, err, len(api.put), w.events(custody.EventFreeze))
	}

	again, err := f.Freeze(ctx, o)
	if err != nil || !again.Already || len(api.put) != 3 || w.events(custody.EventFreeze) != 2 {
		t.Fatalf("freezing again with every hold in place: %+v, %v; %d holds put (want none more), %d events (want none more)", again, err, len(api.put)-3, w.events(custody.EventFreeze))
	}
	if st := again.Steps[len(again.Steps)-1]; st.Name != StepHolds || st.Status != "already" || !strings.Contains(st.Detail, "3 legal holds in place") {
		t.Errorf("the holds step of a re-run: %+v", st)
	}

	if _, err := w.c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String(w.bucket), Key: aws.String(b.Key), VersionId: aws.String(b.VersionID),
		LegalHold: &s3types.ObjectLockLegalHold{Status: s3types.ObjectLockLegalHoldStatusOff}}); err != nil {
		t.Fatal(err)
	}
	res, err := f.Freeze(ctx, o)
	if err != nil || res.Already || res.Phase != PhaseFrozen || len(api.put) != 4 || api.put[3] != b || w.holdStatus(b) != "ON" || w.events(custody.EventFreeze) != 3 {
		t.Fatalf("freezing again after %s's hold was lifted: %+v, %v; holds put %v, hold %s, %d events", b.Key, res, err, api.put[3:], w.holdStatus(b), w.events(custody.EventFreeze))
	}
	raw, err := w.chain.ReadArtifact(ctx, w.sealed.last.Artifacts[0])
	if err != nil {
		t.Fatal(err)
	}
	var rec freezeRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	var holds Step
	for _, s := range rec.Steps {
		if s.Name == StepHolds {
			holds = s
		}
	}
	if holds.Status != "done" || len(holds.Versions) != 1 || holds.Versions[0] != b || !strings.Contains(holds.Detail, "put again") || !strings.Contains(holds.Detail, b.VersionID) {
		t.Fatalf("the sealed record must name the hold put again (%s version %s): %s", b.Key, b.VersionID, raw)
	}
	if again, err := f.Freeze(ctx, o); err != nil || !again.Already || len(api.put) != 4 || w.events(custody.EventFreeze) != 3 {
		t.Fatalf("freezing a third time: %+v, %v", again, err)
	}
}
