package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	recovery "github.com/custody-ir/custody/recover"
	"github.com/custody-ir/custody/search"
)

// SealedWrites reads every write to bucket in [since, until] from the
// sealed CloudTrail logs (through the ledger, or without one the verified
// manifests), marking those of actor (recover --access-key/--principal,
// freeze --hold-access-key). Files that cannot be believed make the
// answer incomplete: an error, so that nothing is planned on it.
func SealedWrites(ctx context.Context, cfg config.Config, now func() time.Time, bucket string, actor search.Filter, since, until time.Time) ([]recovery.Write, error) {
	ac, err := StoreAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var catalog search.Catalog
	var manifests *search.ManifestCatalog
	if _, statErr := os.Stat(cfg.Ledger); statErr == nil {
		l, err := ledger.Open(ctx, cfg.Ledger, ledger.WithClock(now))
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
		v, err := Verifier(ac, cfg, trust, nil, now)
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
		return nil, fmt.Errorf("no sealed CloudTrail log file covers %s to %s: undoing one actor needs the trail's S3 data events (collect them with custody collect --collector cloudtrail)",
			since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	var out []recovery.Write
	_, problems, err := search.Searcher{API: ac.S3()}.Run(ctx, files,
		search.Filter{Buckets: []string{bucket}, Events: recovery.WriteEvents, Since: since, Until: until},
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
