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
// standard tools. The README is one of the package's files, so it lists
// neither files nor sums: its commands are the same for every package and
// read package.json, index.json and SHA256SUMS. They trust nothing in the
// package until the signer is pinned by the key id the recipient received
// apart from it. signerKeyID is shown only as a 12-digit hint of which id
// to use: too short to be pasted as KEYID.
func recipientReadme(r *Report, prefix, signerKeyID string) []byte {
	hint := signerKeyID
	if len(hint) > 12 {
		hint = hint[:12]
	}
	head := fmt.Sprintf(readmeHead, r.Bucket, prefixSlash(prefix), r.VerifiedAt.UTC().Format(time.RFC3339), okText(r.OK),
		prefixSlash(prefix), dash(hint))
	// The text writes "~" for a backquote, which a Go raw string cannot
	// hold; no command in it uses "~".
	return []byte(strings.ReplaceAll(head+readmeChecks+readmeProofs, "~", "`"))
}

// readmeHead is the README's per-package part: where the evidence comes
// from and what the recipient needs before checking it.
const readmeHead = `# Evidence package

Exported from ~s3://%s/%s~ at %s. The sender's verification at export: %s.

| file | what |
|---|---|
| package.dsse.json | the package statement: the export event, signed by the sender's key, with the SHA-256 of package.json, SHA256SUMS, index.json, report.json and chain-of-custody.md |
| package.json | what the statement vouches for: the bucket, the selection, the verdict at export, each stream's head, every manifest and every file with its size and SHA-256 |
| SHA256SUMS | the SHA-256 of every file but package.dsse.json, package.json and SHA256SUMS itself |
| index.json | every object version: key, version id, size, the Object Lock retention and legal hold S3 reported, and its file here |
| keys/ | public keys, for convenience only: anyone can put a key here under any name, so a key proves nothing until its key id matches the one you were given |
| objects/ | the evidence, each file at its key in the bucket; manifests and checkpoints under ~objects/%smanifests/~ |
| report.json, chain-of-custody.md | the verification report at export, and every custody event: who, what, when, where, how, hash |

## Before you start: the signer's key id, from the sender, not from this package

You need one thing that does not come in this package: the **key id** of the sender's signing
key, 64 hex digits (the SHA-256 of the public key in DER form). ~custody export~ printed it for
the sender (~signer key id: ...~); get it from them by another channel: a phone call, a signed
letter, the case file. Never take it from this package: whoever could change the package could
change keys/, this README and chain-of-custody.md too. (This package says its signer's id starts
with ~%s~; that is a hint of which id to use, not a reason to trust it.)

Tools: bash, sha256sum, openssl, jq, base64, find, diff, tar. Optional: cosign (a second,
independent signature check) and custody (everything at once).

## Check it

The blocks below are one bash script: run them in order from this folder, with ~KEYID~ set to the
id you were given. It stops at the first failure with a message, and exits non-zero. For example:

~~~text
script=$(mktemp)
sed -n '/^~~~sh$/,/^~~~$/{/^~~~/d;p;}' README.md > "$script"
less "$script"   # read it first: this README came in the package too
KEYID=<the 64 hex digits you were given> bash "$script"
~~~

The commands are the same in every package custody writes; only the text above them differs.

`

