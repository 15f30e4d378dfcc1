package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestCollectDiscoversOnlyWhatIsSelected: with CloudTrail unreachable and
// no trails listed, collecting the version lists never asks CloudTrail;
// collecting everything reports the failed trail discovery as that
// source's failed (sealed) run while the others succeed, and exits 1.
func TestCollectDiscoversOnlyWhatIsSelected(t *testing.T) {
	f := newCustodyFixture(t)
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", deadEndpoint(t))
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	cfg := f.config(t, "{stream: discovery-test}", `{config: "", iam: "", kms: "", findings: "", accesslogs: ""}`) // cloudtrail, posture, versions: the defaults

	out, errOut, code := run(t, "-c", cfg, "collect", "--once", "--collector", "versions")
	if code != 0 || !strings.Contains(out, "versions:"+f.src) || strings.Contains(out+errOut, "cloudtrail") || strings.Contains(out, "posture:") {
		t.Fatalf("collect --once --collector versions with CloudTrail unreachable: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = run(t, "-c", cfg, "collect", "--once")
	if code != 1 {
		t.Fatalf("collect --once with CloudTrail unreachable: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^posture:` + regexp.QuoteMeta(f.src) + ` .*: ok$`),
		regexp.MustCompile(`(?m)^versions:` + regexp.QuoteMeta(f.src) + ` .*: ok$`),
		regexp.MustCompile(`(?m)^cloudtrail:123456789012/us-east-1 +run \S+ manifest [1-9]\d*, \d+ artifact\(s\), 0 finding\(s\): FAILED: .*DescribeTrails`),
	} {
		if !want.MatchString(out) {
			t.Errorf("collect --once: no line matching %s in\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "DescribeTrails") {
		t.Errorf("collect --once: the error does not name DescribeTrails:\n%s", errOut)
	}
	// Every run sealed, the failed discovery's included: 1 + 3 manifests.
	if out, errOut, code := run(t, "-c", cfg, "verify"); code != 0 || !strings.Contains(out, "4 manifest(s)") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}

	// A name no configured collector has is a usage error.
	if _, _, code := run(t, "-c", cfg, "collect", "--once", "--collector", "posture:no-such-bucket"); code != 2 {
		t.Fatalf("collect --collector posture:no-such-bucket: exit %d, want 2", code)
	}
}
