package custody

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/ledger"
)

const remedyChain = "evidence between the neighbouring manifests can no longer be proven complete: find who changed the evidence bucket (CloudTrail data events on it) and preserve this report"

// checkChains verifies every stream's manifests: presence of every
// sequence number, one version each, signatures, predicate, links and the
// checkpoint. It returns the verified manifests per stream, in order.
func (v *Verifier) checkChains(ctx context.Context, idx *storeIndex, r *Report) map[string][]*ManifestRecord {
	chains := map[string][]*ManifestRecord{}
	usedKeys := map[string]KeyRecord{}
	streams := map[string]bool{}
	for s := range idx.manifests {
		streams[s] = true
	}
	for s := range idx.checkpoints {
		streams[s] = true
	}
	for s := range idx.logCheckpoints {
		streams[s] = true
	}
	for s, rs := range v.recorded {
		if rs.First > 0 {
			streams[s] = true
		}
	}
	var heads map[string]ledger.Manifest
	if v.ledger != nil {
		// A stream the ledger knows is expected in the bucket, even if
		// nothing of it is left there.
		if known, err := v.ledger.Streams(ctx, v.bucket); err == nil {
			for _, s := range known {
				streams[s] = true
			}
		}
		heads = map[string]ledger.Manifest{}
		for s := range streams {
			if h, err := v.ledger.Head(ctx, s); err == nil {
				heads[s] = h
			}
		}
	}
	names := make([]string, 0, len(streams))
	for s := range streams {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, stream := range names {
		r.Checked.Streams++
		seqs := idx.manifests[stream]
		var last int64
		for seq := range seqs {
			if seq > last {
				last = seq
			}
		}
		start := int64(1)
		if rs, ok := v.recorded[stream]; ok && rs.LogRoot != "" && rs.First > 0 {
			chains[stream] = v.checkProvedStream(ctx, stream, rs, idx, r, usedKeys)
			continue
		}
		if v.recorded != nil {
			var ok bool
			if start, ok = v.checkRecorded(stream, seqs, r); !ok {
				continue
			}
		}
		var prev *ManifestRecord
		for seq := start; seq <= last; seq++ {
			if (seq-start)%prefetchWindow == 0 {
				// Read this window (if not already) and the next ahead.
				var ahead []ObjectVersion
				for s := seq; s < seq+2*prefetchWindow && s <= last; s++ {
					ahead = append(ahead, seqs[s]...)
					ahead = append(ahead, idx.timestamps[stream][s]...)
				}
				v.prefetchManifests(ctx, ahead)
			}
			key := ManifestKey(v.prefix, stream, seq)
			m := v.checkManifest(ctx, stream, seq, key, seqs[seq], idx.timestamps[stream][seq], r, usedKeys)
			if m == nil {
				if len(seqs[seq]) == 0 {
					r.Findings.Fail(finding.ManifestMissing, objectName(v.bucket, key, ""), remedyChain,
						"manifest %d of stream %q is missing: the chain has a gap", seq, stream)
				}
				prev = nil
				continue
			}
			p := m.statement.Predicate
			switch {
			case seq == 1 && p.PreviousSHA256 != "":
				r.Findings.Fail(finding.ChainLinkBroken, objectName(v.bucket, key, m.VersionID), remedyChain,
					"the first manifest links to a previous envelope %s", p.PreviousSHA256)
			case prev != nil && p.PreviousSHA256 != prev.EnvelopeSHA256:
				r.Findings.Fail(finding.ChainLinkBroken, objectName(v.bucket, key, m.VersionID), remedyChain,
					"links to previous envelope %s, but manifest %d's envelope hashes to %s", p.PreviousSHA256, seq-1, prev.EnvelopeSHA256)
			case prev != nil && m.SealedAt.Before(prev.SealedAt):
				r.Findings.Fail(finding.ChainReordered, objectName(v.bucket, key, m.VersionID), remedyChain,
					"sealed at %s, before manifest %d (%s)", m.SealedAt.Format("2006-01-02T15:04:05Z"), seq-1, prev.SealedAt.Format("2006-01-02T15:04:05Z"))
			case prev != nil && !m.storedAt.IsZero() && !prev.storedAt.IsZero() && m.storedAt.Before(prev.storedAt.Add(-v.logTolerance())):
				r.Findings.Fail(finding.TimeInconsistent, objectName(v.bucket, key, m.VersionID), remedyChain,
					"stored at %s (S3's clock), before manifest %d (%s): the log's order and S3's disagree", m.storedAt.UTC().Format(time.RFC3339), seq-1, prev.storedAt.UTC().Format(time.RFC3339))
			}
			if rs, ok := v.recorded[stream]; ok && seq > rs.Head {
				r.Findings.Fail(finding.BundleManifestUnrecorded, objectName(v.bucket, key, m.VersionID), remedyBundle,
					"manifest %d of stream %q is past the head (%d) the package's signed statement records: it was added after export", seq, stream, rs.Head)
				prev = nil
				continue
			}
			chains[stream] = append(chains[stream], m)
			r.Checked.Manifests++
			prev = m
		}
		if rs, ok := v.recorded[stream]; ok {
			v.checkRecordedHead(stream, rs, last, chains[stream], r)
		}
		switch {
		case len(idx.logCheckpoints[stream]) > 0:
			v.checkLog(ctx, stream, last, chains[stream], idx.logCheckpoints[stream], idx, r)
			v.checkLegacyCheckpoints(ctx, stream, chains[stream], idx.checkpoints[stream], r)
		case len(idx.checkpoints[stream]) > 0 && last > 0 && v.recorded == nil:
			r.Findings.Warn(finding.CheckpointLegacy, objectName(v.bucket, CheckpointKey(v.prefix, stream), ""), "run any custody command that seals into the stream (custody collect --once, or the agent): it moves the stream to the log format",
				"stream %q has only a checkpoint of the old format: its end is not yet provable as a log's", stream)
			fallthrough
		default:
			v.checkCheckpoint(ctx, stream, last, chains[stream], idx.checkpoints[stream], r)
		}
		if h, ok := heads[stream]; ok && h.Seq > last {
			r.Findings.Fail(finding.ManifestMissing, objectName(v.bucket, ManifestKey(v.prefix, stream, h.Seq), ""), remedyChain,
				"the ledger's head of stream %q is manifest %d, but the last manifest in the bucket is %d: the newest manifests are gone", stream, h.Seq, last)
		}
	}
	for _, k := range usedKeys {
		r.Keys = append(r.Keys, k)
	}
	sort.Slice(r.Keys, func(i, j int) bool { return r.Keys[i].KeyID < r.Keys[j].KeyID })
	return chains
}

// checkRecorded checks a package's stream against its signed statement:
// the stream must be recorded as held, with no manifest before the first
// one recorded. It returns the first sequence number to check.
func (v *Verifier) checkRecorded(stream string, seqs map[int64][]ObjectVersion, r *Report) (int64, bool) {
	rs, ok := v.recorded[stream]
	if !ok || rs.First == 0 {
		r.Findings.Fail(finding.BundleStreamUnrecorded, objectName(v.bucket, path.Dir(ManifestKey(v.prefix, stream, 1))+"/", ""), remedyBundle,
			"the package holds stream %q, which its signed statement does not include: it was spliced in", stream)
		return 0, false
	}
	for seq := range seqs {
		if seq < rs.First {
			r.Findings.Fail(finding.BundleManifestUnrecorded, objectName(v.bucket, ManifestKey(v.prefix, stream, seq), ""), remedyBundle,
				"manifest %d of stream %q is before the first (%d) the package's signed statement records", seq, stream, rs.First)
		}
	}
	return rs.First, true
}

// checkRecordedHead checks that a package's stream ends at the head its
// signed statement records.
func (v *Verifier) checkRecordedHead(stream string, rs PackageStream, last int64, chain []*ManifestRecord, r *Report) {
	key := ManifestKey(v.prefix, stream, rs.Head)
	if last < rs.Head {
		r.Findings.Fail(finding.ManifestMissing, objectName(v.bucket, key, ""), remedyBundle,
			"the package's signed statement records manifest %d as the head of stream %q, but the last manifest in the package is %d: the newest manifests were removed", rs.Head, stream, last)
		return
	}
	for _, m := range chain {
		if m.Sequence == rs.Head {
			if m.EnvelopeSHA256 != rs.HeadEnvelopeSHA256 {
				r.Findings.Fail(finding.BundleHeadMismatch, objectName(v.bucket, key, m.VersionID), remedyBundle,
					"manifest %d of stream %q hashes to %s; the signed statement records the head as %s", rs.Head, stream, m.EnvelopeSHA256, rs.HeadEnvelopeSHA256)
			}
			return
		}
	}
}

// checkManifest verifies the versions stored at one sequence number and
// returns the chain element (the oldest readable version), or nil.
func (v *Verifier) checkManifest(ctx context.Context, stream string, seq int64, key string, versions, stamps []ObjectVersion, r *Report, used map[string]KeyRecord) *ManifestRecord {
	var kept []ObjectVersion
	for _, ov := range versions {
		if ov.DeleteMarker {
			if ov.IsLatest {
				r.Findings.Fail(finding.ManifestDeleteMarker, objectName(v.bucket, key, ov.VersionID), "remove the delete marker (DeleteObject with its version id) and find who placed it",
					"a delete marker hides manifest %d of stream %q", seq, stream)
			}
			continue
		}
		kept = append(kept, ov)
	}
	if len(kept) == 0 {
		if len(versions) > 0 {
			r.Findings.Fail(finding.ManifestMissing, objectName(v.bucket, key, ""), remedyChain, "manifest %d of stream %q has only delete markers: its versions were deleted", seq, stream)
		}
		return nil
	}
	if len(kept) > 1 {
		r.Findings.Fail(finding.ManifestRewritten, objectName(v.bucket, key, ""), remedyChain,
			"%d versions stored at sequence %d of stream %q: a fork or a replay", len(kept), seq, stream)
	}
	var chosen *ManifestRecord
	for i := len(kept) - 1; i >= 0; i-- { // oldest first
		ov := kept[i]
		obj := objectName(v.bucket, key, ov.VersionID)
		m, ok := v.readManifest(ctx, stream, seq, key, ov, obj, stamps, r, used)
		if ok && chosen == nil {
			chosen = m
		}
	}
	return chosen
}

func (v *Verifier) readManifest(ctx context.Context, stream string, seq int64, key string, ov ObjectVersion, obj string, stamps []ObjectVersion, r *Report, used map[string]KeyRecord) (*ManifestRecord, bool) {
	rc, meta, decoded, err := v.openDecoded(ctx, key, ov.VersionID)
	if err != nil {
		r.Findings.Fail(finding.ManifestUnreadable, obj, "check the verifier's s3:GetObject and s3:GetObjectVersion permissions", "cannot read: %v", err)
		return nil, false
	}
	d, ok := decoded.(*decodedManifest)
	if !ok {
		d = v.decodeManifest(rc)
	}
	rc.Close()
	if d.err != nil {
		r.Findings.Fail(finding.ManifestMalformed, obj, remedyChain, "%v", d.err)
		return nil, false
	}
	env, st := d.env, d.st
	p := st.Predicate
	m := &ManifestRecord{Stream: stream, Sequence: seq, Key: key, VersionID: ov.VersionID, EnvelopeSHA256: env.SHA256, Event: p.Event,
		Collector: p.What.Collector, Case: p.Case, SealedAt: p.When.SealedAt, Who: p.Who, Where: p.Where, SubjectCount: len(st.Subject), statement: st}
	m.leaf = d.leaf
	m.storedAt = ov.LastModified
	v.checkStoredAt(obj, fmt.Sprintf("manifest %d of stream %q", seq, stream), p.When.SealedAt, ov.LastModified, r)
	r.Findings = append(r.Findings, v.checkFloor(obj, meta, ov.LastModified)...)
	signedAt := p.When.SealedAt
	if ts, ok := v.checkTimestamp(ctx, env, stream, seq, stamps, p.When.SealedAt, r); ok {
		signedAt, m.TimestampedAt = ts, ts
	}
	key0, kind, msg := verifySignedAt(d.sigs, v.trust, signedAt, ov.LastModified, v.tolerance())
	if kind != "" {
		r.Findings.Fail(kind, obj, "add the signing key to trust: with its validity window, or treat this manifest as forged", "%s", msg)
		return m, false
	}
	m.SignedBy = key0.Name
	used[key0.KeyID] = KeyRecord{Name: key0.Name, KeyID: key0.KeyID, PEM: string(key0.PEM)}
	if p.Stream != stream || p.Sequence != seq {
		r.Findings.Fail(finding.ManifestReordered, obj, remedyChain,
			"stored as stream %q sequence %d but says stream %q sequence %d: manifests were moved, swapped or replayed", stream, seq, p.Stream, p.Sequence)
		return m, false
	}
	if p.Bucket != v.bucket {
		r.Findings.Fail(finding.ManifestMisplaced, obj, remedyChain, "seals objects of bucket %q, not %q", p.Bucket, v.bucket)
		return m, false
	}
	for _, f := range p.Findings {
		if f.Severity == SeverityFailure {
			r.Findings.Warn(finding.Recorded(f.Kind), f.Object, f.Remedy, "recorded at sealing in manifest %d of %q: %s", seq, stream, f.Message)
		}
	}
	return m, true
}

// decodedManifest is a manifest version's bytes decoded: its envelope,
// statement and leaf hash, and its signature checks, or why it is
// malformed.
type decodedManifest struct {
	env  Envelope
	st   Statement
	leaf tlog.Hash
	sigs *signatureChecks
	err  error
}

// decodeManifest decodes a manifest version read from r and checks its
// signature with the first trusted key that verifies it; the verifier
// then judges the keys' validity in order (verifySignedAt). It reads
// nothing else and keeps no state: the prefetch runs it in parallel.
func (v *Verifier) decodeManifest(r io.Reader) *decodedManifest {
	raw, err := io.ReadAll(io.LimitReader(r, maxEnvelopeSize+1))
	if err != nil {
		return &decodedManifest{err: err}
	}
	return v.decodeManifestBytes(raw)
}

// decodeManifestBytes is decodeManifest over bytes already read, which
// the decoded envelope keeps.
func (v *Verifier) decodeManifestBytes(raw []byte) *decodedManifest {
	d := &decodedManifest{}
	if d.env, d.err = ParseEnvelopeBytes(raw); d.err != nil {
		return d
	}
	if d.st, d.err = d.env.Statement(); d.err != nil {
		return d
	}
	d.leaf = leafHash(d.env.Raw)
	d.sigs = newSignatureChecks(d.env, v.trust)
	d.sigs.first()
	return d
}

// prefetchManifests reads vs ahead, decoding and checking the signature
// of each manifest among them as it arrives.
func (v *Verifier) prefetchManifests(ctx context.Context, vs []ObjectVersion) {
	p, ok := v.src.(*prefetchSource)
	if !ok || len(vs) == 0 {
		return
	}
	p.prefetchDecoded(ctx, vs, func(ov ObjectVersion, body []byte) any {
		if _, _, ok := ParseManifestKey(v.prefix, ov.Key); !ok {
			return nil // a timestamp token
		}
		return v.decodeManifestBytes(body)
	})
}

// openDecoded opens a version, with what a prefetch decoded of it (nil
// if it was not read ahead with a decode).
func (v *Verifier) openDecoded(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, any, error) {
	if p, ok := v.src.(*prefetchSource); ok {
		return p.openDecoded(ctx, key, versionID)
	}
	rc, meta, err := v.src.Open(ctx, key, versionID)
	return rc, meta, nil, err
}

// checkTimestamp verifies the RFC 3161 token of a manifest, if any, and
// returns the time it attests.
func (v *Verifier) checkTimestamp(ctx context.Context, env Envelope, stream string, seq int64, stamps []ObjectVersion, sealedAt time.Time, r *Report) (time.Time, bool) {
	key := TimestampKey(v.prefix, stream, seq)
	latest := latestToken(stamps)
	if latest == nil {
		if v.TSA != nil {
			r.Findings.Fail(finding.TimestampMissing, objectName(v.bucket, key, ""), "check that the TSA answers the agent; a token removed from the bucket cannot be made again: find who removed it (CloudTrail data events)",
				"manifest %d of %q has no RFC 3161 timestamp, and a timestamp authority is configured: its sealing time rests on the agent's clock alone", seq, stream)
		}
		return time.Time{}, false
	}
	obj := objectName(v.bucket, key, latest.VersionID)
	rc, meta, err := v.src.Open(ctx, key, latest.VersionID)
	if err != nil {
		r.Findings.Fail(finding.TimestampUnreadable, obj, "check the verifier's read permissions", "cannot read: %v", err)
		return time.Time{}, false
	}
	token, err := io.ReadAll(io.LimitReader(rc, maxTimestampSize))
	rc.Close()
	r.Findings = append(r.Findings, v.checkFloor(obj, meta, latest.LastModified)...)
	sig, serr := signatureBytes(env)
	if err == nil {
		err = serr
	}
	if v.TSA == nil {
		// Without the TSA's chain the token's signature cannot be
		// checked, but what it stamps can: bytes that are no token, or a
		// token over anything but this manifest, were planted.
		if err == nil {
			err = timestampCovers(token, sig)
		}
		if err != nil {
			r.Findings.Fail(finding.TimestampInvalid, obj, "custody did not write it for this manifest: find who did (CloudTrail data events)", "%v", err)
			return time.Time{}, false
		}
		r.Findings.Warn(finding.TimestampUnchecked, obj, "configure timestamp.cert_chain to check it", "manifest %d of %q has a timestamp, but no TSA chain is configured", seq, stream)
		return time.Time{}, false
	}
	var at time.Time
	if err == nil {
		at, err = VerifyTimestamp(token, sig, *v.TSA)
	}
	if err != nil {
		r.Findings.Fail(finding.TimestampInvalid, obj, remedyChain, "%v", err)
		return time.Time{}, false
	}
	if d := at.Sub(sealedAt); d > timestampSkew || d < -timestampSkew {
		r.Findings.Fail(finding.TimestampMismatch, obj, "the agent's clock or the manifest's time is wrong: treat its claimed time as untrusted",
			"the manifest says it was sealed at %s, the TSA at %s", sealedAt.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	return at, true
}

func (v *Verifier) checkCheckpoint(ctx context.Context, stream string, last int64, chain []*ManifestRecord, versions []ObjectVersion, r *Report) {
	key := CheckpointKey(v.prefix, stream)
	var latest *ObjectVersion
	for i := range versions {
		if versions[i].IsLatest {
			latest = &versions[i]
		}
	}
	switch {
	case latest == nil && last > 0:
		r.Findings.Fail(finding.CheckpointMissing, objectName(v.bucket, key, ""), remedyChain, "stream %q has manifests but no checkpoint", stream)
		return
	case latest == nil:
		return
	case latest.DeleteMarker:
		r.Findings.Fail(finding.CheckpointDeleteMarker, objectName(v.bucket, key, latest.VersionID), "remove the delete marker and find who placed it", "a delete marker hides the checkpoint of stream %q", stream)
		return
	}
	obj := objectName(v.bucket, key, latest.VersionID)
	env, cp, err := v.readLegacyCheckpoint(ctx, key, latest.VersionID)
	if errors.Is(err, errUnreadable) {
		r.Findings.Fail(finding.CheckpointUnreadable, obj, "check the verifier's read permissions", "cannot read: %v", err)
		return
	}
	if err != nil {
		r.Findings.Fail(finding.CheckpointMalformed, obj, remedyChain, "%v", err)
		return
	}
	if _, kind, msg := verifyEnvelope(env, v.trust, cp.At); kind != "" {
		r.Findings.Fail(kind, obj, "treat this checkpoint as forged", "checkpoint: %s", msg)
		return
	}
	if cp.Stream != stream {
		r.Findings.Fail(finding.CheckpointMalformed, obj, remedyChain, "checkpoint of stream %q stored under %q", cp.Stream, stream)
		return
	}
	if cp.Sequence > last {
		r.Findings.Fail(finding.ManifestMissing, objectName(v.bucket, ManifestKey(v.prefix, stream, cp.Sequence), ""), remedyChain,
			"the checkpoint records manifest %d as the head of stream %q, but the last manifest present is %d: the newest manifests are gone", cp.Sequence, stream, last)
		return
	}
	for _, m := range chain {
		if m.Sequence == cp.Sequence {
			if m.EnvelopeSHA256 != cp.EnvelopeSHA256 {
				r.Findings.Fail(finding.CheckpointMismatch, obj, remedyChain, "the checkpoint's manifest %d hashes to %s, the stored one to %s", cp.Sequence, cp.EnvelopeSHA256, m.EnvelopeSHA256)
			}
			return
		}
	}
}