// readmeChecks is the script, in fenced sh blocks run verbatim by the
// recipient (and by cmd/custody's bundle README test).
const readmeChecks = `### 1. The signer

The key in keys/ whose key id is the one you were given is the signer; every later step checks
signatures with that key only (a canonical copy of it, in a temporary folder). No such key: stop.

~~~sh
set -euo pipefail
: "${KEYID:?set KEYID to the signer key id the sender gave you by another channel (phone, signed letter, the case file), then run again}"
KEYID=$(printf '%s' "$KEYID" | tr 'A-F' 'a-f' | tr -d ' :')
KEYID=${KEYID#sha256}
if [ "${#KEYID}" -ne 64 ] || [ -n "$(printf '%s' "$KEYID" | tr -d '0-9a-f')" ]; then
  echo "FAILED: KEYID must be the 64 hex digits of the key id you were given" >&2
  exit 1
fi
if [ ! -f package.dsse.json ] || [ ! -d keys ]; then
  echo "FAILED: run these commands from the package's folder (the one holding package.dsse.json and keys/)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
key=
for k in keys/*.pub; do
  [ -f "$k" ] || continue
  if ! id=$(openssl pkey -pubin -in "$k" -outform DER | sha256sum); then
    echo "$k: not a public key, ignored"
    continue
  fi
  id=${id%% *}
  echo "$k: key id $id"
  if [ "$id" = "$KEYID" ]; then
    openssl pkey -pubin -in "$k" -out "$tmp/signer.pub"
    key=$tmp/signer.pub
  fi
done
if [ -z "$key" ]; then
  echo "FAILED: no key in keys/ has the key id $KEYID you were given: this package was not signed by that signer. Stop here." >&2
  exit 1
fi
echo "1. signer pinned: key id $KEYID"
~~~

### 2. Every file is as listed, and nothing was added

~~~sh
sha256sum -c SHA256SUMS
find . ! -type d | sed 's|^\./||' | LC_ALL=C sort > "$tmp/present"
{ printf '%s\n' package.dsse.json package.json SHA256SUMS; cut -c 67- SHA256SUMS; } | LC_ALL=C sort > "$tmp/listed"
if ! diff "$tmp/listed" "$tmp/present" > "$tmp/files.diff"; then
  echo "FAILED: files missing (<) or not listed in SHA256SUMS (>):" >&2
  cat "$tmp/files.diff" >&2
  exit 1
fi
echo "2. every file as listed in SHA256SUMS, none missing, none added"
~~~

### 3. The package statement

package.dsse.json is a DSSE envelope: the signature is over the "pre-authentication encoding"
~DSSEv1 <len(type)> <type> <len(payload)> <payload>~. The function below checks an envelope with
the pinned key and leaves its payload, an in-toto statement, in $tmp/payload.json. The statement
must be an export event whose subjects are this package's own files (the last segment of each
subject's name, a key in the bucket, is the file's name here), with their SHA-256.

~~~sh
dsse_payload() {
  jq -r .payload "$1" | base64 -d > "$tmp/payload.json"
  type=$(jq -r .payloadType "$1")
  if [ "$type" != "application/vnd.in-toto+json" ]; then
    echo "FAILED: $1: payload type $type, want application/vnd.in-toto+json" >&2
    return 1
  fi
  { printf 'DSSEv1 %d %s %d ' "${#type}" "$type" "$(wc -c < "$tmp/payload.json")"; cat "$tmp/payload.json"; } > "$tmp/pae.bin"
  jq -r '.signatures[0].sig' "$1" | base64 -d > "$tmp/sig.der"
  if ! openssl dgst -sha256 -verify "$key" -signature "$tmp/sig.der" "$tmp/pae.bin" > /dev/null; then
    echo "FAILED: $1 is not signed by the key $KEYID" >&2
    return 1
  fi
  if ! jq -e '._type == "https://in-toto.io/Statement/v1" and .predicateType == "https://github.com/custody-ir/custody/manifest/v1"' "$tmp/payload.json" > /dev/null; then
    echo "FAILED: $1 is not a custody manifest" >&2
    return 1
  fi
}
dsse_payload package.dsse.json
bucket=$(jq -r .bucket package.json)
if ! jq -e '.predicate.event == "export" and ([.subject[].name | split("/") | last] as $n | ["package.json", "SHA256SUMS", "index.json", "report.json", "chain-of-custody.md"] - $n == [])' "$tmp/payload.json" > /dev/null; then
  echo "FAILED: package.dsse.json is not the statement of an export: it does not list package.json, SHA256SUMS, index.json, report.json and chain-of-custody.md" >&2
  exit 1
fi
jq -r '.subject[] | "\(.digest.sha256)  \(.name | split("/") | last)"' "$tmp/payload.json" > "$tmp/package.sums"
sha256sum -c "$tmp/package.sums"
if ! jq -e --arg b "$bucket" '.predicate.bucket == $b' "$tmp/payload.json" > /dev/null; then
  echo "FAILED: the statement is about another bucket than package.json's $bucket" >&2
  exit 1
fi
if ! jq -e '.format == "custody-package/v1"' package.json > /dev/null; then
  echo "FAILED: package.json is not a custody-package/v1 statement" >&2
  exit 1
fi
jq -r '.files[] | "\(.sha256)  \(.name)"' package.json | LC_ALL=C sort > "$tmp/files.sums"
if ! LC_ALL=C sort SHA256SUMS | diff - "$tmp/files.sums" > /dev/null; then
  echo "FAILED: SHA256SUMS and package.json list different files" >&2
  exit 1
fi
if ! jq -e '.verdict.ok == true' package.json > /dev/null; then
  echo "FAILED: the sender's verification at export found failures in the store:" >&2
  jq -r '.verdict.failures[]? | "  \(.kind) \(.object): \(.message)"' package.json >&2
  exit 1
fi
echo "3. package statement signed by $KEYID, export of s3://$bucket, every statement file as signed"
jq -r '"   exported at \(.exportedAt); selection: case \(.selection.case // "-"), since \(.selection.since // "-"), until \(.selection.until // "-"): check that this is what you asked for"' package.json
~~~

### 4. Every manifest

Every manifest package.json lists is signed by the pinned key, is the manifest of the stream and
sequence package.json says, and belongs to the package's bucket. For the selected ones, every
subject (key and version id, mapped to its file through index.json) has the SHA-256 the manifest
signed.

~~~sh
jq -r '.manifests[] | [.file, .stream, (.sequence | tostring), (.selected | tostring)] | @tsv' package.json > "$tmp/manifests.tsv"
jq -c '[.objects[] | {key: ([.key, .versionId] | tojson), value: .file}] | from_entries' index.json > "$tmp/files.json"
subject_files='.subject[] | . as $s | ($f[0][[.name, .annotations.versionId] | tojson] // error("subject \($s.name) version \($s.annotations.versionId) is not in index.json"))'
manifests=0
subjects=0
while IFS=$'\t' read -r file stream seq selected <&3; do
  dsse_payload "$file"
  if ! jq -e --arg b "$bucket" --arg s "$stream" --argjson q "$seq" '.predicate.bucket == $b and .predicate.stream == $s and .predicate.sequence == $q' "$tmp/payload.json" > /dev/null; then
    echo "FAILED: $file is not manifest $seq of stream $stream in bucket $bucket" >&2
    exit 1
  fi
  manifests=$((manifests + 1))
  if [ "$selected" = true ]; then
    jq -r --slurpfile f "$tmp/files.json" "$subject_files"' as $file | if (.digest.sha256 // "" | test("^[0-9a-f]{64}$")) then "\(.digest.sha256)  \($file)" else error("subject \(.name): no SHA-256") end' "$tmp/payload.json" > "$tmp/subjects.sums"
    if [ -s "$tmp/subjects.sums" ]; then
      sha256sum -c "$tmp/subjects.sums"
      subjects=$((subjects + $(wc -l < "$tmp/subjects.sums")))
    fi
  fi
done 3< "$tmp/manifests.tsv"
echo "4. $manifests manifest(s) signed by $KEYID, in s3://$bucket; $subjects artifact(s) of the selected ones as signed"
~~~

### 5. The same signatures with cosign (optional)

cosign checks the statement over SHA256SUMS, and every subject of every selected manifest. No
transparency log is involved: the signer is the key pinned in step 1.

~~~sh
cosign=${COSIGN:-cosign}
if command -v "$cosign" > /dev/null; then
  "$cosign" verify-blob-attestation --insecure-ignore-tlog --key "$key" --type https://github.com/custody-ir/custody/manifest/v1 --signature package.dsse.json SHA256SUMS
  blobs=0
  while IFS=$'\t' read -r file stream seq selected <&3; do
    [ "$selected" = true ] || continue
    jq -r .payload "$file" | base64 -d | jq -r --slurpfile f "$tmp/files.json" "$subject_files" > "$tmp/blobs"
    while IFS= read -r blob <&4; do
      "$cosign" verify-blob-attestation --insecure-ignore-tlog --key "$key" --type https://github.com/custody-ir/custody/manifest/v1 --signature "$file" "$blob"
      blobs=$((blobs + 1))
    done 4< "$tmp/blobs"
  done 3< "$tmp/manifests.tsv"
  echo "5. cosign: the statement and $blobs artifact(s) verified with the key $KEYID"
else
  echo "5. cosign is not installed: skipped (steps 3 and 4 checked the same signatures)"
fi
~~~

### 6. The chain

Each stream the package holds is checked against the head package.json recorded at export.

- A stream with a log (~logRoot~ in package.json) holds only the selected manifests, each with
  an RFC 6962 inclusion proof: the package's checkpoint of the stream, signed with the pinned
  key, records the head's size and root, and each proof leads from its manifest's leaf hash
  (SHA-256 of 0x00 and the file) to that root.
- A stream without one (written before custody kept logs) holds every manifest from the first
  selected one to the head, each linked to the one before by the SHA-256 of its file.

~~~sh
h() { cat "$@" | openssl sha256 -binary; }
printf '\000' > "$tmp/zero.bin"
printf '\001' > "$tmp/one.bin"
# inclusion INDEX SIZE LEAF ROOT_B64 PROOF_B64...: RFC 9162's algorithm, in bash.
inclusion() {
  local fn=$1 sn=$(($2 - 1)) leaf=$3 root=$4 p
  shift 4
  cp "$leaf" "$tmp/r.bin"
  for p in "$@"; do
    [ "$sn" -gt 0 ] || return 1
    printf '%s' "$p" | base64 -d > "$tmp/p.bin"
    if [ $((fn & 1)) = 1 ] || [ "$fn" = "$sn" ]; then
      h "$tmp/one.bin" "$tmp/p.bin" "$tmp/r.bin" > "$tmp/n.bin"
      if [ $((fn & 1)) = 0 ]; then
        while [ $((fn & 1)) = 0 ] && [ "$fn" != 0 ]; do fn=$((fn >> 1)); sn=$((sn >> 1)); done
      fi
    else
      h "$tmp/one.bin" "$tmp/r.bin" "$tmp/p.bin" > "$tmp/n.bin"
    fi
    mv "$tmp/n.bin" "$tmp/r.bin"
    fn=$((fn >> 1))
    sn=$((sn >> 1))
  done
  [ "$sn" = 0 ] && [ "$(base64 -w0 < "$tmp/r.bin")" = "$root" ]
}
jq -r '.streams[] | select(.first > 0) | [.stream, (.first | tostring), (.head | tostring), .headEnvelopeSha256, (.logRoot // "")] | @tsv' package.json > "$tmp/streams.tsv"
while IFS=$'\t' read -r stream first head headsha root <&3; do
  if [ -n "$root" ]; then
    cpfile=$(jq -r --arg s "$stream" '.objects[] | select(.key | endswith("/manifests/" + $s + "/checkpoint")) | .file' index.json | head -n 1)
    if [ -z "$cpfile" ] || [ ! -f "$cpfile" ]; then
      echo "FAILED: stream $stream: the package holds no checkpoint" >&2
      exit 1
    fi
    awk '/^$/ { exit } { print }' "$cpfile" > "$tmp/note.txt"
    origin=$(head -n 1 "$tmp/note.txt")
    grep "^— $origin " "$cpfile" | head -n 1 | cut -d' ' -f3 | base64 -d | tail -c +5 > "$tmp/note.sig"
    if ! openssl dgst -sha256 -verify "$key" -signature "$tmp/note.sig" "$tmp/note.txt" > /dev/null; then
      echo "FAILED: stream $stream: $cpfile is not signed by the key you were given" >&2
      exit 1
    fi
    if [ "$(sed -n 2p "$tmp/note.txt")" != "$head" ] || [ "$(sed -n 3p "$tmp/note.txt")" != "$root" ]; then
      echo "FAILED: stream $stream: the checkpoint does not record the head package.json records ($head manifests, root $root)" >&2
      exit 1
    fi
    n=0
    while IFS=$'\t' read -r seq file proof <&4; do
      h "$tmp/zero.bin" "$file" > "$tmp/leaf.bin"
      # shellcheck disable=SC2086 # the proof is a list of hashes
      if ! inclusion $((seq - 1)) "$head" "$tmp/leaf.bin" "$root" $proof; then
        echo "FAILED: stream $stream: $file is not manifest $seq of the log the checkpoint signs" >&2
        exit 1
      fi
      n=$((n + 1))
    done 4< <(jq -r --arg s "$stream" '.manifests[] | select(.stream == $s) | [(.sequence | tostring), .file, ((.proof // []) | join(" "))] | @tsv' package.json)
    echo "6. stream $stream: $n manifest(s), each proven in its log of $head by the signed checkpoint"
    continue
  fi
  jq -r --arg s "$stream" '[.manifests[] | select(.stream == $s)] | sort_by(.sequence) | .[] | [(.sequence | tostring), .file] | @tsv' package.json > "$tmp/chain.tsv"
  want=$first
  prev=
  while IFS=$'\t' read -r seq file <&4; do
    if [ "$seq" != "$want" ]; then
      echo "FAILED: stream $stream: manifest $want is missing (the next one held is $seq)" >&2
      exit 1
    fi
    link=$(jq -r .payload "$file" | base64 -d | jq -r '.predicate.previousEnvelopeSha256 // ""')
    if { [ "$seq" = 1 ] && [ -n "$link" ]; } || { [ -n "$prev" ] && [ "$link" != "$prev" ]; }; then
      echo "FAILED: stream $stream: $file does not link to the manifest before it (previousEnvelopeSha256 ${link:-none}, want ${prev:-none})" >&2
      exit 1
    fi
    prev=$(sha256sum "$file")
    prev=${prev%% *}
    want=$((seq + 1))
  done 4< "$tmp/chain.tsv"
  if [ "$want" != "$((head + 1))" ] || [ "$prev" != "$headsha" ]; then
    echo "FAILED: stream $stream: the last manifest held is not the head recorded at export (manifest $head, SHA-256 $headsha)" >&2
    exit 1
  fi
  echo "6. stream $stream: manifests $first to $head, each linked to the one before, head as recorded"
done 3< "$tmp/streams.tsv"
~~~

### 7. Everything at once, with custody (optional)

~custody verify --bundle~ checks all of the above and more (checkpoints, timestamps, the Object
Lock metadata) on the .tar.gz this folder came from, with the same key id. It looks for the
package next to this folder; set PACKAGE to its path if it is elsewhere.

~~~sh
if command -v custody > /dev/null; then
  pkg=${PACKAGE:-}
  if [ -z "$pkg" ]; then
    for p in ../*.tar.gz ../*.tgz; do
      [ -f "$p" ] || continue
      entry=$(tar -tzf "$p" 2> /dev/null | head -n 1 || true)
      if [ "$entry" = "$(basename "$PWD")/package.dsse.json" ]; then
        pkg=$p
      fi
    done
  fi
  if [ -n "$pkg" ]; then
    custody verify --bundle "$pkg" --key-id "$KEYID"
    echo "7. custody verify --bundle $pkg --key-id $KEYID: OK"
  else
    echo "7. custody: the package file is not next to this folder; run: custody verify --bundle PACKAGE.tar.gz --key-id $KEYID"
  fi
else
  echo "7. custody is not installed: skipped"
fi
echo "OK: every check passed for the signer $KEYID"
~~~

`

