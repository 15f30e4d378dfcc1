package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	recovery "github.com/custody-ir/custody/recover"
)

type verifyOptions struct {
	since, until, caseID, bundle string
	concurrency                  int
	noLedger                     bool
	keys, keyIDs, witnessKeys    []string
}

// addSelectionFlags adds the flags verify and export share: what is
// checked in depth.
func (o *verifyOptions) addSelectionFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.since, "since", "", "check in depth only manifests sealed at or after this time (RFC 3339 or a duration back, 7d)")
	fs.StringVar(&o.until, "until", "", "... and at or before this time")
	fs.StringVar(&o.caseID, "case", "", "check in depth only this case's manifests; their artifacts must be under legal hold")
	fs.IntVar(&o.concurrency, "concurrency", 16, "objects read at once")
}

// addFlags adds verify's flags: the selection, and the ones only verify
// has (export must not accept --bundle: it would export the whole store).
func (o *verifyOptions) addFlags(fs *pflag.FlagSet) {
	o.addSelectionFlags(fs)
	fs.StringVar(&o.bundle, "bundle", "", "verify an exported package offline (no network; pin its signer with --key-id or --key)")
	fs.StringArrayVar(&o.keyIDs, "key-id", nil, "with --bundle: the signer's key id, as the sender gave it to you by a separate channel (repeatable)")
	fs.StringArrayVar(&o.keys, "key", nil, "with --bundle: the signer's public key you hold, a PEM file or awskms://... (repeatable)")
	fs.StringArrayVar(&o.witnessKeys, "witness-key", nil, "with --bundle: a witness's Ed25519 public key you hold, as NAME=FILE (its key name, a PEM file; repeatable)")
	fs.BoolVar(&o.noLedger, "no-ledger", false, "do not compare chain heads with the local ledger")
}

// selectionError makes a selected case that does not exist a usage error.
func selectionError(err error) error {
	if errors.Is(err, custody.ErrNoSuchCase) {
		return cli.UsageError{Err: err}
	}
	return err
}

func (o *verifyOptions) selection(now time.Time) (custody.VerifyOptions, error) {
	vo := custody.VerifyOptions{Case: o.caseID, Concurrency: o.concurrency}
	var err error
	if o.since != "" {
		if vo.Since, err = recovery.ParseTime("--since", o.since, now); err != nil {
			return vo, cli.UsageError{Err: err}
		}
	}
	if o.until != "" {
		if vo.Until, err = recovery.ParseTime("--until", o.until, now); err != nil {
			return vo, cli.UsageError{Err: err}
		}
	}
	if !vo.Since.IsZero() && !vo.Until.IsZero() && vo.Until.Before(vo.Since) {
		return vo, cli.Usagef("--until is before --since")
	}
	return vo, nil
}

