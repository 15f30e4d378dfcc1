package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/ledger"
)

// exportOptions are export's flags: verify's selection, and the package.
type exportOptions struct {
	verifyOptions
	out string
}

func newExportCommand(g *globals) *cobra.Command {
	var o exportOptions
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
		RunE: func(cmd *cobra.Command, _ []string) error { return runExport(cmd.Context(), o, g.deps(cmd, nil)) },
	}
	o.addSelectionFlags(cmd.Flags())
	cmd.Flags().StringVar(&o.out, "out", "", "package file to write (default custody-export-<time>.tar.gz)")
	return cmd
}

// exportResult is export's --json output.
type exportResult struct {
	*custody.ExportResult
	OK    bool   `json:"ok"`
	Event string `json:"event"`
}

// runExport verifies the selection, writes the package and records the
// export as a custody event.
func runExport(ctx context.Context, o exportOptions, d deps) error {
	vo, err := o.selection(d.now())
	if err != nil {
		return err
	}
	cfg, err := d.config()
	if err != nil {
		return err
	}
	out := cmp.Or(o.out, custody.ExportName(vo, d.now()))
	trust, err := custody.ConfiguredTrust(ctx, cfg, d.getenv)
	if err != nil {
		return err
	}
	ev, err := cli.OpenEvidence(ctx, cfg, d.now, d.stderr)
	if err != nil {
		return err
	}
	defer ev.Close()
	prog := &verifyProgress{w: d.stderr, now: d.now}
	vo.Progress, vo.Checks = prog.report, evidenceChecks()
	v, err := cli.Verifier(ev.AWS, cfg, trust, ev.Ledger, d.now)
	if err != nil {
		return err
	}
	res, err := v.Export(ctx, vo, out)
	prog.finish()
	if err != nil {
		return selectionError(err)
	}
	rec, err := ev.Chain.Record(ctx, exportEvent(res, vo))
	if err != nil {
		return fmt.Errorf("package %s written, but recording the export event failed: %w", out, err)
	}
	if err := d.printer().Result(exportResult{res, res.Report.OK, rec.Key}, func(w io.Writer) { printExport(w, res, rec.Manifest) }); err != nil {
		return err
	}
	if !res.Report.OK {
		return cli.ErrFindings
	}
	return nil
}

func printExport(w io.Writer, res *custody.ExportResult, m ledger.Manifest) {
	fmt.Fprintf(w, "exported %s (%d bytes, sha256 %s): %d artifact(s), %d manifest object(s)\n", res.Path, res.Size, res.SHA256, res.Artifacts, res.Manifests)
	fmt.Fprintf(w, "export recorded as manifest %d of stream %s\n", m.Seq, m.Stream)
	if !res.Report.OK {
		fmt.Fprintf(w, "the verification report in the package has %d failure(s): see report.json\n", res.Report.Findings.Failures())
	}
}

// exportEvent is the export as a custody event: the report and the
// chain-of-custody document as records, the package's SHA-256 in the
// details.
func exportEvent(res *custody.ExportResult, vo custody.VerifyOptions) custody.Event {
	return custody.Event{
		Type: custody.EventExport, Case: vo.Case, Description: "hand-off package exported",
		WindowStart: vo.Since, WindowEnd: vo.Until,
		Details: map[string]string{"package": res.Path, "packageSha256": res.SHA256, "packageSize": fmt.Sprint(res.Size),
			"artifacts": fmt.Sprint(res.Artifacts), "reportOk": fmt.Sprint(res.Report.OK)},
		Records: []custody.Record{
			{Name: "report.json", Kind: "export-record", JSON: res.Report},
			{Name: "chain-of-custody.md", Kind: "export-record", Body: bytes.NewReader(custody.CustodyDocument(res.Report))},
		},
	}
}
