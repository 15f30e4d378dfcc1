package recovery

import (
	"encoding/csv"
	"io"
	"net/url"
	"strings"
)

// WriteBatchManifest writes the plan's copy actions as an S3 Batch
// Operations CSV manifest: bucket, URL-encoded key, version id. A Batch
// Operations "Copy" job over it (destination: the same bucket, metadata
// and tags copied) does the copies at any scale. It returns how many rows
// it wrote.
func WriteBatchManifest(w io.Writer, p *Plan) (int, error) {
	cw := csv.NewWriter(w)
	n := 0
	for _, a := range p.Actions {
		if a.Kind != CopyBack {
			continue
		}
		// S3 Batch Operations reads keys URL-encoded, spaces as %20.
		key := strings.ReplaceAll(url.QueryEscape(a.Key), "+", "%20")
		if err := cw.Write([]string{p.Bucket, key, a.VersionID}); err != nil {
			return n, err
		}
		n++
	}
	cw.Flush()
	return n, cw.Error()
}

// WithoutCopies returns the plan without its copy actions (left to a
// Batch Operations job).
func (p *Plan) WithoutCopies() *Plan {
	q := *p
	q.Actions = nil
	for _, a := range p.Actions {
		if a.Kind != CopyBack {
			q.Actions = append(q.Actions, a)
		}
	}
	return &q
}
