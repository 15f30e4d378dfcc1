package reliability

import (
	"strings"
	"testing"
	"time"
)

// scenario is one kind of bad network, applied to S3 and to every other
// AWS endpoint at once.
type scenario struct {
	name          string
	toxics        []toxic
	burst, period time.Duration // 503 SlowDown to every request for burst out of every period
	env           []string      // for the binaries
}

var scenarios = []scenario{
	{name: "latency", toxics: []toxic{
		{Type: "latency", Stream: "downstream", Toxicity: 1, Attributes: map[string]int{"latency": 40, "jitter": 30}},
		{Type: "latency", Stream: "upstream", Toxicity: 1, Attributes: map[string]int{"latency": 10, "jitter": 10}}}},
	{name: "bandwidth", toxics: []toxic{
		{Type: "bandwidth", Stream: "downstream", Toxicity: 1, Attributes: map[string]int{"rate": 256}},
		{Type: "bandwidth", Stream: "upstream", Toxicity: 1, Attributes: map[string]int{"rate": 256}}}},
	{name: "reset-mid-body", toxics: []toxic{
		// A quarter of connections are cut after 24 KiB of response, some
		// of them in the middle of a body; a tenth are reset soon after
		// the request starts flowing.
		{Type: "limit_data", Stream: "downstream", Toxicity: 0.25, Attributes: map[string]int{"bytes": 24 << 10}},
		{Type: "reset_peer", Stream: "upstream", Toxicity: 0.1, Attributes: map[string]int{"timeout": 5}}}},
	{name: "timeouts", toxics: []toxic{
		// Some connections go silent, then close after 2 s.
		{Type: "timeout", Stream: "downstream", Toxicity: 0.1, Attributes: map[string]int{"timeout": 2000}}}},
	{name: "stalls", env: []string{"CUSTODY_AWS_READ_TIMEOUT=3s"}, toxics: []toxic{
		// Some connections go silent and never close: only the client's
		// read timeout gets a call out of them.
		{Type: "timeout", Stream: "downstream", Toxicity: 0.05, Attributes: map[string]int{"timeout": 0}}}},
	{name: "slowdown-bursts", burst: 400 * time.Millisecond, period: 2 * time.Second},
	{name: "everything", burst: 200 * time.Millisecond, period: 3 * time.Second, toxics: []toxic{
		{Type: "latency", Stream: "downstream", Toxicity: 1, Attributes: map[string]int{"latency": 20, "jitter": 20}},
		{Type: "limit_data", Stream: "downstream", Toxicity: 0.1, Attributes: map[string]int{"bytes": 16 << 10}},
		{Type: "timeout", Stream: "downstream", Toxicity: 0.05, Attributes: map[string]int{"timeout": 1000}}}},
}

// ioKinds are verify findings that say "could not read", which a bad
// network may cause; any other failure under faults is a false alarm.
// (report-unreadable: verify printed no JSON document at all.) A verify
// the faults stopped altogether is no finding: it exits 3 and says
// "incomplete", concluding nothing; report-status catches a verify whose
// exit code and document disagree.
func ioKind(kind string) bool { return strings.HasSuffix(kind, "-unreadable") }

// TestFaults runs the agent's collectors, verify and recover through each
// scenario, then checks every invariant over a clean network.
func TestFaults(t *testing.T) {
	w := getWorld(t)
	c := s3Client(w.env)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			s3net := newFaultNet(t, "s3", w.env.S3Endpoint)
			awsnet := newFaultNet(t, "aws", w.env.Endpoint)
			faulty := append([]string{"AWS_ENDPOINT_URL_S3=" + s3net.URL, "AWS_ENDPOINT_URL=" + awsnet.URL}, sc.env...)
			ev := newEvidence(t, w, "@every 1h")
			d := newDamaged(t, c, 120)

			s3net.set(t, sc.toxics, sc.burst, sc.period)
			awsnet.set(t, sc.toxics, sc.burst, sc.period)
			start := time.Now()
			out, code := ev.run(t, faulty, w.custody, "collect", "--once")
			t.Logf("collect under %s: exit %d in %v", sc.name, code, time.Since(start).Round(time.Millisecond))
			if code != 0 {
				t.Logf("%s", tail(out, 1500))
			}
			r, vcode, vout := ev.verify(t, faulty)
			falseAlarms := 0
			for i, f := range r.failures() {
				if i < 5 {
					t.Logf("verify under %s: %s", sc.name, tail(f, 300))
				}
				if kind, _, _ := strings.Cut(f, " "); !ioKind(kind) {
					falseAlarms++
					t.Errorf("verify under %s reported a false failure: %s", sc.name, f)
				}
			}
			t.Logf("verify under %s: exit %d, %d findings", sc.name, vcode, len(r.Findings))
			switch {
			case vcode == 3:
				t.Logf("verify under %s could not complete: %s", sc.name, r.Error)
			case vcode == 2 || vcode < 0:
				t.Logf("%s", tail(vout, 800))
			}
			start = time.Now()
			rout, rcode := w.run(t, faulty, w.recover, "--bucket", d.bucket, "--since", d.target, "--remove-new", "--yes", "--ledger", ev.dir+"/journal.db")
			t.Logf("recover under %s: exit %d in %v", sc.name, rcode, time.Since(start).Round(time.Millisecond))
			job := ""
			if m := jobRE.FindStringSubmatch(rout); m != nil {
				job = m[1]
			}

			s3net.clear(t)
			awsnet.clear(t)
			if rcode != 0 {
				t.Logf("%s", tail(rout, 1500))
				d.recoverUntilDone(t, w, ev.dir+"/journal.db", job)
			}
			if out, code := ev.run(t, nil, w.custody, "collect", "--once"); code != 0 {
				t.Errorf("the next run, on a clean network: exit %d\n%s", code, tail(out, 2000))
			}
			inv := ev.check(t)
			for _, v := range inv.Violations {
				t.Errorf("invariant: %s", v)
			}
			recoverBad := d.check(t, c)
			for _, v := range recoverBad {
				t.Errorf("recover: %s", v)
			}
			t.Logf("SUMMARY fault %s: collect exit %d, verify exit %d (%d false failures), recover exit %d, %d+%d 503s sent; then %d manifests, %d sealed artifacts, %d invariant violations, %d recover violations",
				sc.name, code, vcode, falseAlarms, rcode, s3net.throttle.Throttled.Load(), awsnet.throttle.Throttled.Load(), inv.Manifests, inv.Sealed, len(inv.Violations), len(recoverBad))
		})
	}
}
