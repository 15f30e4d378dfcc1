package custody

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestUnitAndExampleConfigAgree checks the systemd unit and the example
// configuration put the agent's secrets and state in the same places: the
// key's passphrase is a systemd credential (never an environment variable,
// which /proc and `systemctl show` reveal), loaded from a root-only file,
// and signer.passphrase_file is where systemd puts that credential.
func TestUnitAndExampleConfigAgree(t *testing.T) {
	unitName := "custody-agent.service"
	unit := readLines(t, filepath.Join("..", "configs", unitName))
	service := map[string][]string{}
	section := ""
	for _, l := range unit {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "[") {
			section = l
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: a line that is no setting: %q", unitName, l)
		}
		if section == "[Service]" {
			service[k] = append(service[k], v)
		}
	}
	creds := service["LoadCredential"]
	if len(creds) != 1 {
		t.Fatalf("%s: LoadCredential= %q, want the passphrase's one", unitName, creds)
	}
	id, source, ok := strings.Cut(creds[0], ":")
	if !ok || id == "" || !filepath.IsAbs(source) || !strings.HasPrefix(source, "/etc/custody/") {
		t.Fatalf("%s: LoadCredential=%s, want ID:/etc/custody/FILE", unitName, creds[0])
	}
	for _, env := range service["Environment"] {
		if strings.Contains(strings.ToUpper(env), "PASSPHRASE") {
			t.Errorf("%s: Environment=%s: the passphrase must not be in the environment", unitName, env)
		}
	}
	if got := service["Environment"]; len(got) != 1 || got[0] != "CUSTODY_CONFIG=/etc/custody/custody.yaml" {
		t.Errorf("%s: Environment= %q", unitName, got)
	}

	cfg := readLines(t, filepath.Join("..", "configs", "agent.example.yaml"))
	want := "/run/credentials/" + unitName + "/" + id
	if got := yamlValue(t, cfg, "signer", "passphrase_file"); got != want {
		t.Errorf("agent.example.yaml: signer.passphrase_file %q, but the unit's credential %q is at %s", got, id, want)
	}
	// The ledger lives in the unit's state directory, the only place it
	// may write (ProtectSystem=strict).
	state := service["StateDirectory"]
	if len(state) != 1 {
		t.Fatalf("%s: StateDirectory= %q", unitName, state)
	}
	if got := yamlValue(t, cfg, "", "ledger"); filepath.Dir(got) != "/var/lib/"+state[0] {
		t.Errorf("agent.example.yaml: ledger %q is outside the unit's StateDirectory /var/lib/%s", got, state[0])
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// yamlValue returns the scalar at parent.key of the example configuration
// (block style, two-space indents; parent "" for a top-level key).
func yamlValue(t *testing.T, lines []string, parent, key string) string {
	t.Helper()
	in := parent == ""
	indent := ""
	if parent != "" {
		indent = "  "
	}
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "#") || strings.TrimSpace(l) == "" {
			continue
		}
		if parent != "" && !strings.HasPrefix(l, " ") {
			in = l == parent+":"
			continue
		}
		if in && strings.HasPrefix(l, indent+key+":") && !strings.HasPrefix(l, indent+" ") {
			v := strings.TrimSpace(strings.TrimPrefix(l, indent+key+":"))
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			return v
		}
	}
	t.Fatalf("no %s.%s in the example configuration", parent, key)
	return ""
}