func newVerifyCommand(g *globals) *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use: "verify",
		Example: `  custody verify                              # the whole store
  custody verify --case IR-42 --json          # one case, as a JSON report
  custody verify --since 7d                   # check the last week in depth, the chain in full
  custody verify --bundle IR-42.tar.gz --key-id 3f9a...   # a package, offline, its signer pinned`,
		Short: "Prove that the evidence is intact, signed, locked and complete",
		Long: `Check the evidence store, collecting every finding:
  - the bucket: versioning, Object Lock, default retention, public access;
  - every manifest: signature by a trusted key valid at signing time, types;
  - every stream's chain: no gaps, forks, re-ordering or replay, every link,
    the ledger's head; every version of its log checkpoint (signed, stored
    when signed, the manifests' Merkle root, never shrinking) and its
    freshness by S3's clock (stream-stale past twice its heartbeat);
  - the registry of streams (a stream deleted whole) and the witnesses'
    countersigned checkpoints (a store rolled back or rewritten);
  - S3's clock against custody's claims, and every object's lock against
    the configured retention;
  - every sealed artifact: the version exists, its bytes hash to the sealed
    SHA-256, S3's checksum agrees, retention and legal hold hold, no delete
    marker hides it;
  - objects no manifest seals.
--json prints the report (schema in docs/verify.md). With --bundle FILE, an
exported package is checked offline instead: its signed statement, every
file, the chain up to each stream's recorded head, and the artifacts. A
package cannot vouch for itself: pin its signer with --key-id (the key id
the sender gave you by a separate channel), --key, or the trust list of a
configuration given with --config; without one, verify checks everything,
prints the key ids it found, and fails with signer-not-pinned. The package's
witness copies are checked against the witnesses' public keys you hold
(--witness-key NAME=FILE, or witnesses[] of the configuration); a witness
not pinned is a warning, never a pass.

A selected verify (--since, --until, --case) says how many manifests and
artifacts it left unchecked: only a full verify covers them.

A --case that no manifest names is a usage error naming the cases there
are. An interrupted verify prints no report.

Exit codes: 0 all holds, 1 failures found, 2 usage or configuration error (an
unknown --case), 3 verify could not run (nothing concluded), 130 interrupted.`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerify(cmd.Context(), o, g.deps(cmd, nil)) },
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// runVerify checks the evidence store, or an exported package offline,
// and prints the report.
func runVerify(ctx context.Context, o verifyOptions, d deps) error {
	vo, err := o.selection(d.now())
	if err != nil {
		return err
	}
	prog := &verifyProgress{w: d.stderr, now: d.now}
	vo.Progress, vo.Checks = prog.report, evidenceChecks()
	report, err := o.verify(ctx, vo, d)
	prog.finish()
	if err != nil {
		return selectionError(err)
	}
	if err := d.printer().Result(report, func(w io.Writer) { printReport(w, report) }); err != nil {
		return err
	}
	if !report.OK {
		return cli.ErrFindings
	}
	return nil
}

// verify checks the package of --bundle, else the configured store.
func (o verifyOptions) verify(ctx context.Context, vo custody.VerifyOptions, d deps) (*custody.Report, error) {
	if o.bundle != "" {
		anchor, err := o.anchor(ctx, d)
		if err != nil {
			return nil, err
		}
		return custody.VerifyBundle(ctx, o.bundle, vo, anchor, d.now)
	}
	if len(o.keys)+len(o.keyIDs)+len(o.witnessKeys) > 0 {
		return nil, cli.Usagef("--key, --key-id and --witness-key pin the signer and witnesses of a package: use them with --bundle (the store's trust list and witnesses are in the configuration)")
	}
	cfg, err := d.config()
	if err != nil {
		return nil, err
	}
	return verifyStore(ctx, d, cfg, vo, !o.noLedger)
}

// anchor is what the recipient trusts: --key, --key-id, and the trust list
// of a configuration given explicitly (--config or $CUSTODY_CONFIG).
func (o verifyOptions) anchor(ctx context.Context, d deps) (custody.Anchor, error) {
	var a custody.Anchor
	for _, s := range o.keyIDs {
		id, err := custody.ParseKeyID(s)
		if err != nil {
			return a, cli.UsageError{Err: fmt.Errorf("--key-id: %w", err)}
		}
		a.KeyIDs = append(a.KeyIDs, id)
	}
	for _, k := range o.keys {
		tk := config.TrustedKey{Name: k, Key: k}
		if !strings.HasPrefix(k, "awskms://") {
			tk = config.TrustedKey{Name: strings.TrimSuffix(filepath.Base(k), filepath.Ext(k)), Key: "file://" + strings.TrimPrefix(k, "file://")}
		}
		keys, err := custody.LoadTrust(ctx, []config.TrustedKey{tk})
		if err != nil {
			return a, cli.UsageError{Err: fmt.Errorf("--key %s: %w", k, err)}
		}
		a.Keys = append(a.Keys, keys...)
	}
	pin := func(name string, pub ed25519.PublicKey, from string) error {
		if a.Witnesses == nil {
			a.Witnesses = map[string]ed25519.PublicKey{}
		}
		if have, ok := a.Witnesses[name]; ok && !have.Equal(pub) {
			return cli.Usagef("witness %s is pinned twice with different keys (%s): give one", name, from)
		}
		a.Witnesses[name] = pub
		return nil
	}
	for _, s := range o.witnessKeys {
		name, file, ok := strings.Cut(s, "=")
		if !ok || name == "" || file == "" {
			return a, cli.Usagef("--witness-key %q: want NAME=FILE, the witness's key name and its Ed25519 public key (PEM)", s)
		}
		pub, err := custody.LoadWitnessPublic(config.Witness{Name: name, Public: file})
		if err != nil {
			return a, cli.UsageError{Err: fmt.Errorf("--witness-key: %w", err)}
		}
		if err := pin(name, pub, "--witness-key"); err != nil {
			return a, err
		}
	}
	if d.configGiven() {
		cfg, err := d.config()
		if err != nil {
			return a, err
		}
		keys, err := custody.ConfiguredTrust(ctx, cfg, d.getenv)
		if err != nil {
			return a, err
		}
		a.Keys = append(a.Keys, keys...)
		for i, w := range cfg.Witnesses {
			pub, err := custody.LoadWitnessPublic(w)
			if err != nil {
				return a, fmt.Errorf("witnesses[%d]: %w", i, err)
			}
			if err := pin(w.Name, pub, "--witness-key and witnesses[] of the configuration"); err != nil {
				return a, err
			}
		}
	}
	return a, nil
}

