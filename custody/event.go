package custody

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/ledger"
)

// Event is a custody event a person or a tool caused (files added to a
// case, a hand-off package exported, a recovery run): what it is, and the
// records that document it, stored as artifacts and sealed in one run.
type Event struct {
	Type        string // EventAdd, EventExport, EventRecover, ...
	Case        string // a case id puts every record under legal hold
	Description string
	Details     map[string]string
	WindowStart time.Time // the time window the event is about, if any
	WindowEnd   time.Time
	Records     []Record
}

// Record is one artifact of an event: a JSON value (stored indented, as
// application/json) or a reader (streamed: any size in bounded memory).
type Record struct {
	Name        string // the last segment of its key
	Kind        string // the artifact kind: "file", "export-record", ...
	JSON        any    // the value to store, or
	Body        io.Reader
	ContentType string // for a Body; empty: application/octet-stream
	// Source is where the bytes came from (file://host/path); the
	// manifest lists the sources of the event's records.
	Source string
	// InCase stores the record under its case (CaseKey: a responder's own
	// file) rather than under the event's stream (EventKey: a record of
	// what was done).
	InCase bool
}

// Recorded is a sealed event: its manifest and the artifacts it sealed.
type Recorded struct {
	ledger.Manifest
	Artifacts []Artifact
}

// Record is the one way to record a custody event: it starts a run of the
// event's type, stores every record as an artifact and seals them in the
// next manifest of the chain. JSON values are encoded before anything is
// written, so a value that cannot be encoded writes nothing. A record that
// fails to store ends the run: what was stored before it is sealed, with
// the failure as a finding, and the error names that manifest.
func (c *Chain) Record(ctx context.Context, e Event) (Recorded, error) {
	bodies := make([]io.Reader, len(e.Records))
	types := make([]string, len(e.Records))
	for i, rec := range e.Records {
		types[i] = rec.ContentType
		switch {
		case rec.JSON != nil && rec.Body != nil:
			return Recorded{}, fmt.Errorf("record %s: both a JSON value and a body", rec.Name)
		case rec.JSON != nil:
			b, err := json.MarshalIndent(rec.JSON, "", "  ")
			if err != nil {
				return Recorded{}, fmt.Errorf("record %s: %w", rec.Name, err)
			}
			bodies[i], types[i] = bytes.NewReader(b), "application/json"
		case rec.Body != nil:
			bodies[i] = rec.Body
		default:
			return Recorded{}, fmt.Errorf("record %s: no JSON value and no body", rec.Name)
		}
	}
	run, err := c.StartRun(ctx, e.Type)
	if err != nil {
		return Recorded{}, err
	}
	var sources []string
	var runErr error
	for i, rec := range e.Records {
		if rec.Source != "" {
			sources = append(sources, rec.Source)
		}
		rec.Body, rec.ContentType = bodies[i], types[i]
		if runErr = c.putRecord(ctx, run, e.Case, rec); runErr != nil {
			break
		}
	}
	m, err := run.Seal(ctx, SealRequest{
		Event: e.Type, Case: e.Case, Description: e.Description, Sources: sources,
		WindowStart: e.WindowStart, WindowEnd: e.WindowEnd, Details: e.Details,
	}, runErr)
	if err != nil && runErr != nil {
		return Recorded{}, fmt.Errorf("%w, and sealing what was stored failed: %w", runErr, err)
	}
	if err != nil {
		return Recorded{}, err
	}
	out := Recorded{Manifest: m, Artifacts: run.Artifacts()}
	if runErr != nil {
		return out, fmt.Errorf("%w (what was stored before the failure is sealed in manifest %d)", runErr, m.Seq)
	}
	return out, nil
}

// Envelope reads back the signed envelope of a manifest this chain
// sealed, as the bucket holds it.
func (c *Chain) Envelope(ctx context.Context, m ledger.Manifest) ([]byte, error) {
	out, err := awsclient.GetObject(ctx, c.reader, &s3.GetObjectInput{Bucket: aws.String(c.store.bucket), Key: aws.String(m.Key), VersionId: aws.String(m.VersionID)})
	if err != nil {
		return nil, fmt.Errorf("read back manifest %s: %w", objectName(c.store.bucket, m.Key, m.VersionID), err)
	}
	defer out.Body.Close()
	env, err := ParseEnvelope(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read back manifest %s: %w", objectName(c.store.bucket, m.Key, m.VersionID), err)
	}
	if env.SHA256 != m.EnvelopeSHA256 {
		return nil, fmt.Errorf("read back manifest %s: it hashes to %s, sealed as %s", objectName(c.store.bucket, m.Key, m.VersionID), env.SHA256, m.EnvelopeSHA256)
	}
	return env.Raw, nil
}

// SignerKeyID is the key id of the chain's signer.
func (c *Chain) SignerKeyID() string { return c.who.KeyID }

// putRecord stores one record of an event's run.
func (c *Chain) putRecord(ctx context.Context, run *Run, caseID string, rec Record) error {
	key := EventKey(c.store.prefix, c.stream, c.now(), run.ID, rec.Name)
	if rec.InCase {
		key = CaseKey(c.store.prefix, caseID, c.now(), run.ID, rec.Name)
	}
	_, err := run.Put(ctx, key, rec.Body, PutOptions{Kind: rec.Kind, Case: caseID, Source: rec.Source, ContentType: rec.ContentType})
	return err
}

// maxRecordRead bounds what ReadArtifact reads: it is for an event's own
// records (a before-state, a journal), never for collected evidence.
const maxRecordRead = 64 << 20

// ReadArtifact reads back an artifact this chain sealed, exactly: its
// version, its size and its SHA-256 must be what was sealed. It is how a
// command that undoes an earlier one (unfreeze) puts back what was sealed
// rather than what a local file says.
func (c *Chain) ReadArtifact(ctx context.Context, a Artifact) ([]byte, error) {
	return ReadRecord(ctx, c.reader, a)
}

// ReadRecord reads back a sealed record (ReadArtifact) with api.
func ReadRecord(ctx context.Context, api awsclient.ObjectGetter, a Artifact) ([]byte, error) {
	name := objectName(a.Bucket, a.Key, a.VersionID)
	if a.VersionID == "" || a.Size > maxRecordRead {
		return nil, fmt.Errorf("read back %s: not a sealed record of at most %d bytes", name, maxRecordRead)
	}
	out, err := awsclient.GetObject(ctx, api, &s3.GetObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key), VersionId: aws.String(a.VersionID)})
	if err != nil {
		return nil, fmt.Errorf("read back %s: %w", name, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxRecordRead+1))
	if err != nil {
		return nil, fmt.Errorf("read back %s: %w", name, err)
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != a.Size || hex.EncodeToString(sum[:]) != a.SHA256 {
		return nil, fmt.Errorf("read back %s: it is %d bytes with SHA-256 %x, sealed as %d bytes with %s: the evidence bucket was changed; run custody verify", name, len(b), sum, a.Size, a.SHA256)
	}
	return b, nil
}
