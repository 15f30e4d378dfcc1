// Package search answers "who did what, to which objects" from the sealed
// evidence: it reads the CloudTrail log files (and, once collected, S3
// server access logs) that the evidence store holds, only those whose time
// can match, each checked against the SHA-256 a manifest sealed before a
// single record of it is believed, and yields one normalized record shape
// for every source.
package search
