package custody

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/workers"
)

// copyBuffers are the read buffers of subject checks, reused: a store of
// small artifacts is read without a 256 KiB allocation each.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

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
	// A few workers take the subjects in turn (see internal/workers).
	var mu sync.Mutex
	workers.Each(len(jobs), o.Concurrency, func(i int) {
		fs, n := v.checkSubject(ctx, idx, jobs[i].m, jobs[i].s, o)
		mu.Lock()
		r.Findings = append(r.Findings, fs...)
		r.Checked.Subjects++
		r.Checked.Bytes += n
		mu.Unlock()
		p.add(n)
	})
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
	stored, _ := idx.version(s.Name, a.VersionID)
	if tol := v.tolerance(); !stored.LastModified.IsZero() && !m.storedAt.IsZero() && stored.LastModified.After(m.storedAt.Add(tol)) {
		fs.Fail(finding.TimeInconsistent, obj, remedyTime,
			"S3 stored this artifact at %s, after manifest %d of %q that seals it (stored %s, tolerance %s): a manifest cannot seal bytes that did not exist yet",
			stamp(stored.LastModified), m.Sequence, m.Stream, stamp(m.storedAt), tol)
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
	rc, meta, err := openSelfChecked(ctx, v.src, s.Name, a.VersionID)
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
	buf := copyBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(w, rc, *buf)
	copyBuffers.Put(buf)
	if err != nil {
		fs.Fail(finding.ArtifactUnreadable, obj, "retry; if it persists the stored object is damaged", "read failed after %d bytes: %v", n, err)
		return fs, n
	}
	sum := h.Sum(nil)
	if err := checkTransfer(meta, sum); err != nil {
		fs.Fail(finding.ArtifactUnreadable, obj, "retry; if it persists the stored object is damaged", "%v", err)
		return fs, n
	}
	got := hex.EncodeToString(sum)
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
	if meta.LockMode != "" { // no lock at all is artifact-retention-removed
		fs = append(fs, v.checkFloor(obj, meta, stored.LastModified)...)
	}
	if (a.LegalHold || (o.Case != "" && m.Case == o.Case)) && !meta.LegalHold {
		fs.Fail(finding.ArtifactLegalHoldMissing, obj, "set the legal hold again (PutObjectLegalHold ON) and find who lifted it", "case %q requires a legal hold, and there is none", m.Case)
	}
	return fs, n
}

// checkUnsealed reports objects in the store that no verified manifest
// seals and that are no structural object verify checks (a manifest, a
// checkpoint, the latest timestamp token of a manifest): evidence that
// could have been added or swapped unseen, or bytes a package would
// otherwise carry unchecked. The selection narrows only the artifacts
// checked; the manifests' folders are checked whole, as the chain is.
func (v *Verifier) checkUnsealed(idx *storeIndex, chains map[string][]*ManifestRecord, o VerifyOptions, r *Report) {
	sealed := map[string]bool{}
	for _, chain := range chains {
		for _, m := range chain {
			for _, s := range m.statement.Subject {
				sealed[s.Name+"\x00"+s.Annotations.VersionID] = true
			}
		}
	}
	folder := ManifestPrefix(v.prefix)
	for key, hist := range idx.objects {
		inFolder := strings.HasPrefix(key, folder)
		for _, ov := range hist {
			if ov.DeleteMarker || sealed[key+"\x00"+ov.VersionID] {
				continue
			}
			if !inFolder && ((!o.Since.IsZero() && ov.LastModified.Before(o.Since)) || (!o.Until.IsZero() && ov.LastModified.After(o.Until))) {
				continue
			}
			stored := ""
			if !ov.LastModified.IsZero() {
				stored = " (stored " + stamp(ov.LastModified) + ")"
			}
			if inFolder {
				r.Findings.Fail(finding.UnsealedObject, objectName(v.bucket, key, ov.VersionID), remedyPlanted,
					"in the manifests' folder%s, but not a manifest, checkpoint or timestamp token of %s, and no manifest seals it", stored, v.streamOf(key, idx))
				continue
			}
			r.Findings.Fail(finding.UnsealedObject, objectName(v.bucket, key, ov.VersionID),
				"if a collection run is in progress or crashed, the next run seals it (it then names the run); otherwise it was added outside custody: investigate",
				"no manifest seals this object%s", stored)
		}
	}
	v.checkTokens(idx, r)
	v.checkCheckpointTokens(idx, r)
}

