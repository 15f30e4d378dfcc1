// Package versionlist is the one definition of a preserved version list:
// the record format (gzip NDJSON, one version or delete marker per line),
// the artifact's kind and file names, a streaming Writer the collector
// writes with, and a streaming Reader (and Histories, its parts merged by
// key) recover reads with. It imports nothing from this module, so both
// sides, and the ledger, can depend on it.
package versionlist
