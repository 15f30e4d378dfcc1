package cttest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"testing"

	"github.com/custody-ir/custody/collector/cloudtrail"
)

// KeyServer serves CloudTrail's ListPublicKeys in its real wire format
// (JSON 1.1, X-Amz-Target CloudTrail_20131101.ListPublicKeys, times as
// epoch seconds), which moto lacks, with the test's keys. It pages one
// key at a time, so clients must follow NextToken. Every other CloudTrail
// action (DescribeTrails, GetTrailStatus, ...) is passed unchanged to the
// moto server AWS_ENDPOINT_URL names, whose trails they are about: a
// client pointed here with AWS_ENDPOINT_URL_CLOUDTRAIL sees one CloudTrail.
//
// Teaching moto ListPublicKeys instead would need a side door to give it
// the test's signing keys, which AWS has no API for; here the keys stay
// with the test that made them, and moto stays as it is.
func KeyServer(t testing.TB, keys []cloudtrail.PublicKey) string {
	srv := NewKeyServer(keys)
	t.Cleanup(srv.Close)
	return srv.URL
}

// KeyServerTo is KeyServer passing other actions to the moto server at
// upstream.
func KeyServerTo(t testing.TB, keys []cloudtrail.PublicKey, upstream string) string {
	srv := NewKeyServerTo(keys, upstream)
	t.Cleanup(srv.Close)
	return srv.URL
}

// NewKeyServer is KeyServer for use outside tests (the demo); close it
// when done. AWS_ENDPOINT_URL is read when a request comes.
func NewKeyServer(keys []cloudtrail.PublicKey) *httptest.Server { return NewKeyServerTo(keys, "") }

// NewKeyServerTo is NewKeyServer passing other actions to upstream (""
// for AWS_ENDPOINT_URL).
func NewKeyServerTo(keys []cloudtrail.PublicKey, upstream string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "CloudTrail_20131101.ListPublicKeys" {
			forward(w, r, upstream)
			return
		}
		var in struct{ NextToken string }
		// A body or token the server cannot read asks for the first page,
		// as an empty one does.
		_ = json.NewDecoder(r.Body).Decode(&in)
		i := 0
		if in.NextToken != "" {
			_ = json.Unmarshal([]byte(in.NextToken), &i)
		}
		type entry struct {
			Value             string
			ValidityStartTime float64
			ValidityEndTime   float64 `json:",omitempty"`
			Fingerprint       string
		}
		out := struct {
			PublicKeyList []entry
			NextToken     string `json:",omitempty"`
		}{PublicKeyList: []entry{}}
		if i < len(keys) {
			k := keys[i]
			e := entry{Value: base64.StdEncoding.EncodeToString(k.Value), ValidityStartTime: float64(k.ValidityStart.Unix()), Fingerprint: k.Fingerprint}
			if !k.ValidityEnd.IsZero() {
				e.ValidityEndTime = float64(k.ValidityEnd.Unix())
			}
			out.PublicKeyList = append(out.PublicKeyList, e)
			if i+1 < len(keys) {
				b, _ := json.Marshal(i + 1)
				out.NextToken = string(b)
			}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(out) // the client sees a short answer
	}))
}

// forward passes a request to the moto server at upstream (or
// AWS_ENDPOINT_URL), keeping its Host header, which its signature covers.
func forward(w http.ResponseWriter, r *http.Request, upstream string) {
	if upstream == "" {
		upstream = os.Getenv("AWS_ENDPOINT_URL")
	}
	u, err := url.Parse(upstream)
	if upstream == "" || err != nil || u.Host == "" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"UnknownOperationException","message":"only ListPublicKeys is served here, and no moto server (AWS_ENDPOINT_URL) to pass the rest to"}`)
		return
	}
	p := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host
	}}
	p.ServeHTTP(w, r)
}