// readmeProofs says what each check proves and what it does not.
const readmeProofs = `## What each check proves

| check | proves | does not prove |
|---|---|---|
| 1. the key id | the key in keys/ with the id you were given is the sender's signing key | anything, if the id came from this package: keys/, README.md and chain-of-custody.md prove nothing by themselves, since whoever changes the package can change them |
| 2. SHA256SUMS | every file is the one SHA256SUMS lists, and no file was added or removed | nothing alone: anyone can regenerate SHA256SUMS; step 3 ties it to the signer |
| 3. the package statement | the signer exported exactly this package.json, SHA256SUMS, index.json, report.json and chain-of-custody.md: the bucket, the selection, each stream's head and the verdict at export | that the signing key was never stolen, or what the store held before the manifests the package carries |
| 4. the manifests | every manifest was signed by the signer for this bucket, and every artifact of the selected ones has the bytes that were sealed | that an artifact's content is true, only that it is what was collected and sealed; artifacts of manifests that were not selected are not in the package |
| 5. cosign | the same signatures, with an independent implementation | when they were made: no transparency log is used |
| 6. the chain | no manifest of a stream was removed, reordered or replaced between the first one held and the head at export | anything about manifests before the first one held, or sealed after the export |
| 7. custody verify --bundle | all of the above, plus the checkpoints, trusted timestamps and Object Lock metadata | more than its own checks: it is the sender's tool, which is why steps 1 to 6 need only standard tools |

This README came in the package: read its commands before you run them. They are the same in every
package, so you can compare them with those of a package you exported yourself.
`

func prefixSlash(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}
