package reliability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// faultNet puts a fault-injecting path in front of one upstream server:
//
//	client -> toxiproxy (TCP: latency, bandwidth, resets, stalls)
//	       -> throttle (HTTP: 503 SlowDown bursts) -> upstream
//
// so that TCP faults hit the client's own connections, as a bad network
// would, and throttling answers come from "the server".
type faultNet struct {
	URL      string // what clients use as the endpoint
	proxy    *toxiproxy.Proxy
	throttle *throttle
}

var toxiServer = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())

func newFaultNet(t *testing.T, name, upstream string) *faultNet {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	th := &throttle{start: time.Now()}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // the client signed this Host (SigV4)
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	th.next = rp
	srv := httptest.NewServer(th)
	t.Cleanup(srv.Close)
	p := toxiproxy.NewProxy(toxiServer, fmt.Sprintf("%s-%s", name, t.Name()), "127.0.0.1:0", strings.TrimPrefix(srv.URL, "http://"))
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &faultNet{URL: "http://" + p.Listen, proxy: p, throttle: th}
}

// toxic is one toxiproxy toxic, as its JSON API takes it.
type toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"` // upstream (client to server) or downstream
	Toxicity   float64        `json:"toxicity"`
	Attributes map[string]int `json:"attributes"`
}

// set replaces the faults: TCP toxics and the throttle's bursts of 503
// SlowDown (burst out of every period; 0 for none).
func (f *faultNet) set(t *testing.T, toxics []toxic, burst, period time.Duration) {
	t.Helper()
	f.clear(t)
	for i, tx := range toxics {
		tx.Name = fmt.Sprintf("t%d", i)
		body, err := json.Marshal(tx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.proxy.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
			t.Fatalf("toxic %s: %v", body, err)
		}
	}
	f.throttle.burst.Store(int64(burst))
	f.throttle.period.Store(int64(period))
}

func (f *faultNet) clear(t *testing.T) {
	f.proxy.Toxics.ResetToxics(t.Context())
	f.throttle.burst.Store(0)
	// Connections opened under a toxic keep it; drop them all.
	f.proxy.Stop()
	if err := f.proxy.Start(); err != nil {
		t.Fatal(err)
	}
}

// throttle answers every request with S3's 503 SlowDown during bursts
// (burst out of every period), and passes the others on.
type throttle struct {
	next          http.Handler
	start         time.Time
	burst, period atomic.Int64 // nanoseconds
	Throttled     atomic.Int64
}

func (th *throttle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b, p := th.burst.Load(), th.period.Load(); b > 0 && p > 0 && int64(time.Since(th.start))%p < b {
		th.Throttled.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
		return
	}
	th.next.ServeHTTP(w, r)
}
