package custody

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/ledger"
)

// Run is one collection run or custody event in progress: what it stores
// is recorded as it goes, and Seal ends it with a manifest.
type Run struct {
	ID    string
	chain *Chain

	mu  sync.Mutex
	req SealRequest
	// cut are the keys of uploads abandoned because their context ended
	// (SIGTERM): the request may have reached S3, which can still be
	// storing it when the run is sealed.
	cut map[string]bool
	// cutOver closes when the wait for all of them together is over.
	cutOver chan struct{}
	// intended are the keys whose intents Intend recorded and Put has
	// not yet used.
	intended map[string]bool
}

// StartRun records the start of a run in the ledger.
func (c *Chain) StartRun(ctx context.Context, collector string) (*Run, error) {
	id := NewRunID(c.now())
	if err := c.ledger.StartRun(ctx, ledger.Run{ID: id, Stream: c.stream, Collector: collector, StartedAt: c.now()}); err != nil {
		return nil, err
	}
	return &Run{ID: id, chain: c, req: SealRequest{RunID: id, Collector: collector}}, nil
}

// RunID is the run's id, the <run> segment of its artifacts' keys.
func (r *Run) RunID() string { return r.ID }

// Put stores one artifact of the run. It is safe for concurrent use. An
// access denial names the permission the agent's role lacks.
func (r *Run) Put(ctx context.Context, key string, body io.Reader, o PutOptions) (Artifact, error) {
	o.RunID = r.ID
	r.mu.Lock()
	// An intent recorded ahead does not say which source version is
	// copied: the copy does, for a locate after a lost answer.
	o.keepSourceVersion = r.intended[key]
	r.mu.Unlock()
	a, err := r.chain.store.Put(ctx, runJournal{r}, key, body, o)
	if err != nil {
		if ctx.Err() != nil {
			r.mu.Lock()
			if r.cut == nil {
				r.cut = map[string]bool{}
			}
			r.cut[key] = true
			r.mu.Unlock()
		}
		return a, awsclient.AgentRole.Explain(err)
	}
	r.mu.Lock()
	r.req.Artifacts = append(r.req.Artifacts, a)
	r.mu.Unlock()
	return a, nil
}

// runJournal records a run's uploads: each intent committed before its
// upload starts, each stored version queued for the ledger's next commit
// (ledger.QueueArtifact), all of them committed by Seal before the run is
// sealed. A crash before that commit leaves the intent, and the upload is
// located in the bucket as one whose answer was lost (settle, Reseal).
// An intent recorded by Intend is not recorded again.
type runJournal struct{ r *Run }

func (j runJournal) AddIntent(ctx context.Context, a ledger.Artifact) error {
	j.r.mu.Lock()
	intended := j.r.intended[a.Key]
	delete(j.r.intended, a.Key)
	j.r.mu.Unlock()
	if intended {
		return nil
	}
	return j.r.chain.ledger.AddIntent(ctx, a)
}

func (j runJournal) StoreArtifact(ctx context.Context, a ledger.Artifact) error {
	return j.r.chain.ledger.QueueArtifact(ctx, a)
}

// Intent is an upload about to start: the key and options Put will be
// given.
type Intent struct {
	Key     string
	Options PutOptions
}

// Intend records the intents of uploads about to start in one commit, so
// that Put of each does not wait for a commit of its own (their source
// versions, not known yet, are recorded with the versions stored, and
// kept on the stored objects, x-amz-meta-custody-source-version, for a
// copy whose answer is lost: locate reads it back from there). Call
// it just before the uploads, for as many as are about to run: an intent
// whose upload never starts is looked for in the bucket when the run is
// sealed (or by Reseal after a crash) like an upload whose answer was
// lost, and dropped.
func (r *Run) Intend(ctx context.Context, intents []Intent) error {
	rows := make([]ledger.Artifact, len(intents))
	for i, in := range intents {
		o := in.Options
		rows[i] = Artifact{Bucket: r.chain.store.bucket, Key: in.Key, RunID: r.ID, Kind: o.Kind, Account: o.Account, Region: o.Region,
			Source: o.Source, SourceVersion: o.SourceVersion, Case: o.Case}
	}
	if err := r.chain.ledger.AddIntents(ctx, rows); err != nil {
		return err
	}
	r.mu.Lock()
	if r.intended == nil {
		r.intended = map[string]bool{}
	}
	for _, in := range intents {
		r.intended[in.Key] = true
	}
	r.mu.Unlock()
	return nil
}

