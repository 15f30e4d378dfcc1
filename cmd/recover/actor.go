package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/ledger"
	recovery "github.com/custody-ir/custody/recover"
	"github.com/custody-ir/custody/search"
)

// actorMode reports whether the flags ask to undo one actor.
func (o *recoverOptions) actorMode() bool { return len(o.accessKeys) > 0 || len(o.principals) > 0 }

// actorPlan plans undoing the actor's writes since T (and until --until),
// from the writes to the bucket the sealed CloudTrail data events record.
func (s *session) actorPlan(ctx context.Context, since time.Time) (*recovery.Plan, error) {
	o := s.o
	until := s.g.now()
	if o.until != "" {
		t, err := recovery.ParseTime("--until", o.until, s.g.now())
		if err != nil {
			return nil, cli.UsageError{Err: err}
		}
		until = t
	}
	writes, err := s.writes(ctx, since, until)
	if err != nil {
		return nil, err
	}
	actor := recovery.DescribeActor(o.accessKeys, o.principals)
	n := 0
	for _, w := range writes {
		if w.Actor {
			n++
		}
	}
	fmt.Fprintf(s.g.stderr, "the sealed evidence records %d write(s) to s3://%s from %s to %s, %d of them by %s\n",
		len(writes), o.bucket, since.Format(time.RFC3339), until.Format(time.RFC3339), n, actor)
	plan, err := recovery.PlanActor(ctx, s.api, o.bucket, recovery.ActorOptions{Actor: actor, Writes: writes, Since: since, Until: until, Prefix: o.prefix})
	if err != nil {
		return nil, refuse(err)
	}
	return plan, nil
}

// writes reads every write to the bucket in [since, until] from the
// sealed CloudTrail logs, marking the actor's. Files that cannot be
// believed make the answer incomplete: nothing is planned on it.
func (s *session) writes(ctx context.Context, since, until time.Time) ([]recovery.Write, error) {
	cfg := *s.cfg
	ac, err := cli.StoreAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var catalog search.Catalog
	var manifests *search.ManifestCatalog
	if _, statErr := os.Stat(cfg.Ledger); statErr == nil {
		l, err := ledger.Open(ctx, cfg.Ledger, ledger.WithClock(s.g.now))
		if err != nil {
			return nil, err
		}
		defer l.Close()
		catalog = search.LedgerCatalog{Ledger: l, Bucket: cfg.Store.Bucket}
	} else {
		trust, err := custody.ConfiguredTrust(ctx, cfg, os.Getenv)
		if err != nil {
			return nil, err
		}
		v, err := cli.Verifier(ac, cfg, trust, nil, s.g.now)
		if err != nil {
			return nil, err
		}
		manifests = &search.ManifestCatalog{Verifier: v, Bucket: cfg.Store.Bucket}
		catalog = manifests
	}
	all, err := catalog.Files(ctx, search.KindCloudTrailLog)
	if err != nil {
		return nil, err
	}
	files := search.Window(all, since, until, time.Hour)
	if len(files) == 0 {
		return nil, fmt.Errorf("no sealed CloudTrail log file covers %s to %s: recover --actor needs the trail's S3 data events (collect them with custody collect --collector cloudtrail)",
			since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	actor := search.Filter{AccessKeys: s.o.accessKeys, Principals: s.o.principals}
	var out []recovery.Write
	_, problems, err := search.Searcher{API: ac.S3()}.Run(ctx, files,
		search.Filter{Buckets: []string{s.o.bucket}, Events: recovery.WriteEvents, Since: since, Until: until},
		func(r search.Record) error {
			if r.Error {
				return nil // a denied write created nothing
			}
			out = append(out, recovery.Write{Key: r.Key, VersionID: r.VersionID, Marker: r.DeleteMarker, At: r.Time, Principal: r.Principal,
				AccessKey: r.AccessKey, Action: r.Action, EventID: r.EventID, Evidence: r.Evidence.Object, Manifest: r.Evidence.Manifest, Actor: actor.Match(&r)})
			return nil
		})
	if err != nil {
		return nil, err
	}
	if manifests != nil {
		problems = append(problems, manifests.Problems()...)
	}
	if len(problems) > 0 {
		var lines []string
		for _, p := range problems {
			lines = append(lines, p.Object+": "+p.Message)
		}
		return nil, fmt.Errorf("the evidence is incomplete, so no plan is made on it (run custody verify):\n  %s", strings.Join(lines, "\n  "))
	}
	return out, nil
}
