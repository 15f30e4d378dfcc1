package cttest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/custody-ir/custody/collector/cloudtrail"
)

// KeyServer serves CloudTrail's ListPublicKeys in its real wire format
// (JSON 1.1, X-Amz-Target CloudTrail_20131101.ListPublicKeys, times as
// epoch seconds), which moto lacks. It pages one key at a time, so
// clients must follow NextToken. Point a client at it with
// AWS_ENDPOINT_URL_CLOUDTRAIL.
func KeyServer(t testing.TB, keys []cloudtrail.PublicKey) string {
	srv := NewKeyServer(keys)
	t.Cleanup(srv.Close)
	return srv.URL
}

// NewKeyServer is KeyServer for use outside tests (the demo); close it
// when done.
func NewKeyServer(keys []cloudtrail.PublicKey) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "CloudTrail_20131101.ListPublicKeys" {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"UnknownOperationException","message":"only ListPublicKeys is served"}`)
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
