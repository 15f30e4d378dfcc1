package custody

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// The manifest format (docs/manifest.md): an in-toto Statement v1 in a
// DSSE envelope.
const (
	// PayloadType is the DSSE payload type of manifests.
	PayloadType = "application/vnd.in-toto+json"
	// PredicateType identifies custody's manifest predicate.
	PredicateType = "https://github.com/custody-ir/custody/manifest/v1"
	// CheckpointPayloadType is the DSSE payload type of checkpoints.
	CheckpointPayloadType = "application/vnd.custody.checkpoint+json"

	// maxEnvelopeSize bounds what is read of a manifest or checkpoint.
	maxEnvelopeSize = 256 << 20
)

// Custody events, the predicate's event field.
const (
	EventCollect = "collect" // a collection run
	EventAdd     = "add"     // files a responder added to a case
	EventReseal  = "reseal"  // artifacts of crashed runs, sealed afterwards
	EventExport  = "export"  // a hand-off package was exported
	EventRecover = "recover" // a recovery ran
	EventSearch  = "search"  // a search's results, derived from sealed evidence, sealed into a case

	EventFreeze   = "freeze"   // a bucket was frozen for examination (its before-state sealed)
	EventUnfreeze = "unfreeze" // a frozen bucket's sealed before-state was put back
	EventContain  = "contain"  // an access key was deactivated or a role's sessions revoked
)

// Statement is an in-toto Statement v1 with custody's predicate.
type Statement struct {
	Type          string    `json:"_type"`
	Subject       []Subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     Predicate `json:"predicate"`
}

// Subject is one artifact: its bucket key, SHA-256 and what S3 knows of it.
type Subject struct {
	Name        string            `json:"name"`
	Digest      map[string]string `json:"digest"`
	Annotations SubjectAnnotation `json:"annotations"`
}

// SubjectAnnotation records where and how a subject is stored.
type SubjectAnnotation struct {
	VersionID     string    `json:"versionId"`
	Size          int64     `json:"size"`
	PartSize      int64     `json:"partSize,omitempty"`
	RetainUntil   time.Time `json:"retainUntil"`
	RetentionMode string    `json:"retentionMode"`
	LegalHold     bool      `json:"legalHold,omitempty"`
	Kind          string    `json:"kind"`
	Source        string    `json:"source,omitempty"`
	SourceVersion string    `json:"sourceVersion,omitempty"`
	RunID         string    `json:"runId,omitempty"`
	// Metadata is the source object's user metadata kept with the
	// artifact (a CloudTrail digest's signature and algorithm).
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Predicate says who sealed what, when and where, and links the manifest
// to the one before it in its stream.
type Predicate struct {
	Stream         string     `json:"stream"`
	Sequence       int64      `json:"sequence"`
	PreviousSHA256 string     `json:"previousEnvelopeSha256,omitempty"`
	Event          string     `json:"event"`
	RunID          string     `json:"runId"`
	Bucket         string     `json:"bucket"`
	Case           string     `json:"case,omitempty"`
	Who            Who        `json:"who"`
	What           What       `json:"what"`
	When           When       `json:"when"`
	Where          Where      `json:"where"`
	Resealed       []string   `json:"resealedRuns,omitempty"`
	Findings       []Finding  `json:"findings,omitempty"`
	Details        DetailsMap `json:"details,omitempty"`
}

// DetailsMap carries event-specific facts (an export's package digest, a
// recovery's summary).
type DetailsMap map[string]string

// Who sealed the manifest.
type Who struct {
	Host      string `json:"host"`
	Software  string `json:"software"`
	Principal string `json:"principal,omitempty"` // STS GetCallerIdentity ARN
	Operator  string `json:"operator,omitempty"`  // the OS user
	KeyID     string `json:"keyId"`               // hex SHA-256 of the signing key's DER
}

// What was collected or done.
type What struct {
	Collector   string   `json:"collector"`
	Description string   `json:"description,omitempty"`
	Sources     []string `json:"sources,omitempty"`
}

// When it happened (UTC).
type When struct {
	WindowStart time.Time `json:"windowStart,omitzero"`
	WindowEnd   time.Time `json:"windowEnd,omitzero"`
	SealedAt    time.Time `json:"sealedAt"`
}

// Where the evidence came from.
type Where struct {
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
}

// NewStatement builds a manifest statement over artifacts.
func NewStatement(p Predicate, arts []Artifact, mode string) Statement {
	st := Statement{Type: intoto.StatementTypeUri, PredicateType: PredicateType, Predicate: p, Subject: make([]Subject, 0, len(arts))}
	for _, a := range arts {
		st.Subject = append(st.Subject, Subject{
			Name:   a.Key,
			Digest: map[string]string{"sha256": a.SHA256},
			Annotations: SubjectAnnotation{
				VersionID: a.VersionID, Size: a.Size, PartSize: a.PartSize,
				RetainUntil: a.RetainUntil.UTC(), RetentionMode: mode, LegalHold: a.LegalHold,
				Kind: a.Kind, Source: a.Source, SourceVersion: a.SourceVersion, RunID: a.RunID, Metadata: a.Metadata,
			},
		})
	}
	return st
}

// SignEnvelope signs payload as a DSSE envelope of payloadType.
func SignEnvelope(s signature.Signer, payloadType string, payload []byte) ([]byte, error) {
	env, err := sigdsse.WrapSigner(s, payloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", payloadType, err)
	}
	return env, nil
}

// Envelope is a parsed DSSE envelope with its raw bytes and digest.
type Envelope struct {
	Raw     []byte
	SHA256  string // hex, of Raw: what the next manifest links to
	DSSE    dsse.Envelope
	Payload []byte
}

// ErrMalformedEnvelope means bytes are not a DSSE envelope custody wrote.
var ErrMalformedEnvelope = errors.New("malformed DSSE envelope")

// ParseEnvelope reads a DSSE envelope of at most maxEnvelopeSize bytes.
func ParseEnvelope(r io.Reader) (Envelope, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxEnvelopeSize+1))
	if err != nil {
		return Envelope{}, err
	}
	return ParseEnvelopeBytes(raw)
}

