package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
)

// Evidence is everything a command that writes to the evidence store
// needs: the store, the ledger, and the chain of this agent's stream,
// locked for this process.
type Evidence struct {
	Cfg    config.Config
	AWS    awsclient.Config
	Ledger *ledger.Ledger
	Store  *custody.Store
	Chain  *custody.Chain
	unlock func()
}

// OpenEvidence opens the store for writing: it checks the bucket, takes
// the stream lock, and reseals what a crashed run left unsealed. Notes go
// to stderr.
func OpenEvidence(ctx context.Context, cfg config.Config, now func() time.Time, stderr io.Writer) (*Evidence, error) {
	ac, err := StoreAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	signer, err := custody.LoadSigner(ctx, cfg.Signer, os.Getenv)
	if err != nil {
		return nil, err
	}
	unlock, err := custody.LockStreamAt(cfg.Ledger, cfg.Agent.Stream, now, func(h custody.LockHolder) {
		fmt.Fprintf(stderr, "waiting for the lock of stream %s, held by %s\n", cfg.Agent.Stream, h)
	})
	if err != nil {
		return nil, err
	}
	l, err := ledger.Open(ctx, cfg.Ledger, ledger.WithClock(now))
	if err != nil {
		unlock()
		return nil, err
	}
	ev := &Evidence{Cfg: cfg, AWS: ac, Ledger: l, unlock: unlock}
	s3c := ac.S3()
	if ev.Store, err = custody.OpenStore(ctx, s3c, cfg.Store, now); err != nil {
		ev.Close()
		return nil, err
	}
	if ev.Chain, err = custody.NewChain(ev.Store, s3c, l, signer, cfg.Agent.Stream, whoAmI(ctx, ac), now); err != nil {
		ev.Close()
		return nil, err
	}
	tsa, err := custody.LoadTSA(cfg.Timestamp)
	if err != nil {
		ev.Close()
		return nil, err
	}
	ev.Chain.SetTSA(tsa)
	ws, err := cosigningWitnesses(ac, cfg, signer, now, os.Getenv, stderr)
	if err != nil {
		ev.Close()
		return nil, err
	}
	ev.Chain.SetWitnesses(ws...)
	ev.Chain.Warn = func(err error) { fmt.Fprintln(stderr, "warning:", err) }
	n, err := ev.Chain.Reseal(ctx)
	if err != nil {
		ev.Close()
		return nil, fmt.Errorf("reseal artifacts of an interrupted run: %w", err)
	}
	if n > 0 {
		fmt.Fprintf(stderr, "sealed %d artifact(s) left unsealed by an interrupted run\n", n)
	}
	return ev, nil
}

// StoreAWS is the AWS configuration for the evidence store: its region
// and endpoint from the config, the rest from the SDK's chain.
func StoreAWS(ctx context.Context, cfg config.Config) (awsclient.Config, error) {
	return awsclient.Load(ctx, awsclient.Options{Region: cfg.Store.Region, S3Endpoint: cfg.Store.Endpoint})
}

// Close releases the ledger and the stream lock.
func (ev *Evidence) Close() {
	if ev.Ledger != nil {
		ev.Ledger.Close()
	}
	ev.unlock()
}

// Verifier returns a verifier of the store with the configured TSA chain
// and clock tolerance.
func Verifier(ac awsclient.Config, cfg config.Config, trust []custody.TrustedKey, l *ledger.Ledger, now func() time.Time) (*custody.Verifier, error) {
	v := custody.NewVerifier(ac.S3(), cfg.Store, trust, l, now)
	ws, err := Witnesses(ac, cfg)
	if err != nil {
		return nil, err
	}
	v.Witnesses = ws
	v.ClockTolerance = cfg.Verify.ClockTolerance
	if cfg.Timestamp.CertChain != "" {
		pemBytes, err := os.ReadFile(cfg.Timestamp.CertChain)
		if err != nil {
			return nil, fmt.Errorf("timestamp.cert_chain: %w", err)
		}
		chain, err := custody.ParseTSAChain(pemBytes)
		if err != nil {
			return nil, fmt.Errorf("timestamp.cert_chain %s: %w", cfg.Timestamp.CertChain, err)
		}
		v.TSA = &chain
	}
	return v, nil
}

// whoAmI describes the sealing agent: host, software, OS user and AWS
// principal. A principal that cannot be read is left empty, not guessed.
func whoAmI(ctx context.Context, ac awsclient.Config) custody.Who {
	w := custody.Who{Software: "custody " + Version()}
	w.Host, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		w.Operator = u.Username
	}
	if id, err := ac.STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
		w.Principal = aws.ToString(id.Arn)
	}
	return w
}