// Artifacts are what the run stored so far.
func (r *Run) Artifacts() []Artifact {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Artifact(nil), r.req.Artifacts...)
}

// Seal seals the run's artifacts in a manifest described by req (its
// Artifacts and RunID are the run's own) and finishes the run. A run that
// failed (runErr) is sealed too, with the failure as a finding, so what it
// stored is never left unsealed.
func (r *Run) Seal(ctx context.Context, req SealRequest, runErr error) (ledger.Manifest, error) {
	if req.Collector == "" {
		req.Collector = r.req.Collector
	}
	status := ledger.RunSealed
	if runErr != nil {
		status = ledger.RunFailed
		req.Findings = append(req.Findings, Finding{Severity: SeverityFailure, Kind: finding.RunFailed, Object: r.ID, Message: runErr.Error()})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// The versions of the run's uploads, queued by Put, are committed
	// before anything reads the ledger for the seal; one that could not be
	// is written again by settle.
	ferr := r.chain.ledger.Flush(ctx, r.ID)
	settled, err := r.settle(ctx)
	if err != nil {
		return ledger.Manifest{}, fmt.Errorf("seal run %s: %w", r.ID, errors.Join(err, ferr))
	}
	req.Findings = append(req.Findings, settled...)
	if len(r.req.Artifacts) == 0 {
		// A statement needs a subject: a run that stored nothing is
		// sealed over a record of itself.
		if err := r.putRecord(ctx, req); err != nil {
			return ledger.Manifest{}, awsclient.AgentRole.Explain(err)
		}
	}
	req.RunID, req.Artifacts = r.ID, r.req.Artifacts
	m, err := r.chain.Seal(ctx, req)
	if err != nil {
		return m, fmt.Errorf("seal run %s: %w", r.ID, err)
	}
	errText := ""
	if runErr != nil {
		errText = runErr.Error()
	}
	return m, r.chain.ledger.FinishRun(ctx, r.ID, status, errText)
}

// settle records the version of every upload of the run whose queued
// record did not reach the ledger, and accounts for every upload of this
// run the ledger knows of but the run does not: an upload whose answer never came (its context was
// cancelled by SIGTERM, or every try failed) may have landed all the
// same. What landed is sealed with the rest, read back from the bucket,
// each with a warning that says so (those bytes were hashed as found, not
// as sent); an intent of what did not is dropped. Nothing of the run is
// left unsealed, in the bucket or in the ledger. Called with r.mu held.
func (r *Run) settle(ctx context.Context) ([]Finding, error) {
	rows, err := r.chain.ledger.UnsealedArtifacts(ctx, []string{r.ID})
	if err != nil {
		return nil, err
	}
	var findings []Finding
	have := make(map[string]Artifact, len(r.req.Artifacts))
	for _, a := range r.req.Artifacts {
		have[a.Key] = a
	}
	for _, a := range rows {
		if stored, ok := have[a.Key]; ok {
			if a.VersionID == "" {
				// Its version was queued but not committed (Flush said
				// why): record it now, or the seal fails.
				if err := r.chain.ledger.StoreArtifact(ctx, stored); err != nil {
					return nil, err
				}
			}
			continue
		}
		if a.VersionID != "" {
			if err := r.chain.restoreMetadata(ctx, &a); err != nil {
				return nil, err
			}
			r.req.Artifacts = append(r.req.Artifacts, a)
			continue
		}
		found, ok, err := r.chain.locate(ctx, a)
		if err == nil && !ok && r.cut[a.Key] {
			found, ok, err = r.awaitCut(ctx, a)
		}
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := r.chain.ledger.DropIntent(ctx, a.Bucket, a.Key, a.RunID); err != nil {
				return nil, err
			}
			continue
		}
		r.req.Artifacts = append(r.req.Artifacts, found)
		findings = append(findings, Finding{Severity: SeverityWarning, Kind: finding.SealedAfterLostAnswer,
			Object:  "s3://" + found.Bucket + "/" + found.Key + "?versionId=" + found.VersionID,
			Message: "the upload's answer never came; sealed as read back from the bucket"})
	}
	return findings, nil
}

