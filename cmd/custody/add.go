package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
)

func newAddCommand(g *globals) *cobra.Command {
	var caseID, note string
	cmd := &cobra.Command{
		Use:   "add --case ID FILE...",
		Short: "Seal files of your own (memory dumps, screenshots, notes) into a case",
		Long: `Store files in the evidence bucket under the case, each with the configured
retention and a legal hold, and seal them in a signed manifest of this
agent's chain. Files are streamed: any size works in bounded memory.`,
		Args: cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if caseID == "" {
				return cli.Usagef("--case is required")
			}
			cfg, err := g.loadConfig(cmd, nil)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			ev, err := cli.OpenEvidence(ctx, cfg, g.now, g.stderr)
			if err != nil {
				return err
			}
			defer ev.Close()
			run, err := ev.Chain.StartRun(ctx, "add")
			if err != nil {
				return err
			}
			host, _ := os.Hostname()
			var runErr error
			var sources []string
			for _, f := range files {
				abs, _ := filepath.Abs(f)
				src := "file://" + host + abs
				sources = append(sources, src)
				if runErr = addFile(cmd, run, cfg.Store.Prefix, caseID, f, src, g.now); runErr != nil {
					break
				}
			}
			m, err := run.Seal(ctx, custody.SealRequest{Event: custody.EventAdd, Case: caseID, Sources: sources, Description: note}, runErr)
			if err != nil {
				return err
			}
			if runErr != nil {
				return fmt.Errorf("%w (what was stored before the failure is sealed in manifest %d)", runErr, m.Seq)
			}
			type result struct {
				Case      string             `json:"case"`
				Manifest  string             `json:"manifest"`
				Sequence  int64              `json:"sequence"`
				Artifacts []custody.Artifact `json:"artifacts"`
			}
			return g.printer().Result(result{caseID, m.Key, m.Seq, run.Artifacts()}, func(w io.Writer) {
				for _, a := range run.Artifacts() {
					fmt.Fprintf(w, "sealed s3://%s/%s (version %s, sha256 %s, %d bytes, legal hold)\n", a.Bucket, a.Key, a.VersionID, a.SHA256, a.Size)
				}
				fmt.Fprintf(w, "manifest %d of stream %s: s3://%s/%s\n", m.Seq, m.Stream, m.Bucket, m.Key)
			})
		},
	}
	cmd.Flags().StringVar(&caseID, "case", "", "case id (required)")
	cmd.Flags().StringVar(&note, "note", "", "what these files are, recorded in the manifest")
	return cmd
}

func addFile(cmd *cobra.Command, run *custody.Run, prefix, caseID, path, src string, now func() time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	key := custody.CaseKey(prefix, caseID, now(), run.ID, filepath.Base(path))
	_, err = run.Put(cmd.Context(), key, f, custody.PutOptions{Kind: "file", Case: caseID, Source: src})
	return err
}
