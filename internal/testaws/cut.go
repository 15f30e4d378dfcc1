package testaws

import "time"

// Cut returns a moment strictly between what a test wrote before calling it
// and what it writes after, in UTC: the moment a recovery goes back to. It
// sleeps 1.1 s on each side, because the stand-ins (like S3) keep an
// object's LastModified to the second.
func Cut() time.Time {
	time.Sleep(1100 * time.Millisecond)
	at := time.Now().UTC()
	time.Sleep(1100 * time.Millisecond)
	return at
}
