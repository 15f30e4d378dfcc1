package cli

import (
	"encoding/json"
	"fmt"
	"io"
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