// cutUploadWait is how long an upload abandoned by a cancelled context
// is looked for before its intent is dropped: its request may have
// reached S3, which goes on storing it after the client has gone.
const cutUploadWait = 3 * time.Second

// awaitCut looks for an abandoned upload again, a few times over
// cutUploadWait (all of them within the same span), so that a version S3
// finishes storing after the run gave up on it is sealed rather than left
// unsealed. Uploads that failed with an answer are not waited for: S3
// refused them. Called with r.mu held.
func (r *Run) awaitCut(ctx context.Context, a Artifact) (Artifact, bool, error) {
	if r.cutOver == nil {
		over := make(chan struct{})
		time.AfterFunc(cutUploadWait, func() { close(over) })
		r.cutOver = over
	}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		select {
		case <-ctx.Done():
			return a, false, ctx.Err()
		case <-r.cutOver:
			return a, false, nil
		case <-time.After(wait):
		}
		found, ok, err := r.chain.locate(ctx, a)
		if err != nil || ok {
			return found, ok, err
		}
	}
}

// putRecord stores a JSON record of a run that stored nothing else.
func (r *Run) putRecord(ctx context.Context, req SealRequest) error {
	rec := struct {
		RunID       string    `json:"runId"`
		Event       string    `json:"event"`
		Collector   string    `json:"collector"`
		Description string    `json:"description,omitempty"`
		Case        string    `json:"case,omitempty"`
		Resealed    []string  `json:"resealedRuns,omitempty"`
		Findings    []Finding `json:"findings,omitempty"`
		At          time.Time `json:"at"`
	}{r.ID, req.Event, req.Collector, req.Description, req.Case, req.Resealed, req.Findings, r.chain.now().UTC()}
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	key := EventKey(r.chain.store.prefix, r.chain.stream, r.chain.now(), r.ID, "run-record.json")
	a, err := r.chain.store.Put(ctx, r.chain.ledger, key, bytes.NewReader(body), PutOptions{RunID: r.ID, Kind: "run-record", Case: req.Case, ContentType: "application/json"})
	if err != nil {
		return err
	}
	r.req.Artifacts = append(r.req.Artifacts, a) // r.mu is held by Seal
	return nil
}

// Reseal finds runs of this stream that a crash left unsealed (their
// process ended before the manifest), locates what they stored, and seals
// it in a manifest that names those runs. Call it at start-up while
// holding the stream lock. It returns the number of artifacts sealed.
func (c *Chain) Reseal(ctx context.Context) (int, error) {
	runs, err := c.ledger.Runs(ctx, ledger.RunRunning)
	if err != nil {
		return 0, err
	}
	var ids []string
	for _, r := range runs {
		if r.Stream == c.stream {
			ids = append(ids, r.ID)
		}
	}
	return c.ResealRuns(ctx, ids)
}

