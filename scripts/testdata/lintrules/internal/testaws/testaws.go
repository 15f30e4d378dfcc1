// Package testaws stands for the stand-ins' helpers (allow-listed: they wait on servers).
package testaws

import "time"

// Marker is something to import.
var Marker = time.Now()
