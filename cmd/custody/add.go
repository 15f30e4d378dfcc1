package main

import (
	"errors"
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
		Use: "add --case ID FILE...",
		Example: `  # seal a memory image and notes into case IR-42, under legal hold
  custody add --case IR-42 --note "host i-0abc memory and responder notes" mem.raw notes.md

  # machine-readable result: each artifact's key, version id and SHA-256
  custody --json add --case IR-42 console.png`,
		Short: "Seal files of your own (memory dumps, screenshots, notes) into a case",
		Long: `Store files in the evidence bucket under the case, each with the configured
retention and a legal hold, and seal them in a signed manifest of this
agent's chain. Files are streamed: any size works in bounded memory.`,
		Args: cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if caseID == "" {
				return cli.Usagef("--case is required")
			}
			// Every file is opened before anything is written: a typo
			// must not leave half a case sealed in a locked bucket.
			opened, err := openFiles(files)
			if err != nil {
				return cli.UsageError{Err: err}
			}
			defer closeFiles(opened)
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
			for _, f := range opened {
				abs, _ := filepath.Abs(f.Name())
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

// openFiles opens every file to add, refusing what is missing, unreadable
// or not a regular file (a directory, a device, a pipe), and names it. The
// files stay open, so what is stored is what was checked.
func openFiles(paths []string) ([]*os.File, error) {
	var opened []*os.File
	var errs []error
	for _, p := range paths {
		f, err := openRegular(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		opened = append(opened, f)
	}
	if len(errs) > 0 {
		closeFiles(opened)
		return nil, fmt.Errorf("nothing added: %w", errors.Join(errs...))
	}
	return opened, nil
}

func openRegular(path string) (*os.File, error) {
	// Stat first: opening a FIFO for reading would block.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	switch {
	case fi.IsDir():
		return nil, fmt.Errorf("%s: is a directory, not a file", path)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return f, nil
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

func addFile(cmd *cobra.Command, run *custody.Run, prefix, caseID string, f *os.File, src string, now func() time.Time) error {
	key := custody.CaseKey(prefix, caseID, now(), run.ID, filepath.Base(f.Name()))
	_, err := run.Put(cmd.Context(), key, f, custody.PutOptions{Kind: "file", Case: caseID, Source: src})
	return err
}
