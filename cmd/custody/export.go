package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"path/filepath"

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
		Long: `Verify the selection, then write a tar.gz with the selected artifacts, the
manifests that link them to each stream's head, the public keys, the
verification report (JSON), a chain-of-custody document, SHA256SUMS and a
README with the commands to check it with sha256sum, openssl, jq and
cosign. The export is itself recorded as a signed custody event, whose
manifest is the package's signed statement (package.dsse.json): it
vouches for every file, the selection, the store and each stream's head.

Export prints the signer's key id: give it to the recipient by a separate
channel. Without it, verify --bundle never says OK.

Exit codes: 0 exported with a clean report, 1 exported but the report has
failures, 2 usage or configuration error (an unknown --case: nothing is
written), 3 the export could not complete, 130 interrupted (no package, no event; once the export event is being
recorded, an interrupt lets the export finish, so that no event is
without its package).`,
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
	res, err := v.Export(ctx, vo, out, ev.Chain)
	prog.finish()
	if err != nil {
		return selectionError(err)
	}
	if err := d.printer().Result(exportResult{res, res.Report.OK, res.Event.Key}, func(w io.Writer) { printExport(w, res, res.Event.Manifest) }); err != nil {
		return err
	}
	if !res.Report.OK {
		return cli.ErrFindings
	}
	return nil
}

func printExport(w io.Writer, res *custody.ExportResult, m ledger.Manifest) {
	fmt.Fprintf(w, "exported %s (%d bytes, sha256 %s): %d artifact(s), %d manifest object(s)\n", res.Path, res.Size, res.SHA256, res.Artifacts, res.Manifests)
	fmt.Fprintf(w, "export recorded as manifest %d of stream %s: the package's signed statement\n", m.Seq, m.Stream)
	fmt.Fprintf(w, "signer key id: %s\n", res.SignerKeyID)
	fmt.Fprintf(w, "  give this id to the recipient by a separate channel (phone, signed letter, the case file):\n")
	fmt.Fprintf(w, "  custody verify --bundle %s --key-id %s\n", filepath.Base(res.Path), res.SignerKeyID)
	if !res.Report.OK {
		fmt.Fprintf(w, "the verification report in the package has %d failure(s): see report.json\n", res.Report.Findings.Failures())
	}
}
