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
// sealed CloudTrail logs and S3 server access logs (through the ledger,
// or without one the verified manifests), marking those of actor (recover
// --access-key/--principal, freeze --hold-access-key). A write both
// record is taken from CloudTrail, which names the version it created;
// one only an access log records is kept without a version, so that the
// plan reports it rather than guessing. Files that cannot be believed
// make the answer incomplete: an error, so that nothing is planned on it.
// It only reads: the ledger is opened read-only (a dry run's ledger is
// left as it is, at its schema).
func SealedWrites(ctx context.Context, cfg config.Config, now func() time.Time, bucket string, actor search.Filter, since, until time.Time) ([]recovery.Write, error) {
	ac, err := StoreAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var catalog search.Catalog
	var manifests *search.ManifestCatalog
	if _, statErr := os.Stat(cfg.Ledger); statErr == nil {
		l, err := ledger.OpenReadOnly(ctx, cfg.Ledger, ledger.WithClock(now))
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
	logs, err := catalog.Files(ctx, search.KindAccessLog)
	if err != nil {
		return nil, err
	}
	files := search.Window(all, since, until, time.Hour)
	logFiles := search.AccessLogWindow(logs, since, until, time.Hour)
	if len(files)+len(logFiles) == 0 {
		return nil, fmt.Errorf("no sealed CloudTrail log file covers %s to %s: undoing one actor needs the trail's S3 data events (collect them with custody collect --collector cloudtrail)",
			since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	var out, logged []recovery.Write
	_, problems, err := search.Searcher{API: ac.S3()}.Run(ctx, append(files, logFiles...),
		search.Filter{Buckets: []string{bucket}, Events: recovery.WriteEvents, Since: since, Until: until},
		func(r search.Record) error {
			if r.Error {
				return nil // a denied write created nothing
			}
			w := recovery.Write{Key: r.Key, VersionID: r.VersionID, Marker: r.DeleteMarker, At: r.Time, Principal: r.Principal,
				AccessKey: r.AccessKey, Action: r.Action, EventID: r.EventID, Evidence: r.Evidence.Object, Manifest: r.Evidence.Manifest,
				Source: recovery.SourceCloudTrail, Actor: actor.Match(&r)}
			if r.Source == search.SourceAccessLog {
				if r.Key == "" {
					return nil // a multi-object delete: its objects have records of their own (BATCH.DELETE.OBJECT)
				}
				// The log's version id is the request's, never the one
				// the write created; its request id stands for the event.
				w.VersionID, w.Marker, w.EventID, w.Source = "", false, r.RequestID, recovery.SourceAccessLog
				logged = append(logged, w)
				return nil
			}
			out = append(out, w)
			return nil
		})
	if err != nil {
		return nil, err
	}
	out = append(out, uncorroborated(logged, out)...)
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

// uncorroborated are the access-log writes no CloudTrail write matches
// (the same key and call within two seconds): the ones only the access
// log records.
func uncorroborated(logged, trail []recovery.Write) []recovery.Write {
	byKey := map[string][]recovery.Write{}
	for _, c := range trail {
		byKey[c.Key] = append(byKey[c.Key], c)
	}
	var out []recovery.Write
	for _, l := range logged {
		seen := false
		for _, c := range byKey[l.Key] {
			d := l.At.Sub(c.At)
			if c.Action == l.Action && d < 2*time.Second && d > -2*time.Second {
				seen = true
				break
			}
		}
		if !seen {
			out = append(out, l)
		}
	}
	return out
}
