// Package awsclient stands for the AWS clients; retry.go alone is allow-listed
// (call timeouts measure real elapsed time).
package awsclient

import "time"

// Elapsed is allowed here.
func Elapsed(start time.Time) time.Duration { return time.Since(start) }
