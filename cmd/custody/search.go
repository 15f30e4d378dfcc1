package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	recovery "github.com/custody-ir/custody/recover"
	"github.com/custody-ir/custody/search"
)

// searchOptions are search's flags.
type searchOptions struct {
	accessKeys, principals, sourceIPs, buckets, events []string
	key, since, until, lag                             string
	errors, ndjson, csv, noLedger, seal                bool
	caseID                                             string
	// bundle searches an exported package offline, pinned by these.
	bundle                    string
	keys, keyIDs, witnessKeys []string
	// [search index]
	reindex bool
	// [end search index]
}

// searchResult is search's --json output.
type searchResult struct {
	Since    time.Time        `json:"since"`
	Until    time.Time        `json:"until"`
	Records  []search.Record  `json:"records"`
	Stats    search.Stats     `json:"stats"`
	Problems []search.Problem `json:"problems"`
	// Catalog says where the list of sealed files came from: the ledger,
	// or the store's manifests, verified.
	Catalog string `json:"catalog"`
	// Sealed is the manifest that seals the results, with --seal.
	Sealed *searchSealed `json:"sealed,omitempty"`
	// [contain] Contained: the key's first sealed containment, with --access-key KEY.
	Contained *searchContainment `json:"contained,omitempty"`
	// [end contain]
}

// searchSealed names what --seal stored.
type searchSealed struct {
	Case     string `json:"case"`
	Stream   string `json:"stream"`
	Manifest int64  `json:"manifest"`
	Results  string `json:"results"`   // s3://... of the results (NDJSON)
	Derived  string `json:"statement"` // s3://... of the in-toto statement
}

func newSearchCommand(g *globals) *cobra.Command {
	var o searchOptions
	cmd := &cobra.Command{
		Use: "search [filters] --since T",
		Example: `  custody search --access-key AKIAIOSFODNN7EXAMPLE --since 30d
  custody search --principal arn:aws:iam::123456789012:role/app --bucket customer-data --event DeleteObject --since 2026-11-20T00:00:00Z --until 2026-11-21T00:00:00Z
  custody search --source-ip 203.0.113.0/24 --errors --since 7d --ndjson`,
		Short: "Find who did what, from the sealed CloudTrail logs",
		Long: `Search the CloudTrail log files the evidence store holds for the records that
match every filter given (a repeated flag's values are alternatives).

Only the files whose delivery time can hold records of [--since, --until]
are read (CloudTrail names each file by its delivery time, after every
record in it; --delivery-lag is how long after --until a file may still
hold records of the window). The list of files comes from the ledger, or,
with --no-ledger or on a machine without it, from the store's manifests,
verified against the configured trust. Each file is hashed as it is read
and its records are believed only if it hashes to what its manifest
sealed: a file that does not, or cannot be read or parsed, is reported and
its records are left out (exit 1: the answer is incomplete).

Each record names the sealed object it came from and its manifest. The
default output is a table in time order; --json one document, --ndjson one
record per line and --csv a header and one row per record, in file order
(each file's records in time order), streamed.`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return runSearch(cmd.Context(), o, g.deps(cmd, nil)) },
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.accessKeys, "access-key", nil, "access key id (AKIA..., ASIA...)")
	fs.StringArrayVar(&o.principals, "principal", nil, "principal: an ARN, a role's ARN or name, a role session name, a user name")
	fs.StringArrayVar(&o.sourceIPs, "source-ip", nil, "source address or CIDR prefix")
	fs.StringArrayVar(&o.buckets, "bucket", nil, "bucket the request named")
	fs.StringVar(&o.key, "key", "", "object key: a prefix, or a glob with * ? [ ]")
	fs.StringArrayVar(&o.events, "event", nil, "event name (PutBucketPolicy, DeleteObject, ...)")
	fs.BoolVar(&o.errors, "errors", false, "only requests that failed")
	fs.StringVar(&o.since, "since", "", "RFC 3339 time or a duration back (7d); required")
	fs.StringVar(&o.until, "until", "", "RFC 3339 time or a duration back (default now)")
	fs.StringVar(&o.lag, "delivery-lag", "1h", "how long after --until a log file may still hold records of the window")
	fs.BoolVar(&o.ndjson, "ndjson", false, "one JSON record per line, streamed")
	fs.BoolVar(&o.csv, "csv", false, "CSV with a header row, streamed")
	fs.BoolVar(&o.noLedger, "no-ledger", false, "list the sealed files from the store's manifests, not the local ledger")
	fs.BoolVar(&o.seal, "seal", false, "seal the query, its results and the files it read into --case, as an in-toto statement")
	fs.StringVar(&o.caseID, "case", "", "case to seal the results into (with --seal)")
	fs.StringVar(&o.bundle, "bundle", "", "search an exported package offline, once it verifies (pin its signer with --key-id or --key)")
	fs.StringArrayVar(&o.keyIDs, "key-id", nil, "with --bundle: the signer's key id, as the sender gave it to you by a separate channel (repeatable)")
	fs.StringArrayVar(&o.keys, "signer-key", nil, "with --bundle: the signer's public key you hold, a PEM file or awskms://... (verify --bundle's --key; repeatable)")
	fs.StringArrayVar(&o.witnessKeys, "witness-key", nil, "with --bundle: a witness's Ed25519 public key you hold, as NAME=FILE (repeatable)")
	// [search index]
	fs.BoolVar(&o.reindex, "reindex", false, "forget the index's terms of the window's files and read every one of them again, recording their terms anew")
	// [end search index]
	return cmd
}

