package search

import (
	"time"
)

// PredicateType is the in-toto predicate type of a sealed search.
const PredicateType = "https://custody-ir.dev/search/v1"

// Statement is an in-toto Statement (v1) over a search's results: its
// subject is the results file, its predicate the query and every sealed
// file it read (materials), so that anyone holding the evidence can run
// the same query over the same bytes and get the same records.
type Statement struct {
	Type          string    `json:"_type"`
	Subject       []Subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     Derived   `json:"predicate"`
}

// Subject is an in-toto subject.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Derived is what a sealed search records.
type Derived struct {
	Query     Query      `json:"query"`
	Catalog   string     `json:"catalog"` // ledger or manifests
	Stats     Stats      `json:"stats"`
	Materials []Material `json:"materials"`
	// Problems are the files of the window whose records were left out.
	Problems []Problem `json:"problems"`
	// Tool is the custody version that ran the search.
	Tool string `json:"tool"`
}

// Query is a search's filters as given.
type Query struct {
	AccessKeys   []string  `json:"accessKeys,omitempty"`
	Principals   []string  `json:"principals,omitempty"`
	SourceIPs    []string  `json:"sourceIps,omitempty"`
	Buckets      []string  `json:"buckets,omitempty"`
	Key          string    `json:"key,omitempty"`
	Events       []string  `json:"events,omitempty"`
	Errors       bool      `json:"errors,omitempty"`
	Since        time.Time `json:"since"`
	Until        time.Time `json:"until"`
	DeliveryLag  string    `json:"deliveryLag"`
	ResultFormat string    `json:"resultFormat"` // ndjson: one Record per line
}

// Material is one sealed file the search read (an in-toto
// ResourceDescriptor), with the manifest that seals it.
type Material struct {
	URI         string            `json:"uri"`
	Digest      map[string]string `json:"digest"`
	Annotations map[string]string `json:"annotations"`
}

// QueryOf records f as a Query.
func QueryOf(f Filter, lag time.Duration) Query {
	return Query{AccessKeys: f.AccessKeys, Principals: f.Principals, SourceIPs: f.SourceIPs, Buckets: f.Buckets, Key: f.Key, Events: f.Events,
		Errors: f.Errors, Since: f.Since.UTC(), Until: f.Until.UTC(), DeliveryLag: lag.String(), ResultFormat: "ndjson"}
}

// Materials are the files read whose bytes were what their manifests
// sealed: every file of the window but the problems.
func Materials(files []File, problems []Problem) []Material {
	bad := map[string]bool{}
	for _, p := range problems {
		bad[p.Object] = true
	}
	out := []Material{}
	for _, f := range files {
		if bad[objectName(f)] {
			continue
		}
		out = append(out, Material{URI: objectName(f), Digest: map[string]string{"sha256": f.SHA256},
			Annotations: map[string]string{"manifest": f.Manifest, "source": f.Source, "kind": f.Kind}})
	}
	return out
}
