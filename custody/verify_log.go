package custody

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-ir/custody/custody/finding"
)

// defaultClockTolerance is how far a signed time and S3's LastModified
// may be apart before they are inconsistent.
const defaultClockTolerance = 15 * time.Minute

// logTolerance is the verifier's clock tolerance.
func (v *Verifier) logTolerance() time.Duration {
	if v.ClockTolerance > 0 {
		return v.ClockTolerance
	}
	return defaultClockTolerance
}

// checkLog verifies every version of a stream's log checkpoint against
// the stream's manifests: each is signed by a trusted key for this
// stream's origin, was stored when it was signed, and its root is the
// tree hash of the manifests at its size; successive versions never
// shrink and each extends the one before (a consistency proof); the
// newest covers the newest manifest and, unless the stream was closed,
// is younger than twice its heartbeat by S3's clock.
func (v *Verifier) checkLog(ctx context.Context, stream string, last int64, chain []*ManifestRecord, versions []ObjectVersion, idx *storeIndex, r *Report) {
	key := LogCheckpointKey(v.prefix, stream)
	origin := LogOrigin(v.bucket, v.prefix, stream)
	tree := streamTree(chain)
	vs := append([]ObjectVersion(nil), versions...)
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].LastModified.Before(vs[j].LastModified) })
	if n := len(vs); n > 0 && vs[n-1].DeleteMarker {
		r.Findings.Fail(finding.CheckpointDeleteMarker, objectName(v.bucket, key, vs[n-1].VersionID), "remove the delete marker and find who placed it", "a delete marker hides the checkpoint of stream %q", stream)
	}
	type seen struct {
		cp  LogCheckpoint
		obj string
	}
	var prev, newest *seen
	for i, ov := range vs {
		if i%prefetchWindow == 0 {
			v.prefetch(ctx, vs[i:min(i+2*prefetchWindow, len(vs))])
		}
		if ov.DeleteMarker {
			continue
		}
		obj := objectName(v.bucket, key, ov.VersionID)
		cp, msg, ok := v.readLogCheckpoint(ctx, key, origin, ov, obj, r)
		if !ok {
			continue
		}
		v.checkCheckpointToken(ctx, stream, cp, msg, ov, idx, r)
		cur := &seen{cp, obj}
		if !ov.LastModified.IsZero() {
			if d := ov.LastModified.Sub(cp.Time); d > v.logTolerance() || d < -v.logTolerance() {
				r.Findings.Fail(finding.CheckpointReplayed, obj, remedyChain,
					"signed at %s but stored at %s (S3's clock): an old checkpoint was stored again, or the writer's clock is wrong",
					cp.Time.UTC().Format(time.RFC3339), ov.LastModified.UTC().Format(time.RFC3339))
			}
		}
		switch {
		case cp.Size > last:
			r.Findings.Fail(finding.ManifestMissing, obj, remedyChain,
				"this checkpoint records %d manifests of stream %q, but the last manifest present is %d: the newest manifests are gone", cp.Size, stream, last)
		case cp.Size <= tree.size:
			if root, err := tree.root(cp.Size); err != nil || root != cp.Root {
				r.Findings.Fail(finding.CheckpointFork, obj, remedyChain,
					"its root at size %d is %s; the stream's manifests hash to %s: the log was forked or rewritten", cp.Size, cp.Root, root)
			}
		}
		if prev != nil {
			switch {
			case cp.Size < prev.cp.Size:
				r.Findings.Fail(finding.CheckpointRollback, obj, remedyChain,
					"records %d manifests, but the version stored before it (%s) recorded %d: the log was rolled back", cp.Size, prev.obj, prev.cp.Size)
			case cp.Size <= tree.size && prev.cp.Size > 0:
				if proof, err := tlog.ProveTree(cp.Size, prev.cp.Size, tree); err != nil || tlog.CheckTree(proof, cp.Size, cp.Root, prev.cp.Size, prev.cp.Root) != nil {
					r.Findings.Fail(finding.CheckpointFork, obj, remedyChain,
						"does not extend the version stored before it (%s, size %d): the log was forked or rewritten", prev.obj, prev.cp.Size)
				}
			}
		}
		prev, newest = cur, cur
	}
	if newest == nil {
		if last > 0 {
			r.Findings.Fail(finding.CheckpointMissing, objectName(v.bucket, key, ""), remedyChain, "stream %q has manifests but no readable checkpoint", stream)
		}
		return
	}
	if newest.cp.Size < last {
		r.Findings.Fail(finding.CheckpointBehind, newest.obj, "if a writer stopped between manifest and checkpoint, its next seal rewrites the checkpoint; otherwise an old checkpoint was stored again: "+remedyChain,
			"the newest checkpoint covers %d manifests of stream %q; the stream has %d", newest.cp.Size, stream, last)
	}
	if now := v.serverNow(); !newest.cp.Closed && v.recorded == nil && now.Sub(newest.cp.Time) > 2*newest.cp.Heartbeat {
		r.Findings.Fail(finding.StreamStale, objectName(v.bucket, ManifestPrefix(v.prefix)+segment(stream)+"/", ""),
			"check that the agent writing the stream runs (its /healthz); if it does, the stream's newest manifests and checkpoints were removed: "+remedyChain,
			"the newest checkpoint of stream %q was signed at %s and promised another within %s; it is %s later by S3's clock",
			stream, newest.cp.Time.UTC().Format(time.RFC3339), newest.cp.Heartbeat, now.Sub(newest.cp.Time).Round(time.Second))
	}
}

