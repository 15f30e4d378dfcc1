package custody

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// Intents recorded ahead (Run.Intend) serve the uploads that follow; an
// intent whose upload never started is dropped when the run is sealed,
// and every stored version, queued for the ledger, is sealed with its
// source version.
func TestIntendThenPutThenSeal(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, config.ModeCompliance)
	run, err := e.chain.StartRun(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	var intents []Intent
	for _, name := range []string{"a.log", "b.log", "never.log"} {
		intents = append(intents, Intent{Key: ArtifactKey(e.cfg.Prefix, "123456789012", "us-east-1", "test", e.clock.now(), run.ID, name),
			Options: PutOptions{Kind: "log", Account: "123456789012", Region: "us-east-1", Source: "s3://logs/" + name}})
	}
	if err := run.Intend(ctx, intents); err != nil {
		t.Fatal(err)
	}
	rows, err := e.ledger.UnsealedArtifacts(ctx, []string{run.ID})
	if err != nil || len(rows) != 3 {
		t.Fatalf("intents in the ledger: %d (%v), want 3", len(rows), err)
	}
	for _, in := range intents[:2] {
		o := in.Options
		o.SourceVersion = "src-v1"
		if _, err := run.Put(ctx, in.Key, strings.NewReader("line\n"), o); err != nil {
			t.Fatal(err)
		}
	}
	if len(run.intended) != 1 {
		t.Fatalf("intents not used by Put: %v", run.intended)
	}
	// An upload whose intent was not recorded ahead (its intent holds
	// its source version) is stored as before, with no metadata added.
	plain := ArtifactKey(e.cfg.Prefix, "123456789012", "us-east-1", "test", e.clock.now(), run.ID, "plain.log")
	if _, err := run.Put(ctx, plain, strings.NewReader("line\n"), PutOptions{Kind: "log", Source: "s3://logs/plain.log", SourceVersion: "src-v2"}); err != nil {
		t.Fatal(err)
	}
	// The intended copies keep their source version on the stored object,
	// for a seal that finds one whose answer was lost.
	for key, want := range map[string]string{intents[0].Key: "src-v1", plain: ""} {
		h, err := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Metadata[sourceVersionKey]; got != want || want == "" && len(h.Metadata) != 0 {
			t.Fatalf("%s stored with metadata %v, want %s %q", key, h.Metadata, sourceVersionKey, want)
		}
	}
	m, err := run.Seal(ctx, SealRequest{Event: EventCollect}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err = e.ledger.UnsealedArtifacts(ctx, []string{run.ID})
	if err != nil || len(rows) != 0 {
		t.Fatalf("left unsealed: %+v (%v)", rows, err)
	}
	sealed := 0
	for _, in := range intents {
		ok, err := e.ledger.SourceSealed(ctx, in.Options.Source)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			sealed++
		}
	}
	if sealed != 2 || len(run.Artifacts()) != 3 {
		t.Fatalf("%d sources sealed, %d artifacts, want 2 (manifest %d)", sealed, len(run.Artifacts()), m.Seq)
	}
	var version string
	if err := e.ledger.DB().QueryRowContext(ctx, `SELECT source_version FROM artifacts WHERE key = ?`, intents[0].Key).Scan(&version); err != nil || version != "src-v1" {
		t.Fatalf("source version %q (%v), want src-v1", version, err)
	}
	r := e.verify(VerifyOptions{})
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("verify: %v", fs)
	}
	// The manifest names the source version, and no metadata of custody's.
	for _, s := range r.Manifests[0].Subjects() {
		if s.Annotations.SourceVersion == "" || len(s.Annotations.Metadata) != 0 {
			t.Fatalf("sealed %s as %+v", s.Name, s.Annotations)
		}
	}
}
