package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/config"
)

// journalPath is the absolute path of the journal: --ledger, else the
// custody ledger with --config, else recover-journal.db in the user's
// state directory ($XDG_STATE_HOME/custody, or ~/.local/state/custody),
// never the current directory.
func journalPath(o *recoverOptions, cfg *config.Config) (string, error) {
	p := o.ledger
	if !o.ledgerSet && cfg != nil {
		p = cfg.Ledger
	}
	if p == "" {
		dir := os.Getenv("XDG_STATE_HOME")
		if dir == "" || !filepath.IsAbs(dir) {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", cli.Usagef("no state directory for the journal (%w): pass --ledger FILE", err)
			}
			dir = filepath.Join(home, ".local", "state")
		}
		p = filepath.Join(dir, "custody", "recover-journal.db")
	}
	return absPath(p), nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// prepareJournalDir creates the journal's folder (0700) if it is missing
// and checks that it can be written: exit 2 naming it otherwise, before
// anything is planned.
func prepareJournalDir(journal string) error {
	dir := filepath.Dir(journal)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cli.Usagef("the journal's directory %s cannot be created: %w; pass --ledger FILE elsewhere", dir, err)
	}
	if err := writable(dir); err != nil {
		return cli.Usagef("the journal's directory %s cannot be written: %w; pass --ledger FILE elsewhere", dir, err)
	}
	return nil
}

// checkOutputFile checks that the folder of an output file given with
// flag exists and can be written, before any S3 call.
func checkOutputFile(flag, path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(absPath(path))
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return cli.Usagef("%s %s: its directory %s: %w", flag, path, dir, err)
	case !fi.IsDir():
		return cli.Usagef("%s %s: %s is not a directory", flag, path, dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return cli.Usagef("%s %s is a directory", flag, path)
	}
	if err := writable(dir); err != nil {
		return cli.Usagef("%s %s: its directory %s cannot be written: %w", flag, path, dir, err)
	}
	return nil
}

// writable reports whether a file can be created in dir, by creating and
// removing one.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".recover-check-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}
