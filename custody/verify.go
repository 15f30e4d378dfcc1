package custody

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
)

// VerifyOptions narrow what verify checks in depth. The chain is always
// checked whole (manifests are small); subjects and unsealed objects only
// within the selection.
type VerifyOptions struct {
	Since, Until time.Time // manifests sealed in [Since, Until]; zero is open
	Case         string    // only manifests of this case; their subjects must be under legal hold
	Concurrency  int       // objects read at once (default 16)
	// Progress, if set, is called as subjects are checked.
	Progress func(done, total int64, bytes int64)
	// Checks are evidence-level checks to run besides the verifier's own.
	Checks []EvidenceCheck
	// TempDir is where verify --bundle extracts a package (default
	// $TMPDIR); the folder it makes there is always removed.
	TempDir string
}

// Counts say how much was checked.
type Counts struct {
	Streams   int   `json:"streams"`
	Manifests int   `json:"manifests"`
	Subjects  int   `json:"subjects"`
	Bytes     int64 `json:"bytes"`
	Objects   int   `json:"objects"`
}

// Unchecked counts what a selected verify did not check in depth: the
// manifests outside the selection (their signatures and links were
// checked, their artifacts were not) and the streams with none selected.
type Unchecked struct {
	Streams   int   `json:"streams"`
	Manifests int   `json:"manifests"`
	Artifacts int   `json:"artifacts"`
	Bytes     int64 `json:"bytes"`
}

// Report is the result of verify: the JSON schema is documented in
// docs/verify.md.
type Report struct {
	OK         bool      `json:"ok"`
	Status     string    `json:"status"` // StatusOK or StatusFailed, as OK says (set by conclude)
	Bucket     string    `json:"bucket"`
	Prefix     string    `json:"prefix"`
	VerifiedAt time.Time `json:"verifiedAt"`
	Selection  Selection `json:"selection"`
	Checked    Counts    `json:"checked"`
	// Unchecked is what a selection left out: only a full verify covers it.
	Unchecked Unchecked        `json:"unchecked"`
	Findings  Findings         `json:"findings"`
	Manifests []ManifestRecord `json:"manifests"`
	Keys      []KeyRecord      `json:"keys"`
}

// The status of a report in JSON: "ok" or "failed", as OK says. A command
// that could not complete prints no report: its JSON is {"ok": null,
// "status": "incomplete", "error": "..."}, and it exits 3.
const (
	StatusOK         = "ok"
	StatusFailed     = "failed"
	StatusIncomplete = "incomplete"
)

// conclude sets OK and Status from the findings: OK without failures.
func (r *Report) conclude() {
	r.OK = r.Findings.Failures() == 0
	r.Status = StatusFailed
	if r.OK {
		r.Status = StatusOK
	}
}

// ErrEvidenceFailed marks an error that is a conclusion about the
// evidence, not a failure to reach one: the command stops because the
// evidence failed verification (exit 1, not 3).
var ErrEvidenceFailed = errors.New("the evidence failed verification")

// MarshalJSON writes a report's empty lists as [], never null, so that a
// reader of the JSON need not tell "none" from "not given".
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	p := plain(r)
	if p.Findings == nil {
		p.Findings = Findings{}
	}
	if p.Manifests == nil {
		p.Manifests = []ManifestRecord{}
	}
	if p.Keys == nil {
		p.Keys = []KeyRecord{}
	}
	return json.Marshal(p)
}

// Selection records the options a report was made with.
type Selection struct {
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	Case  string    `json:"case,omitempty"`
}

