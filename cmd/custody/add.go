package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
)

// addOptions are add's flags and arguments.
type addOptions struct {
	caseID, note string
	files        []string
}

func newAddCommand(g *globals) *cobra.Command {
	var o addOptions
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
			return runAdd(cmd.Context(), o.with(files), g.deps(cmd, nil))
		},
	}
	cmd.Flags().StringVar(&o.caseID, "case", "", "case id (required)")
	cmd.Flags().StringVar(&o.note, "note", "", "what these files are, recorded in the manifest")
	return cmd
}

// with are the options with the FILE arguments.
func (o addOptions) with(files []string) addOptions { o.files = files; return o }

// addResult is add's --json output.
type addResult struct {
	Case      string             `json:"case"`
	Manifest  string             `json:"manifest"`
	Sequence  int64              `json:"sequence"`
	Artifacts []custody.Artifact `json:"artifacts"`
}

// runAdd seals the files into the case as one add event. Every file is
// opened before anything is written: a typo must not leave half a case
// sealed in a locked bucket.
func runAdd(ctx context.Context, o addOptions, d deps) error {
	if o.caseID == "" {
		return cli.Usagef("--case is required")
	}
	opened, err := openFiles(o.files)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	defer closeFiles(opened)
	cfg, err := d.config()
	if err != nil {
		return err
	}
	ev, err := cli.OpenEvidence(ctx, cfg, d.now, d.stderr)
	if err != nil {
		return err
	}
	defer ev.Close()
	rec, err := ev.Chain.Record(ctx, custody.Event{Type: custody.EventAdd, Case: o.caseID, Description: o.note, Records: fileRecords(opened)})
	if err != nil {
		return err
	}
	return d.printer().Result(addResult{o.caseID, rec.Key, rec.Seq, rec.Artifacts}, func(w io.Writer) {
		for _, a := range rec.Artifacts {
			fmt.Fprintf(w, "sealed s3://%s/%s (version %s, sha256 %s, %d bytes, legal hold)\n", a.Bucket, a.Key, a.VersionID, a.SHA256, a.Size)
		}
		fmt.Fprintf(w, "manifest %d of stream %s: s3://%s/%s\n", rec.Seq, rec.Stream, rec.Bucket, rec.Key)
	})
}

// fileRecords are the files as records of an add event: each under the
// case, named by its base name, its source file://host/absolute-path.
func fileRecords(files []*os.File) []custody.Record {
	host, _ := os.Hostname()
	var recs []custody.Record
	for _, f := range files {
		abs, _ := filepath.Abs(f.Name())
		recs = append(recs, custody.Record{Name: filepath.Base(f.Name()), Kind: "file", Body: f, Source: "file://" + host + abs, InCase: true})
	}
	return recs
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