// streamTree is a stream's log as its verified manifests make it, as far
// as they run unbroken from manifest 1: the registry and witness checks
// compare what they recorded with it.
func streamTree(chain []*ManifestRecord) *logTree {
	tree := &logTree{}
	for _, m := range chain {
		if m.Sequence != tree.size+1 || tree.append(m.leaf) != nil {
			break
		}
	}
	return tree
}

// readLogCheckpoint reads and opens one checkpoint version.
func (v *Verifier) readLogCheckpoint(ctx context.Context, key, origin string, ov ObjectVersion, obj string, r *Report) (LogCheckpoint, []byte, bool) {
	rc, _, err := v.src.Open(ctx, key, ov.VersionID)
	if err != nil {
		r.Findings.Fail(finding.CheckpointUnreadable, obj, "check the verifier's read permissions", "cannot read: %v", err)
		return LogCheckpoint{}, nil, false
	}
	msg, err := io.ReadAll(io.LimitReader(rc, maxLogCheckpointSize+1))
	rc.Close()
	if err == nil && len(msg) > maxLogCheckpointSize {
		err = fmt.Errorf("larger than %d bytes", maxLogCheckpointSize)
	}
	if err != nil {
		r.Findings.Fail(finding.CheckpointUnreadable, obj, "check the verifier's read permissions", "cannot read: %v", err)
		return LogCheckpoint{}, nil, false
	}
	cp, signer, err := openLogCheckpoint(msg, origin, v.trust)
	if err != nil {
		r.Findings.Fail(finding.CheckpointMalformed, obj, "treat this checkpoint as forged: "+remedyChain, "%v", err)
		return LogCheckpoint{}, nil, false
	}
	if !signer.ValidAt(cp.Time) || (!ov.LastModified.IsZero() && !signer.ValidAt(ov.LastModified)) {
		r.Findings.Fail(finding.SignatureKeyExpired, obj, "treat this checkpoint as forged",
			"signed by trusted key %q, which was not valid when it was signed (%s) or stored (%s)", signer.Name, cp.Time.UTC().Format(time.RFC3339), ov.LastModified.UTC().Format(time.RFC3339))
		return LogCheckpoint{}, nil, false
	}
	return cp, msg, true
}