func verifyStore(ctx context.Context, d deps, cfg config.Config, vo custody.VerifyOptions, useLedger bool) (*custody.Report, error) {
	trust, err := custody.ConfiguredTrust(ctx, cfg, d.getenv)
	if err != nil {
		return nil, err
	}
	ac, err := cli.StoreAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var l *ledger.Ledger
	if useLedger {
		if _, statErr := os.Stat(cfg.Ledger); statErr == nil {
			if l, err = ledger.Open(ctx, cfg.Ledger, ledger.WithClock(d.now)); err != nil {
				return nil, err
			}
			defer l.Close()
		}
	}
	v, err := cli.Verifier(ac, cfg, trust, l, d.now)
	if err != nil {
		return nil, err
	}
	return v.Verify(ctx, vo)
}

// verifyProgress reports verify's progress through cli.Progress (rate and
// time left; a line every 10 s off a terminal), made at the first report,
// when the number of artifacts is known.
type verifyProgress struct {
	w   io.Writer
	now func() time.Time
	mu  sync.Mutex
	p   *cli.Progress
}

func (v *verifyProgress) report(done, total, _ int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.p == nil {
		v.p = cli.NewProgress(v.w, "verified", int(total), v.now).Unit("artifacts")
		v.p.Start()
	}
	v.p.Set(int(done))
}

// finish ends the progress line before the report is printed.
func (v *verifyProgress) finish() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.p != nil {
		v.p.Finish()
	}
}

// evidenceChecks are the collectors' checks of what they preserved.
func evidenceChecks() []custody.EvidenceCheck {
	return []custody.EvidenceCheck{collector.CloudTrailCheck{}}
}

func printReport(w io.Writer, r *custody.Report) {
	fmt.Fprintf(w, "verified s3://%s/%s at %s\n", r.Bucket, r.Prefix, r.VerifiedAt.Format(time.RFC3339))
	c := r.Checked
	fmt.Fprintf(w, "checked %d stream(s), %d manifest(s), %d artifact(s) (%s), %d object(s) listed\n",
		c.Streams, c.Manifests, c.Subjects, humanize.IBytes(uint64(c.Bytes)), c.Objects)
	for _, k := range r.Keys {
		fmt.Fprintf(w, "signed by %q (key id %s)\n", k.Name, k.KeyID)
	}
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%-7s %s %s\n        %s\n", strings.ToUpper(string(f.Severity)), f.Kind, f.Object, f.Message)
		if f.Remedy != "" {
			fmt.Fprintf(w, "        remedy: %s\n", f.Remedy)
		}
	}
	if u := r.Unchecked; u.Manifests > 0 || u.Streams > 0 {
		fmt.Fprintf(w, "left unchecked by the selection: %d manifest(s) with %d artifact(s) (%s), and %d stream(s) with no manifest selected; only a full verify covers them\n",
			u.Manifests, u.Artifacts, humanize.IBytes(uint64(u.Bytes)), u.Streams)
	}
	fails := r.Findings.Failures()
	if r.OK {
		fmt.Fprintf(w, "OK: all evidence is intact, signed, locked and complete (%d warning(s))\n", len(r.Findings)-fails)
	} else {
		fmt.Fprintf(w, "FAILED: %d failure(s), %d warning(s)\n", fails, len(r.Findings)-fails)
	}
}