// remedyPlanted is the remedy for bytes planted among the structural
// objects of a stream.
const remedyPlanted = "custody never writes this: find who did (CloudTrail data events on the evidence bucket); a package does not carry it"

// streamOf names the stream folder key is in, saying when the stream has
// no manifest at all.
func (v *Verifier) streamOf(key string, idx *storeIndex) string {
	rest := strings.TrimPrefix(key, ManifestPrefix(v.prefix))
	dir := path.Dir(rest)
	if dir == "." || strings.Contains(dir, "/") {
		return "any stream"
	}
	if len(idx.manifests[dir]) == 0 {
		return fmt.Sprintf("stream %q (which has no manifests)", dir)
	}
	return fmt.Sprintf("stream %q", dir)
}

// checkTokens reports the timestamp tokens verify does not check against
// a manifest: a token of a manifest that does not exist (in a stream with
// no manifests, say), and every version of a token key but the latest
// (readManifest checks the latest one only: an earlier version, or one
// hidden by a delete marker, was never checked).
func (v *Verifier) checkTokens(idx *storeIndex, r *Report) {
	for stream, seqs := range idx.timestamps {
		exists := ""
		if len(idx.manifests[stream]) == 0 {
			exists = fmt.Sprintf(" (stream %q has no manifests)", stream)
		}
		for seq, versions := range seqs {
			key := TimestampKey(v.prefix, stream, seq)
			latest := latestToken(versions)
			manifest := false
			for _, ov := range idx.manifests[stream][seq] {
				manifest = manifest || !ov.DeleteMarker
			}
			for _, ov := range versions {
				obj := objectName(v.bucket, key, ov.VersionID)
				switch {
				case ov.DeleteMarker:
				case !manifest:
					r.Findings.Fail(finding.UnsealedObject, obj, remedyPlanted,
						"a timestamp token of manifest %d of stream %q, which is not in the store%s: it stamps nothing verify can check", seq, stream, exists)
				case latest == nil:
					r.Findings.Fail(finding.UnsealedObject, obj, remedyPlanted,
						"a version of the timestamp token of manifest %d of stream %q that a delete marker hides: only the latest version is checked against the manifest", seq, stream)
				case ov.VersionID != latest.VersionID:
					r.Findings.Fail(finding.UnsealedObject, obj, remedyPlanted,
						"an earlier version of the timestamp token of manifest %d of stream %q: only the latest version is checked against the manifest", seq, stream)
				}
			}
		}
	}
}

// checkCheckpointTokens reports the checkpoint tokens checkLog did not
// check: a token of no checkpoint version, an earlier version of a token
// key, or one of a stream without a log.
func (v *Verifier) checkCheckpointTokens(idx *storeIndex, r *Report) {
	for stream, sums := range idx.cpTokens {
		for _, versions := range sums {
			for _, ov := range versions {
				if ov.DeleteMarker || idx.cpChecked[ov.Key+"\x00"+ov.VersionID] {
					continue
				}
				r.Findings.Fail(finding.UnsealedObject, objectName(v.bucket, ov.Key, ov.VersionID), remedyPlanted,
					"a timestamp token named for a checkpoint of stream %q, but no checkpoint version has those bytes (or a later version of the token is the one checked): it stamps nothing verify can check", stream)
			}
		}
	}
}

// latestToken is the version of a timestamp token verify checks: the
// latest, or nil when a delete marker is the latest (or there is none).
// Versions without IsLatest (a source that does not say) are newest first.
func latestToken(versions []ObjectVersion) *ObjectVersion {
	for i := range versions {
		if versions[i].IsLatest {
			if versions[i].DeleteMarker {
				return nil
			}
			return &versions[i]
		}
	}
	if len(versions) > 0 && !versions[0].DeleteMarker {
		return &versions[0]
	}
	return nil
}

