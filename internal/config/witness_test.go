package config

import (
	"strings"
	"testing"
)

func TestValidateWitnesses(t *testing.T) {
	good := Witness{Name: "witness.example/w1", Bucket: "witness-bucket", Region: "eu-west-1", Public: "file:///etc/custody/w1.pub", Key: "file:///etc/custody/w1.pem"}
	c := valid()
	c.Witnesses = []Witness{good}
	if ps := Validate(c); len(ps) != 0 {
		t.Fatal(ps)
	}
	if good.KeyPrefix() != "witness" || good.PassphraseEnvOrDefault() != "CUSTODY_KEY_PASSPHRASE" {
		t.Fatalf("defaults: prefix %q, passphrase_env %q", good.KeyPrefix(), good.PassphraseEnvOrDefault())
	}
	cases := []struct {
		path   string
		mutate func(*Witness)
	}{
		{"witnesses[1].name", func(w *Witness) { w.Name = "has space" }},
		{"witnesses[1].name", func(w *Witness) { w.Name = "witness.example/w1" }}, // the same name twice
		{"witnesses[1].bucket", func(w *Witness) { w.Bucket = "Bad_Bucket" }},
		{"witnesses[1].bucket", func(w *Witness) { w.Bucket = "evidence" }}, // the store itself
		{"witnesses[1].region", func(w *Witness) { w.Region = "euwest1" }},
		{"witnesses[1].endpoint", func(w *Witness) { w.Endpoint = "127.0.0.1:9000" }},
		{"witnesses[1].prefix", func(w *Witness) { w.Prefix = "/abs/" }},
		{"witnesses[1].public", func(w *Witness) { w.Public = "" }},
		{"witnesses[1].public", func(w *Witness) { w.Public = "file://relative.pub" }},
		{"witnesses[1].key", func(w *Witness) { w.Key = "awskms:///alias/w" }},
		{"witnesses[1].passphrase_env", func(w *Witness) { w.Key, w.PassphraseEnv = "", "W" }},
	}
	for _, tc := range cases {
		w := good
		w.Name = "witness.example/w2"
		tc.mutate(&w)
		c := valid()
		c.Witnesses = []Witness{good, w}
		ps := Validate(c)
		var paths []string
		for _, p := range ps {
			paths = append(paths, p.Path)
		}
		if !strings.Contains(strings.Join(paths, " "), tc.path) {
			t.Errorf("%s: problems %v", tc.path, ps)
		}
	}
}
