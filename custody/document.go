package custody

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// CustodyDocument renders the chain-of-custody document of a report: a
// table of every custody event (who, what, when, where, how, hash) and the
// artifacts of the selected events.
func CustodyDocument(r *Report) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Chain of custody\n\n")
	fmt.Fprintf(&b, "Evidence store: `s3://%s/%s`  \nVerified: %s  \nResult: **%s** (%d failure(s), %d finding(s) in all)\n\n",
		r.Bucket, r.Prefix, r.VerifiedAt.Format(time.RFC3339), okText(r.OK), r.Findings.Failures(), len(r.Findings))
	if s := r.Selection; !s.Since.IsZero() || !s.Until.IsZero() || s.Case != "" {
		fmt.Fprintf(&b, "Selection: case `%s`, since %s, until %s\n\n", dash(s.Case), timeOrDash(s.Since), timeOrDash(s.Until))
	}
	fmt.Fprintf(&b, "## Signing keys\n\n| name | key id (SHA-256 of the public key, DER) |\n|---|---|\n")
	for _, k := range r.Keys {
		fmt.Fprintf(&b, "| %s | `%s` |\n", k.Name, k.KeyID)
	}
	fmt.Fprintf(&b, "\n## Events\n\nEach row is one signed manifest; each links to the one before it by the hash of its envelope.\n\n")
	fmt.Fprintf(&b, "| stream | # | event | who | what | when (UTC) | where | how | envelope SHA-256 |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range r.Manifests {
		who := m.Who.Principal
		if who == "" {
			who = m.Who.Operator
		}
		who = strings.TrimSpace(who + " on " + m.Who.Host)
		what := fmt.Sprintf("%s, %d artifact(s)", m.Collector, m.SubjectCount)
		if m.Case != "" {
			what += ", case " + m.Case
		}
		where := strings.Trim(m.Where.Account+" "+m.Where.Region, " ")
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | signed by %s (%s) | `%s` |\n",
			m.Stream, m.Sequence, m.Event, cell(who), cell(what), m.SealedAt.Format(time.RFC3339), cell(dash(where)), dash(m.SignedBy), m.Who.Software, m.EnvelopeSHA256)
	}
	fmt.Fprintf(&b, "\n## Artifacts\n\n| stream | # | key | version | SHA-256 | bytes | retained until |\n|---|---|---|---|---|---|---|\n")
	for _, m := range r.Manifests {
		if !m.Selected {
			continue
		}
		subs := append([]Subject(nil), m.Subjects()...)
		sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
		for _, s := range subs {
			fmt.Fprintf(&b, "| %s | %d | `%s` | `%s` | `%s` | %d | %s %s |\n", m.Stream, m.Sequence, cell(s.Name), s.Annotations.VersionID,
				s.Digest["sha256"], s.Annotations.Size, s.Annotations.RetentionMode, s.Annotations.RetainUntil.Format(time.RFC3339))
		}
	}
	if len(r.Findings) > 0 {
		fmt.Fprintf(&b, "\n## Findings\n\n| severity | kind | object | message |\n|---|---|---|---|\n")
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "| %s | %s | `%s` | %s |\n", f.Severity, f.Kind, cell(f.Object), cell(f.Message))
		}
	}
	return []byte(b.String())
}

func okText(ok bool) string {
	if ok {
		return "all evidence intact, signed, locked and complete"
	}
	return "FAILED"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func cell(s string) string { return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s) }

// recipientReadme tells the recipient how to check the package with
// standard tools, with the exact commands for this package.
func recipientReadme(r *Report, bi BundleIndex) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `# Evidence package

Exported from s3://%s/%s on %s. Verification at export: %s.

| file | what |
|---|---|
| objects/ | the evidence, each file at its key in the evidence bucket; manifests and checkpoints under objects/%smanifests/ |
| index.json | every object: key, version id, size, and the Object Lock retention and legal hold S3 reported at export |
| keys/ | the public keys that signed the manifests (compare their key ids with the ones you were given) |
| report.json | the verification report at export (custody verify --json) |
| chain-of-custody.md | every custody event: who, what, when, where, how, hash |
| SHA256SUMS | the SHA-256 of every other file |

## Check it

1. Every file is as exported:

       sha256sum -c SHA256SUMS

2. Each manifest is a DSSE envelope over an in-toto statement whose subjects are the evidence
   files. With cosign (no transparency log is involved):

`, r.Bucket, r.Prefix, r.VerifiedAt.Format(time.RFC3339), okText(r.OK), strings.TrimSuffix(prefixSlash(bi.Prefix), "/")+"/")
	shown := 0
	for _, m := range r.Manifests {
		if !m.Selected || len(m.Subjects()) == 0 || shown >= 3 {
			continue
		}
		key := keyFor(r, m.SignedBy)
		s := m.Subjects()[0]
		fmt.Fprintf(&b, "       cosign verify-blob-attestation --insecure-ignore-tlog \\\n         --key keys/%s \\\n         --type %s \\\n         --signature objects/%s \\\n         objects/%s\n\n",
			key, PredicateType, m.Key, s.Name)
		shown++
	}
	fmt.Fprintf(&b, `   (repeat for every subject: the statement lists them, with their SHA-256.)

3. The same signature check with OpenSSL and jq alone. DSSE signs the "pre-authentication
   encoding" of the payload: "DSSEv1 <len(type)> <type> <len(payload)> <payload>".

       env=objects/<manifest>.dsse.json
       jq -r .payload "$env" | base64 -d > payload.json
       type=$(jq -r .payloadType "$env")
       { printf 'DSSEv1 %%d %%s %%d ' "${#type}" "$type" "$(wc -c < payload.json)"; cat payload.json; } > pae.bin
       jq -r '.signatures[0].sig' "$env" | base64 -d > sig.der
       openssl dgst -sha256 -verify keys/<key>.pub -signature sig.der pae.bin
       jq -r '.subject[] | "\(.digest.sha256)  objects/\(.name)"' payload.json | sha256sum -c

4. The chain: in each payload, predicate.sequence counts up from 1 without gaps within a stream,
   and predicate.previousEnvelopeSha256 is the SHA-256 of the previous manifest file:

       sha256sum objects/<prefix>/manifests/<stream>/000000000001.dsse.json

5. Everything at once, offline, with custody:

       custody verify --bundle <this file>.tar.gz
`)
	return []byte(b.String())
}

func prefixSlash(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

func keyFor(r *Report, name string) string {
	for _, k := range r.Keys {
		if k.Name == name {
			return keyFileName(k)
		}
	}
	return "<key>.pub"
}