// ParseEnvelopeBytes is ParseEnvelope over bytes already read; the
// envelope keeps raw as its Raw, which must not change afterwards.
func ParseEnvelopeBytes(raw []byte) (Envelope, error) {
	if len(raw) > maxEnvelopeSize {
		return Envelope{}, fmt.Errorf("%w: larger than %d bytes", ErrMalformedEnvelope, maxEnvelopeSize)
	}
	var e Envelope
	e.Raw = raw
	sum := sha256.Sum256(raw)
	e.SHA256 = hex.EncodeToString(sum[:])
	if err := json.Unmarshal(raw, &e.DSSE); err != nil {
		return e, fmt.Errorf("%w: %v", ErrMalformedEnvelope, err)
	}
	if len(e.DSSE.Signatures) == 0 {
		return e, fmt.Errorf("%w: no signatures", ErrMalformedEnvelope)
	}
	var err error
	e.Payload, err = base64.StdEncoding.DecodeString(e.DSSE.Payload)
	if err != nil {
		return e, fmt.Errorf("%w: payload is not base64: %v", ErrMalformedEnvelope, err)
	}
	return e, nil
}

// Statement decodes the payload as a manifest statement and checks it is
// a valid in-toto Statement v1 with custody's predicate type.
func (e Envelope) Statement() (Statement, error) {
	if e.DSSE.PayloadType != PayloadType {
		return Statement{}, fmt.Errorf("payload type %q, want %q", e.DSSE.PayloadType, PayloadType)
	}
	var pb intoto.Statement
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(e.Payload, &pb); err != nil {
		return Statement{}, fmt.Errorf("not an in-toto statement: %w", err)
	}
	if err := pb.Validate(); err != nil {
		return Statement{}, fmt.Errorf("invalid in-toto statement: %w", err)
	}
	var st Statement
	if err := json.Unmarshal(e.Payload, &st); err != nil {
		return Statement{}, fmt.Errorf("decode statement: %w", err)
	}
	if st.PredicateType != PredicateType {
		return st, fmt.Errorf("predicate type %q, want %q", st.PredicateType, PredicateType)
	}
	return st, nil
}

// Checkpoint is a stream's signed chain head, kept beside its manifests.
type Checkpoint struct {
	Stream          string    `json:"stream"`
	Sequence        int64     `json:"sequence"`
	EnvelopeSHA256  string    `json:"envelopeSha256"`
	ManifestKey     string    `json:"manifestKey"`
	ManifestVersion string    `json:"manifestVersionId"`
	At              time.Time `json:"at"`
}
