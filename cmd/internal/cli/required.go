package cli

import (
	"strings"

	"github.com/spf13/pflag"
)

// RequireFlags reports every named flag that is neither set on the command
// line nor holds a non-empty value, all at once, as one usage error.
func RequireFlags(fs *pflag.FlagSet, names ...string) error {
	var missing []string
	for _, n := range names {
		f := fs.Lookup(n)
		if f == nil || (!f.Changed && (f.Value.String() == "" || f.Value.String() == "[]")) {
			missing = append(missing, "--"+n)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return Usagef("%s is required", missing[0])
	default:
		return Usagef("required flags not set: %s", strings.Join(missing, ", "))
	}
}
