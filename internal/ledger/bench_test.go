package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkRecordArtifact: the two ledger writes of every stored artifact
// (its intent, then its version), and the sealed-source lookup the
// CloudTrail collector makes before copying a file.
//
//	go test -run '^$' -bench RecordArtifact ./internal/ledger/
func BenchmarkRecordArtifact(b *testing.B) {
	ctx := context.Background()
	l, err := Open(ctx, filepath.Join(b.TempDir(), "l.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if err := l.StartRun(ctx, Run{ID: "run-1", Stream: "s", Collector: "cloudtrail", StartedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		a := Artifact{Bucket: "evidence", Key: fmt.Sprintf("custody/k/%d", i), RunID: "run-1", Kind: "cloudtrail-log", Source: fmt.Sprintf("s3://trail/%d", i)}
		if _, err := l.SourceSealed(ctx, a.Source); err != nil {
			b.Fatal(err)
		}
		if err := l.AddIntent(ctx, a); err != nil {
			b.Fatal(err)
		}
		a.VersionID, a.SHA256, a.Size = "v", "0000", 1
		if err := l.StoreArtifact(ctx, a); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