// ResealRuns seals what the given runs of this stream stored, in one
// manifest that names them, and marks them abandoned. A long-running agent
// calls it for runs whose own seal failed (the bucket or the signer was
// unreachable for longer than the retries lasted), so their artifacts do
// not wait for a restart to be sealed.
func (c *Chain) ResealRuns(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	arts, err := c.ledger.UnsealedArtifacts(ctx, ids)
	if err != nil {
		return 0, err
	}
	var sealed []Artifact
	var findings []Finding
	for _, a := range arts {
		if a.VersionID == "" {
			found, ok, err := c.locate(ctx, a)
			if err != nil {
				return 0, err
			}
			if !ok {
				if err := c.ledger.DropIntent(ctx, a.Bucket, a.Key, a.RunID); err != nil {
					return 0, err
				}
				continue
			}
			a = found
		} else if err := c.restoreMetadata(ctx, &a); err != nil {
			return 0, err
		}
		sealed = append(sealed, a)
		findings = append(findings, Finding{Severity: SeverityWarning, Kind: finding.SealedAfterCrash, Object: "s3://" + a.Bucket + "/" + a.Key + "?versionId=" + a.VersionID,
			Message: fmt.Sprintf("stored by run %s, which ended before sealing; sealed by this manifest", a.RunID)})
	}
	run, err := c.StartRun(ctx, "reseal")
	if err != nil {
		return 0, err
	}
	run.req.Artifacts = sealed
	if _, err := run.Seal(ctx, SealRequest{
		Event: EventReseal, Resealed: ids, Findings: findings,
		Description: fmt.Sprintf("artifacts of %d run(s) that ended before sealing", len(ids)),
	}, nil); err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := c.ledger.FinishRun(ctx, id, ledger.RunAbandoned, "ended before sealing; artifacts sealed by a reseal manifest"); err != nil {
			return 0, err
		}
	}
	return len(sealed), nil
}

// restoreMetadata reads back the user metadata an artifact was stored
// with (a CloudTrail digest's signature), which the ledger does not keep
// and the manifest must carry (fromStoredMetadata).
func (c *Chain) restoreMetadata(ctx context.Context, a *Artifact) error {
	h, err := c.store.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key), VersionId: aws.String(a.VersionID)})
	if err != nil {
		return fmt.Errorf("read the metadata of s3://%s/%s?versionId=%s: %w", a.Bucket, a.Key, a.VersionID, err)
	}
	fromStoredMetadata(a, h.Metadata)
	return nil
}

// locate finds the version an in-flight upload left in the bucket, hashes
// it and records it, with the source version it was stored with when its
// intent has none (fromStoredMetadata); ok is false when the upload never
// completed.
func (c *Chain) locate(ctx context.Context, a Artifact) (Artifact, bool, error) {
	out, err := c.reader.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(a.Bucket), Prefix: aws.String(a.Key)})
	if err != nil {
		return a, false, fmt.Errorf("look for s3://%s/%s: %w", a.Bucket, a.Key, err)
	}
	for _, v := range out.Versions {
		if aws.ToString(v.Key) != a.Key {
			continue
		}
		obj, err := c.reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key), VersionId: v.VersionId})
		if err != nil {
			return a, false, fmt.Errorf("read s3://%s/%s: %w", a.Bucket, a.Key, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, obj.Body)
		obj.Body.Close()
		if err != nil {
			return a, false, fmt.Errorf("read s3://%s/%s: %w", a.Bucket, a.Key, err)
		}
		a.VersionID, a.SHA256, a.Size = aws.ToString(v.VersionId), hex.EncodeToString(h.Sum(nil)), n
		a.RetainUntil = aws.ToTime(obj.ObjectLockRetainUntilDate)
		if n > c.store.PartSize {
			a.PartSize = c.store.PartSize
		}
		a.StoredAt = aws.ToTime(v.LastModified)
		fromStoredMetadata(&a, obj.Metadata)
		if err := c.ledger.StoreArtifact(ctx, a); err != nil {
			return a, false, err
		}
		return a, true, nil
	}
	return a, false, nil
}
