package custody

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
)

const remedyArtifact = "the artifact no longer matches what was sealed: preserve this report, find who changed the evidence bucket (CloudTrail data events), and re-collect from the source if it still exists"

// checkSubjects reads every subject of the selected manifests, in
// parallel and streaming, and checks its bytes, S3 checksum, retention,
// legal hold and visibility.
func (v *Verifier) checkSubjects(ctx context.Context, idx *storeIndex, selected []*ManifestRecord, o VerifyOptions, r *Report) {
	type job struct {
		m *ManifestRecord
		s Subject
	}
	var jobs []job
	for _, m := range selected {
		for _, s := range m.statement.Subject {
			jobs = append(jobs, job{m, s})
		}
	}
	p := &progress{fn: o.Progress}
	p.total.Store(int64(len(jobs)))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for _, j := range jobs {
		g.Go(func() error {
			fs, n := v.checkSubject(gctx, idx, j.m, j.s, o)
			mu.Lock()
			r.Findings = append(r.Findings, fs...)
			r.Checked.Subjects++
			r.Checked.Bytes += n
			mu.Unlock()
			p.add(n)
			return nil
		})
	}
	_ = g.Wait()
}

func (v *Verifier) checkSubject(ctx context.Context, idx *storeIndex, m *ManifestRecord, s Subject, o VerifyOptions) (Findings, int64) {
	var fs Findings
	a := s.Annotations
	obj := objectName(v.bucket, s.Name, a.VersionID)
	want := strings.ToLower(s.Digest["sha256"])
	if len(want) != 64 {
		fs.Fail(finding.SubjectMalformed, obj, remedyChain, "manifest %d of %q gives no SHA-256 for this subject", m.Sequence, m.Stream)
		return fs, 0
	}
	if hist := idx.objects[s.Name]; len(hist) > 0 && hist[0].IsLatest && hist[0].DeleteMarker {
		fs.Fail(finding.ArtifactDeleteMarker, obj, "remove the delete marker (DeleteObject with its version id "+hist[0].VersionID+") and find who placed it",
			"a delete marker hides this artifact")
	}
	if d, ok := v.src.(interface {
		digest(key, versionID string) (string, int64, bool)
	}); ok {
		// A package's files were hashed as they were extracted.
		got, n, ok := d.digest(s.Name, a.VersionID)
		switch {
		case !ok:
			fs.Fail(finding.ArtifactMissing, obj, remedyArtifact, "the version sealed by manifest %d of %q is not in the package", m.Sequence, m.Stream)
		case got != want:
			fs.Fail(finding.ArtifactDigestMismatch, obj, remedyArtifact, "bytes hash to %s, manifest %d of %q sealed %s", got, m.Sequence, m.Stream, want)
		case n != a.Size:
			fs.Fail(finding.ArtifactSizeMismatch, obj, remedyArtifact, "%d bytes, sealed as %d", n, a.Size)
		}
		return fs, n
	}
	rc, meta, err := v.src.Open(ctx, s.Name, a.VersionID)
	if errors.Is(err, ErrVersionMissing) {
		fs.Fail(finding.ArtifactMissing, obj, remedyArtifact, "the version sealed by manifest %d of %q does not exist", m.Sequence, m.Stream)
		return fs, 0
	}
	if err != nil {
		fs.Fail(finding.ArtifactUnreadable, obj, "check the verifier's s3:GetObjectVersion permission and retry", "cannot read: %v", err)
		return fs, 0
	}
	defer rc.Close()

	h := sha256.New()
	var w io.Writer = h
	var composite *CompositeSHA256
	if a.PartSize > 0 {
		composite = NewCompositeSHA256(a.PartSize)
		w = io.MultiWriter(h, composite)
	}
	buf := make([]byte, 256<<10)
	n, err := io.CopyBuffer(w, rc, buf)
	if err != nil {
		fs.Fail(finding.ArtifactUnreadable, obj, "retry; if it persists the stored object is damaged", "read failed after %d bytes: %v", n, err)
		return fs, n
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != want {
		fs.Fail(finding.ArtifactDigestMismatch, obj, remedyArtifact, "bytes hash to %s, manifest %d of %q sealed %s", got, m.Sequence, m.Stream, want)
	}
	if n != a.Size {
		fs.Fail(finding.ArtifactSizeMismatch, obj, remedyArtifact, "%d bytes, sealed as %d", n, a.Size)
	}
	if v.src.Offline() {
		return fs, n
	}
	if meta.ChecksumSHA256 != "" {
		expect := ""
		if composite != nil {
			expect = composite.Sum()
		} else if raw, err := hex.DecodeString(want); err == nil {
			expect = base64.StdEncoding.EncodeToString(raw)
		}
		if meta.ChecksumSHA256 != expect {
			fs.Fail(finding.ArtifactChecksumMismatch, obj, remedyArtifact, "S3's stored checksum %s disagrees with the sealed bytes (%s)", meta.ChecksumSHA256, expect)
		}
	} else {
		fs.Warn(finding.ArtifactNoChecksum, obj, "", "S3 returned no SHA-256 checksum for this version")
	}
	switch {
	case meta.LockMode == "":
		fs.Fail(finding.ArtifactRetentionRemoved, obj, remedyArtifact, "no Object Lock retention; sealed with %s until %s", a.RetentionMode, a.RetainUntil.Format("2006-01-02T15:04:05Z"))
	case meta.LockMode != a.RetentionMode && meta.LockMode != config.ModeCompliance:
		fs.Fail(finding.ArtifactRetentionWeakened, obj, remedyArtifact, "retention mode %s, sealed with %s", meta.LockMode, a.RetentionMode)
	case meta.RetainUntil.Before(a.RetainUntil):
		fs.Fail(finding.ArtifactRetentionShortened, obj, remedyArtifact, "retained until %s, sealed until %s", meta.RetainUntil.UTC().Format("2006-01-02T15:04:05Z"), a.RetainUntil.Format("2006-01-02T15:04:05Z"))
	}
	if (a.LegalHold || (o.Case != "" && m.Case == o.Case)) && !meta.LegalHold {
		fs.Fail(finding.ArtifactLegalHoldMissing, obj, "set the legal hold again (PutObjectLegalHold ON) and find who lifted it", "case %q requires a legal hold, and there is none", m.Case)
	}
	return fs, n
}

// checkUnsealed reports objects in the store that no verified manifest
// seals: evidence that could have been added or swapped unseen.
func (v *Verifier) checkUnsealed(idx *storeIndex, chains map[string][]*ManifestRecord, o VerifyOptions, r *Report) {
	sealed := map[string]bool{}
	for _, chain := range chains {
		for _, m := range chain {
			for _, s := range m.statement.Subject {
				sealed[s.Name+"\x00"+s.Annotations.VersionID] = true
			}
		}
	}
	for key, hist := range idx.objects {
		for _, ov := range hist {
			if ov.DeleteMarker || sealed[key+"\x00"+ov.VersionID] {
				continue
			}
			if (!o.Since.IsZero() && ov.LastModified.Before(o.Since)) || (!o.Until.IsZero() && ov.LastModified.After(o.Until)) {
				continue
			}
			stored := ""
			if !ov.LastModified.IsZero() {
				stored = " (stored " + ov.LastModified.UTC().Format("2006-01-02T15:04:05Z") + ")"
			}
			r.Findings.Fail(finding.UnsealedObject, objectName(v.bucket, key, ov.VersionID),
				"if a collection run is in progress or crashed, the next run seals it (it then names the run); otherwise it was added outside custody: investigate",
				"no manifest seals this object%s", stored)
		}
	}
}
