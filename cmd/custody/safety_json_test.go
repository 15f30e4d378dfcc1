package main

import (
	"encoding/json"
	"regexp"
	"testing"
)

var camelKey = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// badKeys returns the object keys in v that are not camelCase, with their
// paths; the values of "metadata" are the source's own keys, not names.
func badKeys(path string, v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if !camelKey.MatchString(k) {
				out = append(out, path+"."+k)
			}
			if k == "metadata" {
				continue
			}
			out = append(out, badKeys(path+"."+k, e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, badKeys(path+"[]", e)...)
		}
	}
	return out
}

// TestSafetyJSONKeysCamelCase: store init, store check and add print JSON
// whose every key is camelCase, as verify's report does.
func TestSafetyJSONKeysCamelCase(t *testing.T) {
	s := newSafetyStore(t)
	for _, args := range [][]string{
		{"store", "init"},
		{"store", "check"},
		{"add", "--case", "IR-1", s.file(t, "a.txt", "a")},
	} {
		out, errOut, code := run(t, append([]string{"--json", "-c", s.cfg}, args...)...)
		if code != 0 {
			t.Fatalf("%v --json: exit %d\n%s%s", args, code, out, errOut)
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v --json: %v\n%s", args, err, out)
		}
		if _, ok := v.(map[string]any); !ok {
			t.Fatalf("%v --json: not an object:\n%s", args, out)
		}
		if bad := badKeys("", v); len(bad) > 0 {
			t.Errorf("%v --json: keys not camelCase: %v\n%s", args, bad, out)
		}
	}
}
