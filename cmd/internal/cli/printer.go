package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/custody-ir/custody/custody"
)

// Printer writes a command's results as text or, with --json, as one JSON
// document; both twins come from the same value.
type Printer struct {
	Out  io.Writer
	JSON bool
}

// Textf prints a line of text output; in JSON mode it prints nothing.
func (p Printer) Textf(format string, args ...any) {
	if !p.JSON {
		fmt.Fprintf(p.Out, format, args...)
	}
}

// Result prints v as indented JSON in JSON mode, else calls text.
func (p Printer) Result(v any, text func(io.Writer)) error {
	if p.JSON {
		enc := json.NewEncoder(p.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(p.Out)
	return nil
}

// incomplete is what a command that could not complete prints in JSON mode
// in place of its result: "ok" is null, neither true nor false, since
// nothing was concluded.
type incomplete struct {
	OK     *bool  `json:"ok"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// Exit returns code, the exit code ExitCode gave err. In JSON mode a
// command that could not complete (ExitIncomplete) prints
// {"ok": null, "status": "incomplete", "error": "..."} first, so that a
// reader of the JSON never takes an empty stdout for a result; the error
// is the one line stderr has (the whole chain with --debug).
func (p Printer) Exit(code int, err error) int {
	if !p.JSON || err == nil {
		return code
	}
	switch {
	case code == ExitIncomplete:
		_ = p.Result(incomplete{Status: custody.StatusIncomplete, Error: ErrorText(err)}, nil)
	case errors.Is(err, custody.ErrEvidenceFailed):
		no := false
		_ = p.Result(incomplete{OK: &no, Status: custody.StatusFailed, Error: ErrorText(err)}, nil)
	}
	return code
}
