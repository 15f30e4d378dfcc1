package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/search"
)

// athenaResult is athena ddl's and athena query's --json output.
type athenaResult struct {
	SQL string `json:"sql"`
	// LocationTemplate is the CloudTrail table's storage.location.template,
	// AccessLogLocationTemplate the access-log table's.
	LocationTemplate          string `json:"locationTemplate,omitempty"`
	AccessLogLocationTemplate string `json:"accessLogLocationTemplate,omitempty"`
}

// athenaOptions are athena's flags.
type athenaOptions struct {
	table, firstDay string
	search          searchOptions
}

func newAthenaCommand(g *globals) *cobra.Command {
	var o athenaOptions
	cmd := &cobra.Command{
		Use:   "athena",
		Short: "Query the evidence store with Amazon Athena, at organization scale",
		Long: `custody search reads one store from one machine; an organization's years of
sealed logs are better queried where they lie, with Athena. "athena ddl" prints
the CREATE TABLE statement whose LOCATION and partition projection follow the
store's key layout; "athena query" prints the SQL of a custody search.`,
	}
	ddl := &cobra.Command{
		Use: "ddl",
		Example: `  custody athena ddl > custody_cloudtrail.sql
  custody athena ddl --table ir_cloudtrail --first-day 2025-01-01`,
		Short: "Print the CREATE TABLE statements of the store's CloudTrail logs and S3 server access logs",
		Args:  cli.NoArgs(),
		RunE:  func(cmd *cobra.Command, _ []string) error { return runAthenaDDL(cmd.Context(), o, g.deps(cmd, nil)) },
	}
	ddl.Flags().StringVar(&o.table, "table", "custody_cloudtrail", "table name")
	ddl.Flags().StringVar(&o.firstDay, "first-day", "", "first collection day to project, YYYY-MM-DD (default: 90 days before the oldest the ledger knows, else 2020-01-01)")
	query := &cobra.Command{
		Use: "query [search filters] --since T",
		Example: `  custody athena query --access-key AKIAIOSFODNN7EXAMPLE --since 365d
  custody athena query --principal arn:aws:iam::111122223333:role/app --event DeleteObject --since 2026-11-20T00:00:00Z`,
		Short: "Print the Athena SQL equivalent of a custody search",
		Args:  cli.NoArgs(),
		RunE:  func(cmd *cobra.Command, _ []string) error { return runAthenaQuery(cmd.Context(), o, g.deps(cmd, nil)) },
	}
	query.Flags().StringVar(&o.table, "table", "custody_cloudtrail", "table name")
	fs := query.Flags()
	s := &o.search
	fs.StringArrayVar(&s.accessKeys, "access-key", nil, "access key id")
	fs.StringArrayVar(&s.principals, "principal", nil, "principal: an ARN, a role's ARN or name, a role session name, a user name")
	fs.StringArrayVar(&s.sourceIPs, "source-ip", nil, "source address or CIDR prefix")
	fs.StringArrayVar(&s.buckets, "bucket", nil, "bucket the request named")
	fs.StringVar(&s.key, "key", "", "object key: a prefix, or a glob with * ?")
	fs.StringArrayVar(&s.events, "event", nil, "event name")
	fs.BoolVar(&s.errors, "errors", false, "only requests that failed")
	fs.StringVar(&s.since, "since", "", "RFC 3339 time or a duration back (7d); required")
	fs.StringVar(&s.until, "until", "", "RFC 3339 time or a duration back (default now)")
	cmd.AddCommand(ddl, query)
	return cmd
}

// athenaFor describes the configured store to Athena: its accounts and
// regions (configured, and those the ledger holds CloudTrail logs of).
func athenaFor(ctx context.Context, d deps, cfg config.Config, table string) (search.Athena, time.Time, error) {
	a := search.Athena{Bucket: cfg.Store.Bucket, Prefix: cfg.Store.Prefix, Table: table}
	accounts, regions := map[string]bool{}, map[string]bool{}
	for _, acct := range cfg.Sources.Accounts {
		accounts[acct.ID] = true
		for _, r := range acct.Regions {
			regions[r] = true
		}
	}
	var oldest time.Time
	if _, err := os.Stat(cfg.Ledger); err == nil {
		l, err := ledger.Open(ctx, cfg.Ledger, ledger.WithClock(d.now))
		if err != nil {
			return a, oldest, err
		}
		defer l.Close()
		files, err := search.LedgerCatalog{Ledger: l, Bucket: cfg.Store.Bucket}.Files(ctx, search.KindCloudTrailLog)
		if err != nil {
			return a, oldest, err
		}
		for _, f := range search.Window(files, time.Time{}, time.Time{}, 0) {
			accounts[f.Account], regions[f.Region] = true, true
			if oldest.IsZero() || f.Time.Before(oldest) {
				oldest = f.Time
			}
		}
	}
	for k := range accounts {
		if k != "" {
			a.Accounts = append(a.Accounts, k)
		}
	}
	for r := range regions {
		if r != "" {
			a.Regions = append(a.Regions, r)
		}
	}
	sort.Strings(a.Accounts)
	sort.Strings(a.Regions)
	if len(a.Accounts) == 0 || len(a.Regions) == 0 {
		return a, oldest, fmt.Errorf("no account or region to project: configure sources.accounts (with regions), or collect first")
	}
	return a, oldest, nil
}

func runAthenaDDL(ctx context.Context, o athenaOptions, d deps) error {
	cfg, err := d.config()
	if err != nil {
		return err
	}
	a, oldest, err := athenaFor(ctx, d, cfg, o.table)
	if err != nil {
		return err
	}
	switch {
	case o.firstDay != "":
		if a.FirstDay, err = time.Parse("2006-01-02", o.firstDay); err != nil {
			return cli.Usagef("--first-day: YYYY-MM-DD expected, got %q", o.firstDay)
		}
	case !oldest.IsZero():
		a.FirstDay = oldest.AddDate(0, 0, -90) // a backfill's first day is at most 90 days before its logs
	}
	sql := a.CloudTrailDDL() + "\n" + a.AccessLogDDL()
	return d.printer().Result(athenaResult{SQL: sql, LocationTemplate: a.CloudTrailLocationTemplate(), AccessLogLocationTemplate: a.AccessLogLocationTemplate()},
		func(w io.Writer) { fmt.Fprint(w, sql) })
}

func runAthenaQuery(ctx context.Context, o athenaOptions, d deps) error {
	s := o.search
	if s.since == "" {
		return cli.Usagef("--since is required: it bounds the partitions read")
	}
	now := d.now()
	since, until, err := parseWindow(s.since, s.until, now)
	if err != nil {
		return err
	}
	cfg, err := d.config()
	if err != nil {
		return err
	}
	a := search.Athena{Bucket: cfg.Store.Bucket, Prefix: cfg.Store.Prefix, Table: o.table}
	sql := a.CloudTrailQuery(search.Filter{AccessKeys: s.accessKeys, Principals: s.principals, SourceIPs: s.sourceIPs, Buckets: s.buckets, Key: s.key,
		Events: s.events, Errors: s.errors, Since: since, Until: until})
	return d.printer().Result(athenaResult{SQL: sql}, func(w io.Writer) { fmt.Fprint(w, sql) })
}
