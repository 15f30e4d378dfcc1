package custody

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReportJSONEmptyListsAreArrays(t *testing.T) {
	b, err := json.Marshal(&Report{OK: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`"findings":[]`, `"manifests":[]`, `"keys":[]`} {
		if !strings.Contains(string(b), f) {
			t.Errorf("%s missing from %s", f, b)
		}
	}
	if strings.Contains(string(b), "null") {
		t.Errorf("null in %s", b)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || !back.OK {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}
