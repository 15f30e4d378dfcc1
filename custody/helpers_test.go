package custody

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

// testEnv is an evidence store on MinIO with a ledger, a signer and a
// verifier that trusts it.
type testEnv struct {
	t      testing.TB
	s3     *s3.Client
	cfg    config.Store
	ledger *ledger.Ledger
	signer Signer
	store  *Store
	chain  *Chain
	trust  []TrustedKey
	clock  *testClock
}

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// newTestEnv makes a fresh evidence bucket. GOVERNANCE lets tamper tests
// alter evidence with bypass; production uses COMPLIANCE.
func newTestEnv(t testing.TB, mode string) *testEnv {
	t.Helper()
	ctx := context.Background()
	c := testaws.Require(t).S3(t)
	st := config.Store{Bucket: testaws.BucketName(t), Region: "us-east-1", Prefix: "custody", Retention: config.Retention{Mode: mode, Days: 1}}
	if _, err := InitBucket(ctx, c, st); err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now().UTC()}
	l, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), ledger.WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	signer := newKey(t)
	e := &testEnv{t: t, s3: c, cfg: st, ledger: l, signer: signer, clock: clock}
	e.store, err = OpenStore(ctx, c, st, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	e.chain = e.newChain(l, "agent-1")
	pub, _ := signer.PublicKey()
	tk, err := NewTrustedKey("test-key", pub, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	e.trust = []TrustedKey{tk}
	return e
}

func newKey(t testing.TB) Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

func (e *testEnv) newChain(l *ledger.Ledger, stream string) *Chain {
	e.t.Helper()
	ch, err := NewChain(e.store, e.s3, l, e.signer, stream, Who{Host: "test-host", Software: "custody-test"}, e.clock.now)
	if err != nil {
		e.t.Fatal(err)
	}
	return ch
}

// collect runs one collection of n small artifacts and seals it.
func (e *testEnv) collect(ch *Chain, n int) (ledger.Manifest, []Artifact) {
	e.t.Helper()
	ctx := context.Background()
	run, err := ch.StartRun(ctx, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		key := ArtifactKey(e.cfg.Prefix, "123456789012", "us-east-1", "test", e.clock.now(), run.ID, fmt.Sprintf("item-%d.json", i))
		body := fmt.Sprintf(`{"run":%q,"item":%d}`, run.ID, i)
		if _, err := run.Put(ctx, key, strings.NewReader(body), PutOptions{Kind: "test", Account: "123456789012", Region: "us-east-1", Source: "test://item"}); err != nil {
			e.t.Fatal(err)
		}
	}
	m, err := run.Seal(ctx, SealRequest{Event: EventCollect, Account: "123456789012", Region: "us-east-1"}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.clock.t = e.clock.t.Add(time.Second)
	return m, run.Artifacts()
}

func (e *testEnv) verify(o VerifyOptions) *Report {
	e.t.Helper()
	r, err := NewVerifier(e.s3, e.cfg, e.trust, e.ledger, e.clock.now).Verify(context.Background(), o)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func bypass(o *s3.DeleteObjectInput) *s3.DeleteObjectInput {
	t := true
	o.BypassGovernanceRetention = &t
	return o
}

var _ = types.ObjectLockModeGovernance

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