// ManifestRecord is one verified manifest: the rows of the chain-of-custody
// document.
type ManifestRecord struct {
	Stream         string    `json:"stream"`
	Sequence       int64     `json:"sequence"`
	Key            string    `json:"key"`
	VersionID      string    `json:"versionId"`
	EnvelopeSHA256 string    `json:"envelopeSha256"`
	Event          string    `json:"event"`
	Collector      string    `json:"collector"`
	Case           string    `json:"case,omitempty"`
	SealedAt       time.Time `json:"sealedAt"`
	Who            Who       `json:"who"`
	Where          Where     `json:"where"`
	SubjectCount   int       `json:"subjects"`
	SignedBy       string    `json:"signedBy,omitempty"`
	TimestampedAt  time.Time `json:"timestampedAt,omitzero"`
	Selected       bool      `json:"selected"`
	statement      Statement
	leaf           tlog.Hash // the manifest's leaf hash in its stream's log
	// storedAt is S3's time of storing the manifest (its LastModified;
	// offline, as the package's signed index records it): artifacts it
	// seals must not be stored after it.
	storedAt time.Time
}

// KeyRecord is a trusted key that verified at least one manifest.
type KeyRecord struct {
	Name  string `json:"name"`
	KeyID string `json:"keyId"`
	PEM   string `json:"pem"`
}

// Verifier checks evidence, collecting every finding.
type Verifier struct {
	src    evidenceSource
	bucket string
	prefix string
	region string
	trust  []TrustedKey
	ledger *ledger.Ledger // optional: its heads catch a deleted tail
	// recorded, for a package, are the streams its signed statement
	// records: which manifests the package holds, and each head.
	recorded map[string]PackageStream
	// proofs, for a package, are its manifests' inclusion proofs.
	proofs map[string]map[int64]tlog.RecordProof
	// wholePackage: the package's signed selection is the whole store.
	wholePackage bool
	now          func() time.Time
	bucketChecks func(context.Context) (Findings, error)

	// TSA, if set, is the chain RFC 3161 timestamps must verify against;
	// manifests without one then fail.
	TSA *TSAChain
	// ClockTolerance is how far S3's time of storing an object may be from
	// the time custody claims for it (zero: DefaultClockTolerance).
	ClockTolerance time.Duration
	// retention is the configured policy: every manifest and sealed
	// artifact must be locked at least this strongly, counted from S3's
	// time of storing it. Zero (a package) checks no floor.
	retention config.Retention
	// Checks are the evidence-level checks collectors register (the
	// CloudTrail digest chain, say); each runs over the selected manifests.
	Checks []EvidenceCheck
	// Witnesses are the witness buckets the store is cross-checked with.
	Witnesses []*S3Witness

	// chains are the manifests Sealed and Events verified, once per
	// Verifier (sealed.go).
	chains chainsOnce
}

// EvidenceCheck is a check of the evidence's own meaning, beyond its
// custody: a collector registers one to re-validate what it preserved.
// Check reports problems as findings and never stops at the first.
type EvidenceCheck interface {
	Name() string
	Check(ctx context.Context, ev EvidenceReader, manifests []ManifestRecord) Findings
}

// EvidenceReader opens sealed artifacts for an EvidenceCheck.
type EvidenceReader interface {
	Open(ctx context.Context, key, versionID string) (io.ReadCloser, error)
}

type sourceReader struct{ src evidenceSource }

func (s sourceReader) Open(ctx context.Context, key, versionID string) (io.ReadCloser, error) {
	rc, _, err := s.src.Open(ctx, key, versionID)
	return rc, err
}

// NewVerifier verifies the evidence bucket through api against trust. The
// ledger is optional.
func NewVerifier(api interface {
	objectReader
	bucketAPI
}, st config.Store, trust []TrustedKey, l *ledger.Ledger, now func() time.Time) *Verifier {
	return &Verifier{
		src: s3Source{api: api, bucket: st.Bucket, clock: &serverClock{}}, bucket: st.Bucket, prefix: st.Prefix, region: st.Region, trust: trust, ledger: l, now: now,
		retention:    st.Retention,
		bucketChecks: func(ctx context.Context) (Findings, error) { return CheckBucket(ctx, api, st) },
	}
}

