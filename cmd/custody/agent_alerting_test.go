package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestAgentMetricsFromTheStartAndFindingsLoud: every series of every
// configured source is exported at zero before the first run; a bucket
// made public is a failure finding, logged as an error naming its kind,
// object and source, and counted in custody_findings_total.
func TestAgentMetricsFromTheStartAndFindingsLoud(t *testing.T) {
	f := newCustodyFixture(t)
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", deadEndpoint(t))
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	never := `"0 0 1 1 *"` // not before the test ends
	cfg := f.config(t, `{stream: metrics-test, listen: "127.0.0.1:0", log_json: true}`,
		fmt.Sprintf(`{cloudtrail: %s, config: %s, posture: %s, versions: %s, jitter: 0s}`, never, never, never, never))
	a := startAgent(t, "-c", cfg)
	code, metrics := a.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	sources := []string{"cloudtrail:123456789012/us-east-1", "config:123456789012/us-east-1", "posture:" + f.src, "versions:" + f.src}
	for _, src := range sources {
		for _, family := range []string{"custody_collector_runs_total", "custody_collector_failures_total",
			"custody_collector_last_success_timestamp_seconds", "custody_collector_consecutive_failures"} {
			if want := fmt.Sprintf("%s{collector=%q} 0\n", family, src); !strings.Contains(metrics, want) {
				t.Errorf("a fresh agent's /metrics lacks %s", strings.TrimSpace(want))
			}
		}
		if !regexp.MustCompile(`(?m)^custody_findings_total\{kind="[a-z-]+",severity="(failure|warning)",source="` + regexp.QuoteMeta(src) + `"\} 0$`).MatchString(metrics) {
			t.Errorf("a fresh agent's /metrics has no custody_findings_total at 0 for %s", src)
		}
	}
	for _, want := range []string{
		`custody_findings_total{kind="posture-change",severity="failure",source="posture:` + f.src + `"} 0`,
		`custody_findings_total{kind="cloudtrail-digest-chain-broken",severity="failure",source="cloudtrail:123456789012/us-east-1"} 0`,
		"custody_agent_degraded 0", "custody_artifacts_sealed_total 0", "custody_chain_length 0",
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("a fresh agent's /metrics lacks %s", want)
		}
	}
	if code, body := a.get(t, "/healthz"); code != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("/healthz of a fresh agent: %d %s", code, body)
	}
	a.stop(t)

	// The bucket made public between two posture runs.
	cfg = f.config(t, `{stream: metrics-test, listen: "127.0.0.1:0", log_json: true}`,
		`{cloudtrail: "", config: "", posture: "@every 1s", versions: "", jitter: 0s}`)
	a = startAgent(t, "-c", cfg)
	a.waitLog(t, msgIs("collected", "collector", "posture:"+f.src), "collected posture")
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`, f.src)
	if _, err := f.s3.PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String(f.src), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	l := a.waitLog(t, msgIs("finding", "kind", "posture-change", "severity", "failure"), "a posture-change failure finding")
	if l["level"] != "ERROR" || l["source"] != "posture:"+f.src || l["object"] != "s3://"+f.src || !strings.Contains(fmt.Sprint(l["message"]), `"Principal": "*"`) {
		t.Errorf("the finding's log line: %v", l)
	}
	// A run after it finds nothing new: the count stays at one.
	a.waitLog(t, func(logLine) bool {
		seen := false
		for _, l := range a.lines() {
			seen = seen || l["msg"] == "finding"
			if seen && l["msg"] == "collected" && l["findings"] == 0.0 {
				return true
			}
		}
		return false
	}, "a run after the change")
	_, metrics = a.get(t, "/metrics")
	if want := `custody_findings_total{kind="posture-change",severity="failure",source="posture:` + f.src + `"} 1` + "\n"; !strings.Contains(metrics, want) {
		t.Errorf("/metrics after the bucket was made public lacks %s", want)
	}
	if n := a.count(func(l logLine) bool { return l["msg"] == "finding" && l["level"] == "INFO" }); n != 0 {
		t.Errorf("%d finding(s) logged at INFO", n)
	}
	// A healthy agent after runs: 200.
	if code, body := a.get(t, "/healthz"); code != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("/healthz of a healthy agent: %d %s", code, body)
	}
}

// TestAgentDegradedWhenASourceKeepsFailing: a trail discovery that fails
// every run neither stops the agent nor the other collectors; after
// --unhealthy-after failures in a row /healthz answers 503 naming it.
func TestAgentDegradedWhenASourceKeepsFailing(t *testing.T) {
	f := newCustodyFixture(t)
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", deadEndpoint(t))
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	cfg := f.config(t, `{stream: health-test, listen: "127.0.0.1:0", log_json: true}`,
		`{cloudtrail: "@every 1s", config: "", posture: "@every 1s", versions: "", jitter: 0s}`)
	a := startAgent(t, "-c", cfg, "--unhealthy-after", "3")
	failing := "cloudtrail:123456789012/us-east-1"
	a.waitLog(t, func(logLine) bool { return a.count(msgIs("collection failed", "collector", failing)) >= 3 }, "3 failures of "+failing)
	code, body := a.get(t, "/healthz")
	var h struct {
		Status  string
		Failing []struct {
			Collector           string
			ConsecutiveFailures int
			LastError           string
		}
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != http.StatusServiceUnavailable || h.Status != "degraded" || len(h.Failing) != 1 ||
		h.Failing[0].Collector != failing || h.Failing[0].ConsecutiveFailures < 3 || !strings.Contains(h.Failing[0].LastError, "DescribeTrails") {
		t.Fatalf("/healthz after 3 failed discoveries: %d %s (%v)", code, body, err)
	}
	// Retried on its schedule, and the others collect all the same.
	if a.count(msgIs("collected", "collector", "posture:"+f.src)) == 0 {
		t.Errorf("posture was not collected while the trail discovery failed:\n%s", a.logs.String())
	}
	_, metrics := a.get(t, "/metrics")
	if !strings.Contains(metrics, "custody_agent_degraded 1\n") || !regexp.MustCompile(`custody_collector_failures_total\{collector="`+failing+`"\} [3-9]`).MatchString(metrics) {
		t.Errorf("/metrics of a degraded agent:\n%s", metrics)
	}
}

// TestAgentListenAddressInUse: exit 2, naming the address.
func TestAgentListenAddressInUse(t *testing.T) {
	f := newCustodyFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	cfg := f.config(t, fmt.Sprintf(`{stream: listen-test, listen: %q}`, addr), `{cloudtrail: "", config: ""}`)
	out, errOut, code := run(t, "-c", cfg, "agent")
	if code != 2 || !strings.Contains(errOut, addr) {
		t.Fatalf("agent on an address in use: exit %d, want 2 naming %s\n%s%s", code, addr, out, errOut)
	}
}