// checkCheckpointToken checks the RFC 3161 token over one checkpoint
// version, which its writer promised when it had a timestamp authority
// (custody-stamped): present, over exactly these bytes, signed by the
// configured TSA, at the checkpoint's time. A token removed is a failure
// when a TSA is configured for verify; without its chain, a token is
// still checked to stamp these bytes.
func (v *Verifier) checkCheckpointToken(ctx context.Context, stream string, cp LogCheckpoint, msg []byte, cpv ObjectVersion, idx *storeIndex, r *Report) {
	obj := objectName(v.bucket, cpv.Key, cpv.VersionID)
	sum := sha256.Sum256(msg)
	key := LogCheckpointTimestampKey(v.prefix, stream, sum)
	versions := idx.cpTokens[stream][hex.EncodeToString(sum[:])]
	latest := latestToken(versions)
	if latest == nil {
		if cp.Stamped && v.TSA != nil {
			r.Findings.Fail(finding.TimestampMissing, obj, "a token removed from the bucket cannot be made again: find who removed it (CloudTrail data events); check that the TSA answers the agent",
				"this checkpoint of stream %q was written with a timestamp authority, but its RFC 3161 token (%s) is not in the store: its time rests on the signer's clock alone", stream, key)
		}
		return
	}
	idx.cpChecked[key+"\x00"+latest.VersionID] = true
	idx.cpTokenOf[cpv.Key+"\x00"+cpv.VersionID] = *latest
	tobj := objectName(v.bucket, key, latest.VersionID)
	rc, meta, err := v.src.Open(ctx, key, latest.VersionID)
	if err != nil {
		r.Findings.Fail(finding.TimestampUnreadable, tobj, "check the verifier's read permissions", "cannot read: %v", err)
		return
	}
	token, err := io.ReadAll(io.LimitReader(rc, maxTimestampSize))
	rc.Close()
	r.Findings = append(r.Findings, v.checkFloor(tobj, meta, latest.LastModified)...)
	if v.TSA == nil {
		if err == nil {
			err = timestampCovers(token, msg)
		}
		if err != nil {
			r.Findings.Fail(finding.TimestampInvalid, tobj, "custody did not write it for this checkpoint: find who did (CloudTrail data events)", "%v", err)
			return
		}
		r.Findings.Warn(finding.TimestampUnchecked, tobj, "configure timestamp.cert_chain to check it", "a checkpoint of stream %q has a timestamp, but no TSA chain is configured", stream)
		return
	}
	var at time.Time
	if err == nil {
		at, err = VerifyTimestamp(token, msg, *v.TSA)
	}
	if err != nil {
		r.Findings.Fail(finding.TimestampInvalid, tobj, remedyChain, "%v", err)
		return
	}
	if d := at.Sub(cp.Time); d > timestampSkew || d < -timestampSkew {
		r.Findings.Fail(finding.TimestampMismatch, tobj, "the signer's clock or the checkpoint's time is wrong: treat its claimed time as untrusted",
			"the checkpoint (%s) says it was signed at %s, the TSA at %s", obj, cp.Time.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
}

// checkLegacyCheckpoints verifies every version of a stream's old-format
// checkpoint, once the stream has a log: each signed, and naming a
// manifest the chain holds with that envelope.
func (v *Verifier) checkLegacyCheckpoints(ctx context.Context, stream string, chain []*ManifestRecord, versions []ObjectVersion, r *Report) {
	key := CheckpointKey(v.prefix, stream)
	bySeq := map[int64]*ManifestRecord{}
	for _, m := range chain {
		bySeq[m.Sequence] = m
	}
	for _, ov := range versions {
		if ov.DeleteMarker {
			continue
		}
		obj := objectName(v.bucket, key, ov.VersionID)
		env, cp, err := v.readLegacyCheckpoint(ctx, key, ov.VersionID)
		if errors.Is(err, errUnreadable) {
			r.Findings.Fail(finding.CheckpointUnreadable, obj, "check the verifier's read permissions", "cannot read: %v", err)
			continue
		}
		if err != nil || cp.Stream != stream {
			r.Findings.Fail(finding.CheckpointMalformed, obj, remedyChain, "not a checkpoint of stream %q (%v)", stream, err)
			continue
		}
		if _, kind, msg := verifyEnvelope(env, v.trust, cp.At); kind != "" {
			r.Findings.Fail(kind, obj, "treat this checkpoint as forged", "checkpoint: %s", msg)
			continue
		}
		if m := bySeq[cp.Sequence]; m == nil || m.EnvelopeSHA256 != cp.EnvelopeSHA256 {
			r.Findings.Fail(finding.CheckpointMismatch, obj, remedyChain, "records manifest %d with envelope %s, which the stream does not hold", cp.Sequence, cp.EnvelopeSHA256)
		}
	}
}

// errUnreadable marks a structural object that could not be read, as
// opposed to one that was read and is not what custody wrote.
var errUnreadable = errors.New("unreadable")

// readLegacyCheckpoint reads and decodes an old-format checkpoint version.
func (v *Verifier) readLegacyCheckpoint(ctx context.Context, key, versionID string) (Envelope, Checkpoint, error) {
	var cp Checkpoint
	rc, _, err := v.src.Open(ctx, key, versionID)
	if err != nil {
		return Envelope{}, cp, fmt.Errorf("%w: %w", errUnreadable, err)
	}
	env, err := ParseEnvelope(rc)
	rc.Close()
	if err == nil && env.DSSE.PayloadType != CheckpointPayloadType {
		err = fmt.Errorf("payload type %q, want %q", env.DSSE.PayloadType, CheckpointPayloadType)
	}
	if err == nil {
		err = json.Unmarshal(env.Payload, &cp)
	}
	return env, cp, err
}

// serverNow is S3's clock as its last answer gave it, else the verifier's.
func (v *Verifier) serverNow() time.Time {
	if t, ok := v.src.(interface{ ServerTime() time.Time }); ok {
		if st := t.ServerTime(); !st.IsZero() {
			return st
		}
	}
	return v.now()
}

// checkProvedStream checks a package's stream that holds only selected
// manifests, each with an inclusion proof in the stream's log at the
// head the signed statement records: each manifest verifies as in a
// bucket, is no later than the head, and its proof leads to the recorded
// root; the package's newest checkpoint is signed and records that size
// and root. Links between held manifests are not checked: they need not
// be neighbours, and the proofs fix their place in the log instead.
func (v *Verifier) checkProvedStream(ctx context.Context, stream string, rs PackageStream, idx *storeIndex, r *Report, used map[string]KeyRecord) []*ManifestRecord {
	root, err := tlog.ParseHash(rs.LogRoot)
	if err != nil {
		r.Findings.Fail(finding.BundleStatementInvalid, bundlePackage, remedyBundle, "stream %q: log root %q is not a hash", stream, rs.LogRoot)
		return nil
	}
	seqs := make([]int64, 0, len(idx.manifests[stream]))
	for seq := range idx.manifests[stream] {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	var chain []*ManifestRecord
	for _, seq := range seqs {
		key := ManifestKey(v.prefix, stream, seq)
		m := v.checkManifest(ctx, stream, seq, key, idx.manifests[stream][seq], idx.timestamps[stream][seq], r, used)
		if m == nil {
			continue
		}
		obj := objectName(v.bucket, key, m.VersionID)
		proof, ok := v.proofs[stream][seq]
		switch {
		case seq > rs.Head:
			r.Findings.Fail(finding.BundleManifestUnrecorded, obj, remedyBundle,
				"manifest %d of stream %q is past the head (%d) the package's signed statement records", seq, stream, rs.Head)
			continue
		case !ok:
			r.Findings.Fail(finding.BundleProofInvalid, obj, remedyBundle, "the package's signed statement gives no inclusion proof for manifest %d of stream %q", seq, stream)
			continue
		case tlog.CheckRecord(proof, rs.Head, root, seq-1, m.leaf) != nil:
			r.Findings.Fail(finding.BundleProofInvalid, obj, remedyBundle,
				"manifest %d of stream %q is not at that place in the stream's log of %d manifests the signed statement records", seq, stream, rs.Head)
			continue
		case seq == rs.Head && m.EnvelopeSHA256 != rs.HeadEnvelopeSHA256:
			r.Findings.Fail(finding.BundleHeadMismatch, obj, remedyBundle, "manifest %d of stream %q hashes to %s; the signed statement records the head as %s", seq, stream, m.EnvelopeSHA256, rs.HeadEnvelopeSHA256)
			continue
		}
		chain = append(chain, m)
		r.Checked.Manifests++
	}
	// A package of the whole store selects every manifest: it must hold
	// every one from the first to the head.
	if v.wholePackage {
		for seq := rs.First; seq <= rs.Head; seq++ {
			if len(idx.manifests[stream][seq]) == 0 {
				r.Findings.Fail(finding.ManifestMissing, objectName(v.bucket, ManifestKey(v.prefix, stream, seq), ""), remedyBundle,
					"the package is of the whole store, and its signed statement records stream %q up to manifest %d, but manifest %d is not in it", stream, rs.Head, seq)
			}
		}
	}
	// The newest checkpoint at export: signed, at the recorded head.
	key := LogCheckpointKey(v.prefix, stream)
	var found bool
	for _, ov := range idx.logCheckpoints[stream] {
		if ov.DeleteMarker {
			continue
		}
		obj := objectName(v.bucket, key, ov.VersionID)
		cp, msg, ok := v.readLogCheckpoint(ctx, key, LogOrigin(v.bucket, v.prefix, stream), ov, obj, r)
		if !ok {
			continue
		}
		v.checkCheckpointToken(ctx, stream, cp, msg, ov, idx, r)
		found = true
		if cp.Size != rs.Head || cp.Root != root {
			r.Findings.Fail(finding.BundleHeadMismatch, obj, remedyBundle,
				"the checkpoint records %d manifests with root %s; the signed statement records %d with root %s", cp.Size, cp.Root, rs.Head, root)
		}
	}
	if !found {
		r.Findings.Fail(finding.CheckpointMissing, objectName(v.bucket, key, ""), remedyBundle, "the package holds no signed checkpoint of stream %q at its recorded head", stream)
	}
	return chain
}