// Verify runs every check and returns the report. An error means verify
// could not run (the bucket cannot be listed); everything else is a finding.
func (v *Verifier) Verify(ctx context.Context, o VerifyOptions) (*Report, error) {
	r, _, err := v.verify(ctx, o)
	return r, err
}

// verify is Verify, also returning the store's listing for Export.
func (v *Verifier) verify(ctx context.Context, o VerifyOptions) (*Report, *storeIndex, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	r := &Report{Bucket: v.bucket, Prefix: v.prefix, VerifiedAt: v.now().UTC(), Selection: Selection{Since: o.Since, Until: o.Until, Case: o.Case}, Findings: Findings{}}
	if v.bucketChecks != nil {
		fs, err := v.bucketChecks(ctx)
		if err != nil {
			return nil, nil, err
		}
		r.Findings = append(r.Findings, fs...)
	}
	idx, rest, err := v.indexAhead(ctx)
	if err != nil || ctx.Err() != nil {
		_ = rest()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	if !v.src.Offline() {
		// Manifests, tokens and checkpoint versions are read ahead, in
		// parallel, for the checks that take them in order.
		orig := v.src
		v.src = newPrefetchSource(orig, o.Concurrency)
		defer func() { v.src = orig }()
	}

	failed := r.Findings.Failures()
	chains := v.checkChains(ctx, idx, r)
	if err := rest(); ctx.Err() != nil || err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	r.Checked.Objects = len(idx.objects)
	v.checkRegistry(ctx, idx, chains, r)
	if err := v.checkWitnesses(ctx, idx, chains, r); err != nil {
		return nil, nil, err
	}
	if o.Case != "" {
		if err := v.caseExists(chains, o.Case); err != nil {
			if r.Findings.Failures() == failed {
				return nil, nil, err
			}
			// Manifests failed verification: the case may be in one of
			// them, so its absence is a failure of the report, not a typo.
			r.Findings.Fail(finding.CaseMissing, "case "+o.Case, "check the case id; if it is right, its manifests are among those that failed",
				"%s; manifests that failed verification may be of it", strings.TrimPrefix(err.Error(), ErrNoSuchCase.Error()+": "))
		}
	}
	selected := v.selectManifests(chains, o, r)
	v.checkSubjects(ctx, idx, selected, o, r)
	v.checkUnsealed(idx, chains, o, r)
	var sel []ManifestRecord
	for _, m := range selected {
		sel = append(sel, *m)
	}
	for _, c := range append(append([]EvidenceCheck(nil), v.Checks...), o.Checks...) {
		r.Findings = append(r.Findings, c.Check(ctx, sourceReader{v.src}, sel)...)
	}

	sort.SliceStable(r.Findings, func(i, j int) bool {
		if r.Findings[i].Severity != r.Findings[j].Severity {
			return r.Findings[i].Severity == SeverityFailure
		}
		return r.Findings[i].Object < r.Findings[j].Object
	})
	// An interrupted verify has no result: the reads that the
	// cancellation cut short are not findings about the evidence.
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	r.conclude()
	return r, idx, nil
}

// storeIndex is the listing of the evidence store: every version and
// delete marker by key.
type storeIndex struct {
	objects     map[string][]ObjectVersion // key -> versions and markers, newest first
	manifests   map[string]map[int64][]ObjectVersion
	checkpoints map[string][]ObjectVersion
	// logCheckpoints are every version of each stream's log checkpoint.
	logCheckpoints map[string][]ObjectVersion
	timestamps     map[string]map[int64][]ObjectVersion
	// cpTokens are the RFC 3161 tokens of log checkpoint versions, by
	// stream and the hex SHA-256 of the checkpoint's bytes; cpChecked the
	// token versions checkLog checked (key and version id).
	cpTokens  map[string]map[string][]ObjectVersion
	cpChecked map[string]bool
	// cpTokenOf is the token checked for each checkpoint version (by its
	// key and version id), for export to carry.
	cpTokenOf map[string]ObjectVersion
	// registry is every version under the registry's folder.
	registry []ObjectVersion
}

func (v *Verifier) index(ctx context.Context) (*storeIndex, error) {
	idx, rest, err := v.indexAhead(ctx)
	if err := rest(); err != nil {
		return idx, err
	}
	return idx, err
}

// indexAhead lists the manifests' folder into the index and returns; the
// rest of the store is listed meanwhile, in the background, and rest (to
// be called once, whatever err is) waits for it and adds it to the index.
// The chains, which need only the manifests' folder, are checked while
// the artifacts are still being listed. A source that cannot list by
// folder is listed whole at once.
func (v *Verifier) indexAhead(ctx context.Context) (idx *storeIndex, rest func() error, err error) {
	idx = &storeIndex{objects: map[string][]ObjectVersion{}, manifests: map[string]map[int64][]ObjectVersion{}, checkpoints: map[string][]ObjectVersion{}, logCheckpoints: map[string][]ObjectVersion{},
		timestamps: map[string]map[int64][]ObjectVersion{}, cpTokens: map[string]map[string][]ObjectVersion{}, cpChecked: map[string]bool{}, cpTokenOf: map[string]ObjectVersion{}}
	add := func(ov ObjectVersion) error {
		idx.add(v.prefix, ov)
		return nil
	}
	none := func() error { return nil }
	prefix := strings.Trim(v.prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	src, ok := v.src.(s3Source)
	if !ok {
		return idx, none, v.src.Versions(ctx, prefix, add)
	}
	top, dirs, err := src.Folders(ctx, prefix)
	if err != nil {
		return idx, none, err
	}
	manifests := ManifestPrefix(v.prefix)
	// The rest is listed without moving S3's clock: freshness is judged
	// by S3's time at the end of the manifests' listing, as before the
	// chains were checked.
	quiet := src
	quiet.clock = nil
	var others []ObjectVersion
	done := make(chan error, 1)
	go func() {
		var err error
		for _, d := range dirs {
			if d == manifests {
				continue
			}
			if err = quiet.Versions(ctx, d, func(ov ObjectVersion) error {
				others = append(others, ov)
				return nil
			}); err != nil {
				break
			}
		}
		done <- err
	}()
	rest = func() error {
		err := <-done
		for _, ov := range top {
			idx.add(v.prefix, ov)
		}
		for _, ov := range others {
			idx.add(v.prefix, ov)
		}
		return err
	}
	return idx, rest, src.Versions(ctx, manifests, add)
}

// add files one listed version in the index.
func (idx *storeIndex) add(prefix string, ov ObjectVersion) {
	if stream, seq, ok := ParseManifestKey(prefix, ov.Key); ok {
		if idx.manifests[stream] == nil {
			idx.manifests[stream] = map[int64][]ObjectVersion{}
		}
		idx.manifests[stream][seq] = append(idx.manifests[stream][seq], ov)
		return
	}
	if stream, seq, ok := ParseTimestampKey(prefix, ov.Key); ok {
		if idx.timestamps[stream] == nil {
			idx.timestamps[stream] = map[int64][]ObjectVersion{}
		}
		idx.timestamps[stream][seq] = append(idx.timestamps[stream][seq], ov)
		return
	}
	if stream, ok := IsCheckpointKey(prefix, ov.Key); ok {
		idx.checkpoints[stream] = append(idx.checkpoints[stream], ov)
		return
	}
	if stream, ok := IsLogCheckpointKey(prefix, ov.Key); ok {
		idx.logCheckpoints[stream] = append(idx.logCheckpoints[stream], ov)
		return
	}
	if stream, sum, ok := IsLogCheckpointTimestampKey(prefix, ov.Key); ok {
		if idx.cpTokens[stream] == nil {
			idx.cpTokens[stream] = map[string][]ObjectVersion{}
		}
		idx.cpTokens[stream][sum] = append(idx.cpTokens[stream][sum], ov)
		return
	}
	if strings.HasPrefix(ov.Key, RegistryPrefix(prefix)) {
		idx.registry = append(idx.registry, ov)
		return
	}
	idx.objects[ov.Key] = append(idx.objects[ov.Key], ov)
}

// version returns the stored version of key with id versionID.
func (idx *storeIndex) version(key, versionID string) (ObjectVersion, bool) {
	for _, ov := range idx.objects[key] {
		if ov.VersionID == versionID && !ov.DeleteMarker {
			return ov, true
		}
	}
	return ObjectVersion{}, false
}

// ErrNoSuchCase means the selected case is in no manifest of the store:
// most likely a typo, which must not pass as a clean, empty report.
var ErrNoSuchCase = errors.New("no such case")

// caseExists returns ErrNoSuchCase, naming the cases there are, when no
// manifest of chains is of the case.
func (v *Verifier) caseExists(chains map[string][]*ManifestRecord, id string) error {
	seen := map[string]bool{}
	for _, chain := range chains {
		for _, m := range chain {
			if m.Case == id {
				return nil
			}
			if m.Case != "" {
				seen[m.Case] = true
			}
		}
	}
	known := make([]string, 0, len(seen))
	for c := range seen {
		known = append(known, c)
	}
	sort.Strings(known)
	there := "there are no cases"
	if len(known) > 0 {
		there = "the cases there are: " + strings.Join(known, ", ")
	}
	return fmt.Errorf("%w: no manifest of s3://%s/%s is of case %q; %s", ErrNoSuchCase, v.bucket, v.prefix, id, there)
}

// selectManifests picks the manifests whose subjects are checked in depth.
func (v *Verifier) selectManifests(chains map[string][]*ManifestRecord, o VerifyOptions, r *Report) []*ManifestRecord {
	var out []*ManifestRecord
	streams := make([]string, 0, len(chains))
	for s := range chains {
		streams = append(streams, s)
	}
	sort.Strings(streams)
	total := len(r.Manifests)
	for _, s := range streams {
		total += len(chains[s])
	}
	r.Manifests = slices.Grow(r.Manifests, total-len(r.Manifests))
	for _, s := range streams {
		picked := false
		for _, m := range chains[s] {
			in := (o.Since.IsZero() || !m.SealedAt.Before(o.Since)) && (o.Until.IsZero() || !m.SealedAt.After(o.Until)) &&
				(o.Case == "" || m.Case == o.Case)
			m.Selected = in
			r.Manifests = append(r.Manifests, *m)
			if in {
				out = append(out, m)
				picked = true
				continue
			}
			r.Unchecked.Manifests++
			for _, sub := range m.statement.Subject {
				r.Unchecked.Artifacts++
				r.Unchecked.Bytes += sub.Annotations.Size
			}
		}
		if !picked {
			r.Unchecked.Streams++
		}
	}
	for s, rs := range v.recorded {
		switch {
		case rs.First == 0 && chains[s] == nil:
			r.Unchecked.Streams++ // a stream of the store the package does not hold
		case rs.LogRoot != "" && rs.Head > int64(len(chains[s])):
			// The stream's manifests the package proves its own are in,
			// without holding them.
			r.Unchecked.Manifests += int(rs.Head) - len(chains[s])
		}
	}
	return out
}

type progress struct {
	done, total, bytes atomic.Int64
	fn                 func(done, total, bytes int64)
}

func (p *progress) add(n int64) {
	d := p.done.Add(1)
	b := p.bytes.Add(n)
	if p.fn != nil {
		p.fn(d, p.total.Load(), b)
	}
}

func objectName(bucket, key, version string) string {
	s := fmt.Sprintf("s3://%s/%s", bucket, key)
	if version != "" {
		s += "?versionId=" + version
	}
	return s
}
