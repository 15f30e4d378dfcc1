package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/ledger"
	recovery "github.com/custody-ir/custody/recover"
)

// evidence finds the version list custody preserved of the bucket at or
// before t, through the configured ledger and evidence store (none
// without a configuration), and says on stderr what guides the plan.
func (s *session) evidence(ctx context.Context, t time.Time) (*recovery.Evidence, error) {
	if s.cfg == nil {
		return nil, nil
	}
	cfg := *s.cfg
	index, err := openIndex(ctx, cfg.Ledger)
	if err != nil {
		return nil, err
	}
	if index != nil {
		defer index.Close()
	}
	store := func(ctx context.Context) (*s3.Client, error) {
		ac, err := cli.StoreAWS(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return ac.S3(), nil
	}
	ev, err := recovery.NewPreflight(s.api, index, store).Evidence(ctx, s.o.bucket, t)
	switch {
	case err != nil:
		return nil, err
	case ev == nil:
		fmt.Fprintf(s.g.stderr, "no version list of s3://%s preserved at or before %s: planning from the live listing alone\n", s.o.bucket, t.Format(time.RFC3339))
	default:
		fmt.Fprintf(s.g.stderr, "guided by %s\n", ev.Name)
	}
	return ev, nil
}

// openIndex opens the ledger at path to look preserved lists up in; nil
// when there is none (opening it would create it), as nothing was
// preserved then.
func openIndex(ctx context.Context, path string) (*ledger.Ledger, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return ledger.Open(ctx, path)
}