func runSearch(ctx context.Context, o searchOptions, d deps) error {
	if o.since == "" {
		return cli.Usagef("--since is required: a search reads only the log files of its window")
	}
	if o.ndjson && o.csv || (o.ndjson || o.csv) && d.json {
		return cli.Usagef("--json, --ndjson and --csv are alternatives: give one")
	}
	if o.seal != (o.caseID != "") {
		return cli.Usagef("--seal and --case go together: --seal --case IR-2026-001 seals the results into that case")
	}
	now := d.now()
	since, until, err := parseWindow(o.since, o.until, now)
	if err != nil {
		return err
	}
	if until.Before(since) {
		return cli.Usagef("--until (%s) is before --since (%s)", until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	lag, err := time.ParseDuration(o.lag)
	if err != nil || lag < 0 {
		return cli.Usagef("--delivery-lag: a non-negative duration expected (for example 1h), got %q", o.lag)
	}
	f := search.Filter{AccessKeys: o.accessKeys, Principals: o.principals, SourceIPs: o.sourceIPs, Buckets: o.buckets, Key: o.key,
		Events: o.events, Errors: o.errors, Since: since, Until: until}
	if o.bundle != "" {
		if o.seal || o.noLedger || o.reindex {
			return cli.Usagef("--bundle searches a package offline: --seal, --no-ledger and --reindex do not apply")
		}
		return searchBundle(ctx, o, d, f, lag)
	}
	if len(o.keys)+len(o.keyIDs)+len(o.witnessKeys) > 0 {
		return cli.Usagef("--signer-key, --key-id and --witness-key pin the signer of a package: use them with --bundle")
	}
	cfg, err := d.config()
	if err != nil {
		return err
	}
	src, err := openSearchSource(ctx, d, cfg, o.noLedger, false)
	if err != nil {
		return err
	}
	defer src.close()
	catalogName, manifests := src.name, src.manifests
	files, total, err := search.Select(ctx, src.catalog, since, until, lag)
	if err != nil {
		return err
	}
	// [search index]
	if o.reindex {
		if err := src.reindex(ctx, files); err != nil {
			return err
		}
	}
	// [end search index]

	res := searchResult{Since: since.UTC(), Until: until.UTC(), Records: []search.Record{}, Problems: []search.Problem{}, Catalog: catalogName}
	emit, flush := searchOutput(d, o, &res)
	var sealed []search.Record
	if o.seal {
		out := emit
		emit = func(r search.Record) error { sealed = append(sealed, r); return out(r) }
	}
	// [contain]
	res.Contained = lookupContainment(ctx, src, o.accessKeys, d.stderr)
	emit = res.Contained.count(emit)
	// [end contain]
	sr, err := src.searcher(ctx, f)
	if err != nil {
		return err
	}
	st, problems, err := sr.Run(ctx, files, f, emit)
	if err != nil {
		return err
	}
	res.Stats = st
	if manifests != nil {
		problems = append(problems, manifests.Problems()...)
	}
	res.Problems = append(res.Problems, problems...)
	if o.seal {
		if res.Sealed, err = sealSearch(ctx, d, cfg, o.caseID, search.QueryOf(f, lag), catalogName, st, files, res.Problems, sealed); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if res.Sealed != nil && !d.json {
		fmt.Fprintf(d.stderr, "sealed into case %s: %s and its statement %s (manifest %d of stream %s)\n",
			res.Sealed.Case, res.Sealed.Results, res.Sealed.Derived, res.Sealed.Manifest, res.Sealed.Stream)
	}
	for _, p := range res.Problems {
		fmt.Fprintf(d.stderr, "custody search: %s: %s\n", p.Object, p.Message)
	}
	if res.Contained != nil && !d.json { // [contain]
		fmt.Fprintf(d.stderr, "access key %s: %s\n", o.accessKeys[0], res.Contained.note())
	} // [end contain]
	if !d.json && !o.ndjson && !o.csv {
		fmt.Fprintf(d.stderr, "%d record(s) matched; of %d sealed log file(s) (CloudTrail, S3 access logs), %d in the window: %d read (%d held none of the filter's values), %d left unread (the index shows none of them); %d records, %d bytes; files listed from the %s\n",
			st.Matched, total, st.Files, st.Read, st.Skipped, st.Unread, st.Records, st.Bytes, catalogName)
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%w: %d file(s) could not be believed or read, so the answer is incomplete", cli.ErrFindings, len(res.Problems))
	}
	return nil
}

// parseWindow reads --since and --until (now when empty), each an RFC
// 3339 time or a duration back; a bad one is a usage error.
func parseWindow(since, until string, now time.Time) (time.Time, time.Time, error) {
	s, err := recovery.ParseTime("--since", since, now)
	if err != nil {
		return s, now, cli.UsageError{Err: err}
	}
	u := now
	if until != "" {
		if u, err = recovery.ParseTime("--until", until, now); err != nil {
			return s, u, cli.UsageError{Err: err}
		}
	}
	return s, u, nil
}

// searchBundle searches an exported package: verified first (as verify
// --bundle, against the pinned signer), then read from its unpacked files.
// A package that does not verify is not searched.
func searchBundle(ctx context.Context, o searchOptions, d deps, f search.Filter, lag time.Duration) error {
	anchor, err := verifyOptions{keys: o.keys, keyIDs: o.keyIDs, witnessKeys: o.witnessKeys}.anchor(ctx, d)
	if err != nil {
		return err
	}
	res := searchResult{Since: f.Since.UTC(), Until: f.Until.UTC(), Records: []search.Record{}, Problems: []search.Problem{}, Catalog: "package"}
	emit, flush := searchOutput(d, o, &res)
	var available int
	r, err := custody.ReadBundle(ctx, o.bundle, custody.VerifyOptions{}, anchor, d.now, func(r *custody.Report, open custody.BundleFile) error {
		files, total := search.SelectReport(r, f.Since, f.Until, lag)
		available = total
		st, problems, err := search.Searcher{Open: func(_ context.Context, fl search.File) (io.ReadCloser, error) { return open(fl.Key, fl.VersionID) }}.
			Run(ctx, files, f, emit)
		res.Stats, res.Problems = st, append(res.Problems, problems...)
		return err
	})
	if err != nil {
		return err
	}
	if !r.OK {
		for _, fd := range r.Findings {
			if fd.Severity == custody.SeverityFailure {
				fmt.Fprintf(d.stderr, "FAIL %s %s: %s\n", fd.Kind, fd.Object, fd.Message)
			}
		}
		fmt.Fprintf(d.stderr, "the package %s does not verify (see custody verify --bundle), so it was not searched\n", o.bundle)
		return cli.ErrFindings
	}
	if err := flush(); err != nil {
		return err
	}
	for _, p := range res.Problems {
		fmt.Fprintf(d.stderr, "custody search: %s: %s\n", p.Object, p.Message)
	}
	if !d.json && !o.ndjson && !o.csv {
		fmt.Fprintf(d.stderr, "%d record(s) matched; %d of %d sealed log file(s) of the package read; the package verified\n", res.Stats.Matched, res.Stats.Read, available)
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%w: %d file(s) could not be believed or read, so the answer is incomplete", cli.ErrFindings, len(res.Problems))
	}
	return nil
}

// searchSource is where a search reads: the store, and the catalog of its
// sealed files (the ledger, or the verified manifests).
type searchSource struct {
	api       *s3.Client
	catalog   search.Catalog
	name      string // ledger or manifests
	manifests *search.ManifestCatalog
	ledger    *ledger.Ledger // nil without one
	// index is the ledger's record of which values occur in which sealed
	// file (nil without the ledger).
	index *search.LedgerIndex
	// readOnly: the ledger is open read-only, and the search records no
	// terms in its index.
	readOnly bool
}

// searcher reads from the source for filter f, through its index when it
// has one.
func (s *searchSource) searcher(ctx context.Context, f search.Filter) (search.Searcher, error) {
	if s.index == nil {
		return search.Searcher{API: s.api}, nil
	}
	var ix search.TermIndex = s.index
	if s.readOnly {
		ix = readOnlyIndex{s.index}
	}
	return search.Searcher{API: s.api, Index: ix}, s.index.Load(ctx, f)
}

func (s *searchSource) close() {
	if s.ledger != nil {
		s.ledger.Close()
	}
}

// openSearchSource opens the store and the ledger's catalog, or (with
// noLedger, or without a ledger file) the manifests'. With readOnly (a
// dry run, or a run not confirmed yet) the ledger is opened read-only,
// as it is (an older custody's is not migrated), and the search reads
// the terms its index holds and records none.
func openSearchSource(ctx context.Context, d deps, cfg config.Config, noLedger, readOnly bool) (*searchSource, error) {
	ac, err := cli.StoreAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	src := &searchSource{api: ac.S3(), name: "ledger", readOnly: readOnly}
	if _, statErr := os.Stat(cfg.Ledger); statErr == nil && !noLedger {
		open := ledger.Open
		if readOnly {
			open = ledger.OpenReadOnly
		}
		if src.ledger, err = open(ctx, cfg.Ledger, ledger.WithClock(d.now)); err != nil {
			return nil, err
		}
		src.catalog = search.LedgerCatalog{Ledger: src.ledger, Bucket: cfg.Store.Bucket}
		src.index = &search.LedgerIndex{Ledger: src.ledger, Bucket: cfg.Store.Bucket}
		return src, nil
	}
	trust, err := custody.ConfiguredTrust(ctx, cfg, d.getenv)
	if err != nil {
		return nil, err
	}
	v, err := cli.Verifier(ac, cfg, trust, nil, d.now)
	if err != nil {
		return nil, err
	}
	src.manifests = &search.ManifestCatalog{Verifier: v, Bucket: cfg.Store.Bucket}
	src.catalog, src.name = src.manifests, "manifests"
	return src, nil
}

// sealSearch stores the results (NDJSON, in time order) and an in-toto
// statement naming the query and every sealed file read as one event of
// the case, under legal hold.
func sealSearch(ctx context.Context, d deps, cfg config.Config, caseID string, q search.Query, catalog string, st search.Stats,
	files []search.File, problems []search.Problem, recs []search.Record) (*searchSealed, error) {
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Time.Before(recs[j].Time) })
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(body.Bytes())
	stmt := search.Statement{Type: "https://in-toto.io/Statement/v1", PredicateType: search.PredicateType,
		Subject:   []search.Subject{{Name: "search-results.ndjson", Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}},
		Predicate: search.Derived{Query: q, Catalog: catalog, Stats: st, Materials: search.Materials(files, problems), Problems: problems, Tool: "custody " + cli.Version()}}
	ev, err := cli.OpenEvidence(ctx, cfg, d.now, d.stderr)
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	rec, err := ev.Chain.Record(ctx, custody.Event{Type: custody.EventSearch, Case: caseID,
		Description: fmt.Sprintf("custody search: %d record(s) from %d sealed file(s)", len(recs), len(stmt.Predicate.Materials)),
		WindowStart: q.Since, WindowEnd: q.Until,
		Records: []custody.Record{
			{Name: "search-results.ndjson", Kind: "search-results", Body: bytes.NewReader(body.Bytes()), ContentType: "application/x-ndjson", InCase: true},
			{Name: "search.intoto.json", Kind: "search-statement", JSON: stmt, InCase: true},
		}})
	if err != nil {
		return nil, err
	}
	out := &searchSealed{Case: caseID, Stream: rec.Stream, Manifest: rec.Seq}
	for _, a := range rec.Artifacts {
		obj := "s3://" + a.Bucket + "/" + a.Key + "?versionId=" + a.VersionID
		if strings.HasSuffix(a.Key, ".ndjson") {
			out.Results = obj
		} else {
			out.Derived = obj
		}
	}
	return out, nil
}

// searchOutput returns the record sink of the chosen format and the
// function that finishes the output.
func searchOutput(d deps, o searchOptions, res *searchResult) (func(search.Record) error, func() error) {
	switch {
	case o.ndjson:
		enc := json.NewEncoder(d.stdout)
		return func(r search.Record) error { return enc.Encode(r) }, func() error { return nil }
	case o.csv:
		w := csv.NewWriter(d.stdout)
		_ = w.Write(csvHeader)
		return func(r search.Record) error { return w.Write(csvRow(r)) }, func() error { w.Flush(); return w.Error() }
	}
	return func(r search.Record) error { res.Records = append(res.Records, r); return nil }, func() error {
		sort.SliceStable(res.Records, func(i, j int) bool { return res.Records[i].Time.Before(res.Records[j].Time) })
		return d.printer().Result(res, func(w io.Writer) { printSearchTable(w, res.Records) })
	}
}

var csvHeader = []string{"time", "source", "account", "region", "principal", "accessKey", "action", "bucket", "key", "versionId", "deleteMarker", "status",
	"sourceIp", "userAgent", "requestId", "eventId", "evidenceObject", "evidenceSha256", "manifest"}

func csvRow(r search.Record) []string {
	return []string{r.Time.Format(time.RFC3339), r.Source, r.Account, r.Region, r.Principal, r.AccessKey, r.Action, r.Bucket, r.Key, r.VersionID,
		fmt.Sprint(r.DeleteMarker), r.Status, r.SourceIP, r.UserAgent, r.RequestID, r.EventID, r.Evidence.Object, r.Evidence.SHA256, r.Evidence.Manifest}
}

func printSearchTable(w io.Writer, recs []search.Record) {
	if len(recs) == 0 {
		fmt.Fprintln(w, "no records match")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tPRINCIPAL\tACCESS KEY\tACTION\tOBJECT\tSTATUS\tSOURCE IP\tMANIFEST")
	for _, r := range recs {
		obj := r.Bucket
		if r.Key != "" {
			obj += "/" + r.Key
		}
		if r.VersionID != "" {
			obj += "?versionId=" + r.VersionID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.Format(time.RFC3339), dash(r.Principal), dash(r.AccessKey), r.Action, dash(obj), r.Status, dash(r.SourceIP), dash(r.Evidence.Manifest))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(s, "\t", " ")
}
