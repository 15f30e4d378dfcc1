package cli

import (
	"fmt"
	"runtime/debug"
)

// Version describes the running binary from its build info: the module
// version and the VCS revision it was built from.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build info)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	rev, when, dirty := "unknown", "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	out := fmt.Sprintf("%s (revision %s", version, rev)
	if dirty {
		out += ", modified"
	}
	if when != "" {
		out += ", " + when
	}
	return out + ", " + info.GoVersion + ")"
}