// timestampCovers checks, without the TSA's chain, that token is an RFC
// 3161 token over sig.
func timestampCovers(token, sig []byte) error {
	ts, err := parseTimestamp(timestamp.Parse, token)
	if err != nil {
		return fmt.Errorf("not a valid timestamp token: %w", err)
	}
	if ts.HashAlgorithm != crypto.SHA256 {
		return fmt.Errorf("timestamp uses %v, SHA-256 expected", ts.HashAlgorithm)
	}
	if sum := sha256.Sum256(sig); !bytes.Equal(ts.HashedMessage, sum[:]) {
		return errors.New("the timestamp is over other data than this manifest's signature")
	}
	return nil
}

// lastModified is S3's time of storing ov, from the listing (zero if absent).
func lastModified(idx *storeIndex, ov ObjectVersion) time.Time {
	sv, _ := idx.version(ov.Key, ov.VersionID)
	return sv.LastModified
}

// DefaultClockTolerance is verify.clock_tolerance's default.
const DefaultClockTolerance = 15 * time.Minute

// remedyTime is the remedy for a time S3's clock contradicts.
const remedyTime = "treat the time custody claims for it as untrusted: the agent's clock was wrong (check its NTP), or it was signed at another time than it says (backdated with a retired key, or replayed): find who wrote it (CloudTrail data events)"

func (v *Verifier) tolerance() time.Duration {
	if v.ClockTolerance > 0 {
		return v.ClockTolerance
	}
	return DefaultClockTolerance
}

// checkStoredAt compares the time a signed object claims (a manifest's
// sealedAt) with S3's time of storing it: further apart than the
// tolerance, the claim is time-inconsistent.
func (v *Verifier) checkStoredAt(obj, what string, claimed, stored time.Time, r *Report) {
	if claimed.IsZero() || stored.IsZero() {
		return
	}
	tol := v.tolerance()
	if d := stored.Sub(claimed); d > tol || d < -tol {
		r.Findings.Fail(finding.TimeInconsistent, obj, remedyTime, "%s says it was sealed at %s; S3 stored it at %s, %s apart (tolerance %s)",
			what, stamp(claimed), stamp(stored), d.Abs().Round(time.Second), tol)
	}
}

// checkFloor checks an object's Object Lock against the configured
// policy, counted from S3's time of storing it: the mode at least as
// strong, retained at least the policy's days (less the clock
// tolerance). What a manifest recorded does not matter: a run configured
// weaker than the policy sealed weaker locks faithfully.
func (v *Verifier) checkFloor(obj string, meta ObjectMeta, stored time.Time) Findings {
	pol := v.retention
	if pol.Mode == "" || pol.Days <= 0 || stored.IsZero() || v.src.Offline() {
		return nil
	}
	var fs Findings
	const remedy = "the object can be deleted or altered sooner than the policy allows: extend its retention (PutObjectRetention), and find which run or who wrote it with a weaker lock (its manifest's who, CloudTrail data events)"
	policy := fmt.Sprintf("the policy (store.retention) is %s for %d days from when S3 stored it (%s)", pol.Mode, pol.Days, stamp(stored))
	switch want := stored.Add(pol.Period() - v.tolerance()); {
	case meta.LockMode == "":
		fs.Fail(finding.RetentionBelowPolicy, obj, remedy, "no Object Lock retention; %s", policy)
	case lockStrength(meta.LockMode) < lockStrength(pol.Mode):
		fs.Fail(finding.RetentionBelowPolicy, obj, remedy, "retention mode %s, weaker than %s; %s", meta.LockMode, pol.Mode, policy)
	case meta.RetainUntil.Before(want):
		fs.Fail(finding.RetentionBelowPolicy, obj, remedy, "retained until %s, %s after it was stored; %s",
			stamp(meta.RetainUntil), meta.RetainUntil.Sub(stored).Round(time.Second), policy)
	}
	return fs
}

// lockStrength orders Object Lock modes: COMPLIANCE over GOVERNANCE over
// none.
func lockStrength(mode string) int {
	switch mode {
	case config.ModeCompliance:
		return 2
	case config.ModeGovernance:
		return 1
	}
	return 0
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
