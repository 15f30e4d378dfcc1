package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/ledger"
)

func newExportCommand(g *globals) *cobra.Command {
	var o verifyOptions
	var out string
	cmd := &cobra.Command{
		Use: "export [--case ID] [--since T --until T] --out FILE.tar.gz",
		Example: `  # the hand-off package of one case, then check it as the recipient would
  custody export --case IR-42 --out IR-42.tar.gz
  custody verify --bundle IR-42.tar.gz

  # everything sealed in the last week
  custody export --since 7d --out last-week.tar.gz`,
		Short: "Write the legal hand-off package a third party can check offline",
		Long: `Verify the selection, then write a tar.gz with the selected artifacts, every
manifest and checkpoint of their streams, the public keys, the verification
report (JSON), a chain-of-custody document, SHA256SUMS and a README with
the commands to check it with sha256sum, cosign and openssl. The export is
itself recorded as a signed custody event.

Exit codes: 0 exported with a clean report, 1 exported but the report has
failures, 2 usage or configuration error (an unknown --case: nothing is
written), 3 the export could not complete, 130 interrupted (no package, no event).`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			vo, err := o.selection(g.now())
			if err != nil {
				return err
			}
			cfg, err := g.loadConfig(cmd, nil)
			if err != nil {
				return err
			}
			if out == "" {
				out = custody.ExportName(vo, g.now())
			}
			trust, err := trustList(ctx, cfg)
			if err != nil {
				return err
			}
			ev, err := cli.OpenEvidence(ctx, cfg, g.now, g.stderr)
			if err != nil {
				return err
			}
			defer ev.Close()
			prog := &verifyProgress{w: g.stderr, now: g.now}
			vo.Progress = prog.report
			vo.Checks = evidenceChecks()
			v, err := cli.Verifier(ev.AWS, cfg, trust, ev.Ledger, g.now)
			if err != nil {
				return err
			}
			res, err := v.Export(ctx, vo, out)
			prog.finish()
			if err != nil {
				return selectionError(err)
			}
			m, err := recordExport(cmd, ev, res, vo)
			if err != nil {
				return fmt.Errorf("package %s written, but recording the export event failed: %w", out, err)
			}
			type result struct {
				*custody.ExportResult
				OK    bool   `json:"ok"`
				Event string `json:"event"`
			}
			if err := g.printer().Result(result{res, res.Report.OK, m.Key}, func(w io.Writer) {
				fmt.Fprintf(w, "exported %s (%d bytes, sha256 %s): %d artifact(s), %d manifest object(s)\n", res.Path, res.Size, res.SHA256, res.Artifacts, res.Manifests)
				fmt.Fprintf(w, "export recorded as manifest %d of stream %s\n", m.Seq, m.Stream)
				if !res.Report.OK {
					fmt.Fprintf(w, "the verification report in the package has %d failure(s): see report.json\n", res.Report.Findings.Failures())
				}
			}); err != nil {
				return err
			}
			if !res.Report.OK {
				return cli.ErrFindings
			}
			return nil
		},
	}
	o.addSelectionFlags(cmd.Flags())
	cmd.Flags().StringVar(&out, "out", "", "package file to write (default custody-export-<time>.tar.gz)")
	return cmd
}

// recordExport stores the report and chain-of-custody document of an
// export as artifacts and seals them as an export event naming the
// package's SHA-256.
func recordExport(cmd *cobra.Command, ev *cli.Evidence, res *custody.ExportResult, vo custody.VerifyOptions) (ledger.Manifest, error) {
	ctx := cmd.Context()
	run, err := ev.Chain.StartRun(ctx, "export")
	if err != nil {
		return ledger.Manifest{}, err
	}
	report, err := jsonBytes(res.Report)
	if err != nil {
		return ledger.Manifest{}, err
	}
	for name, body := range map[string][]byte{"report.json": report, "chain-of-custody.md": custody.CustodyDocument(res.Report)} {
		key := custody.EventKey(ev.Cfg.Store.Prefix, ev.Chain.Stream(), res.Report.VerifiedAt, run.ID, name)
		if _, err := run.Put(ctx, key, bytes.NewReader(body), custody.PutOptions{Kind: "export-record", Case: vo.Case}); err != nil {
			return ledger.Manifest{}, err
		}
	}
	return run.Seal(ctx, custody.SealRequest{
		Event: custody.EventExport, Case: vo.Case, Description: "hand-off package exported",
		WindowStart: vo.Since, WindowEnd: vo.Until,
		Details: map[string]string{"package": res.Path, "packageSha256": res.SHA256, "packageSize": fmt.Sprint(res.Size),
			"artifacts": fmt.Sprint(res.Artifacts), "reportOk": fmt.Sprint(res.Report.OK)},
	}, nil)
}
