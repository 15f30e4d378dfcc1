package custody

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

// statement reads back and parses the manifest m.
func (e *testEnv) statement(m ledger.Manifest) Statement {
	e.t.Helper()
	out, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(m.Bucket), Key: aws.String(m.Key), VersionId: aws.String(m.VersionID)})
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Body.Close()
	env, err := ParseEnvelope(out.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := env.Statement()
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func TestRecordSealsAnEventsRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance)
	rec, err := e.chain.Record(ctx, Event{
		Type: EventAdd, Case: "IR-9", Description: "memory and notes", Details: map[string]string{"host": "i-0abc"},
		Records: []Record{
			{Name: "notes.md", Kind: "file", Body: strings.NewReader("# notes\n"), Source: "file://host/notes.md", InCase: true},
			{Name: "summary.json", Kind: "test-record", JSON: map[string]int{"files": 1}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Seq != 1 || rec.Event != EventAdd || len(rec.Artifacts) != 2 {
		t.Fatalf("recorded = %+v", rec)
	}
	notes, summary := rec.Artifacts[0], rec.Artifacts[1]
	if !strings.HasPrefix(notes.Key, "custody/cases/IR-9/") || !strings.HasSuffix(notes.Key, "/notes.md") || notes.Kind != "file" {
		t.Fatalf("a record InCase goes under its case: %+v", notes)
	}
	if !strings.HasPrefix(summary.Key, "custody/events/agent-1/") || !strings.HasSuffix(summary.Key, "/summary.json") {
		t.Fatalf("a record of the event goes under the event's stream: %+v", summary)
	}
	for _, a := range rec.Artifacts {
		h, err := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key), VersionId: aws.String(a.VersionID)})
		if err != nil {
			t.Fatal(err)
		}
		if h.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOn {
			t.Errorf("%s: a case's record is under legal hold, got %q", a.Key, h.ObjectLockLegalHoldStatus)
		}
		if a.Key == summary.Key && aws.ToString(h.ContentType) != "application/json" {
			t.Errorf("a JSON record is application/json, got %q", aws.ToString(h.ContentType))
		}
	}
	out, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(summary.Bucket), Key: aws.String(summary.Key), VersionId: aws.String(summary.VersionID)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(body) != "{\n  \"files\": 1\n}" {
		t.Fatalf("a JSON record is stored indented: %q", body)
	}
	p := e.statement(rec.Manifest).Predicate
	if p.Event != EventAdd || p.Case != "IR-9" || p.What.Description != "memory and notes" || p.Details["host"] != "i-0abc" ||
		p.What.Collector != EventAdd || len(p.What.Sources) != 1 || p.What.Sources[0] != "file://host/notes.md" || len(p.Findings) != 0 {
		t.Fatalf("predicate = %+v", p)
	}
	runs, err := e.ledger.Runs(ctx, ledger.RunSealed)
	if err != nil || len(runs) != 1 {
		t.Fatalf("sealed runs = %+v, %v", runs, err)
	}
	if r := e.verify(VerifyOptions{Case: "IR-9"}); !r.OK || r.Checked.Subjects != 2 {
		t.Fatalf("the event does not verify: %v, checked %+v", testaws.Failures(r.Findings), r.Checked)
	}
}

// failingReader returns some bytes, then an error.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		n := min(r.n, len(p))
		for i := range p[:n] {
			p[i] = 'x'
		}
		r.n -= n
		return n, nil
	}
	return 0, errors.New("disk read error")
}

func TestRecordSealsWhatWasStoredBeforeAFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance)
	rec, err := e.chain.Record(ctx, Event{
		Type: EventAdd, Case: "IR-9",
		Records: []Record{
			{Name: "a.txt", Kind: "file", Body: strings.NewReader("a"), Source: "file://host/a.txt", InCase: true},
			{Name: "b.raw", Kind: "file", Body: &failingReader{n: 10}, Source: "file://host/b.raw", InCase: true},
			{Name: "c.txt", Kind: "file", Body: strings.NewReader("c"), Source: "file://host/c.txt", InCase: true},
		},
	})
	if err == nil || !strings.Contains(err.Error(), "disk read error") || !strings.Contains(err.Error(), "(what was stored before the failure is sealed in manifest 1)") {
		t.Fatalf("err = %v", err)
	}
	if rec.Seq != 1 || len(rec.Artifacts) != 1 || !strings.HasSuffix(rec.Artifacts[0].Key, "/a.txt") {
		t.Fatalf("recorded = %+v", rec)
	}
	p := e.statement(rec.Manifest).Predicate
	if len(p.Findings) != 1 || p.Findings[0].Kind != "run-failed" || !strings.Contains(p.Findings[0].Message, "disk read error") {
		t.Fatalf("the failure is a finding of the manifest: %+v", p.Findings)
	}
	if len(p.What.Sources) != 2 {
		t.Fatalf("sources name what was attempted: %v", p.What.Sources)
	}
	if runs, err := e.ledger.Runs(ctx, ledger.RunFailed); err != nil || len(runs) != 1 {
		t.Fatalf("failed runs = %+v, %v", runs, err)
	}
}

func TestRecordWritesNothingForAValueItCannotEncode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance)
	_, err := e.chain.Record(ctx, Event{Type: EventExport, Records: []Record{
		{Name: "report.json", Kind: "export-record", JSON: map[string]any{"fine": 1}},
		{Name: "bad.json", Kind: "export-record", JSON: map[string]any{"f": func() {}}},
	}})
	if err == nil || !strings.Contains(err.Error(), "record bad.json") {
		t.Fatalf("err = %v", err)
	}
	if _, err := e.ledger.Head(ctx, "agent-1"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("a manifest was written: %v", err)
	}
	list, err := e.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(e.cfg.Bucket)})
	if err != nil || len(list.Versions) != 0 {
		t.Fatalf("objects were written: %d, %v", len(list.Versions), err)
	}
	for _, status := range []string{ledger.RunRunning, ledger.RunSealed, ledger.RunFailed} {
		if runs, err := e.ledger.Runs(ctx, status); err != nil || len(runs) != 0 {
			t.Fatalf("%s runs = %+v, %v", status, runs, err)
		}
	}
}
