package contain

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/custody-ir/custody/collector"
)

// FreezeSid names the statement freeze adds to a bucket policy.
const FreezeSid = "CustodyFreeze"

// frozenActions are what the freeze denies every principal but the
// allowed ones: object writes and deletes (of any version, of retention,
// legal holds and tags, and replicas written into it), and the bucket settings that would undo the
// freeze or race a restore (policy, lifecycle, replication, versioning,
// public access, Object Lock, encryption, the bucket itself). Deleting a
// lifecycle or replication configuration, or a public access block, needs
// the Put permission of the same name.
var frozenActions = []string{
	"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
	"s3:PutObjectAcl", "s3:PutObjectVersionAcl",
	"s3:PutObjectRetention", "s3:PutObjectLegalHold", "s3:BypassGovernanceRetention",
	"s3:PutObjectTagging", "s3:DeleteObjectTagging",
	// A version's tags and ACL need their own permissions on AWS (a deny
	// of PutObjectTagging leaves PutObjectTagging?versionId= open); a
	// replication rule of another bucket writes replicas and delete
	// markers into this one with the Replicate* permissions.
	"s3:PutObjectVersionTagging", "s3:DeleteObjectVersionTagging",
	"s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags",
	"s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
	"s3:PutLifecycleConfiguration", "s3:PutReplicationConfiguration",
	"s3:PutBucketVersioning", "s3:PutBucketAcl", "s3:PutBucketPublicAccessBlock",
	"s3:PutBucketObjectLockConfiguration", "s3:PutEncryptionConfiguration",
	"s3:DeleteBucket",
}

// Allowed is a principal the freeze lets through: the ARN the responder
// named and the aws:userid pattern that matches it. A role's unique id
// (AROA...) matches every session of that role ("AROA...:*"); a user's
// (AIDA...) matches the user. Unique ids, not ARNs: a role deleted and
// re-created under the same name gets a new id, and is not let through.
type Allowed struct {
	ARN    string `json:"arn"`
	UserID string `json:"userIdPattern"`
	// Caller marks the identity freeze ran as, allowed so that it can
	// unfreeze.
	Caller bool `json:"caller,omitempty"`
}

// FreezeStatement is the deny statement freeze adds to the bucket policy:
// its resources are the bucket's ARNs in partition (the caller's,
// CallerPartition), since a statement naming arn:aws:s3::: in GovCloud or
// China matches nothing.
func FreezeStatement(partition, bucket string, allowed []Allowed) map[string]any {
	ids := make([]string, 0, len(allowed))
	for _, a := range allowed {
		ids = append(ids, a.UserID)
	}
	sort.Strings(ids)
	return map[string]any{
		"Sid":       FreezeSid,
		"Effect":    "Deny",
		"Principal": "*",
		"Action":    append([]string(nil), frozenActions...),
		"Resource":  bucketARNs(partition, bucket),
		"Condition": map[string]any{"StringNotLike": map[string]any{"aws:userid": ids}},
	}
}

// policyDoc is a bucket policy as generic JSON.
type policyDoc map[string]any

func parseBucketPolicy(s string) (policyDoc, error) {
	if strings.TrimSpace(s) == "" {
		return policyDoc{"Version": "2012-10-17", "Statement": []any{}}, nil
	}
	var d policyDoc
	// Numbers as written: a condition's number must not come back as a
	// rounded float in the frozen policy.
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("the bucket policy is not JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("the bucket policy is not one JSON object")
	}
	if k := duplicateKey(s); k != "" {
		return nil, fmt.Errorf("the bucket policy has the key %q twice in one object: ambiguous (IAM and custody could read different values); rewrite it without the duplicate", k)
	}
	if d == nil {
		return nil, fmt.Errorf("the bucket policy is not a JSON object")
	}
	return d, nil
}

// statements are a policy's statements (a single one may be written
// without the list).
func (d policyDoc) statements() []any {
	switch s := d["Statement"].(type) {
	case []any:
		return s
	case map[string]any:
		return []any{s}
	}
	return nil
}

// sid is a statement's Sid.
func sid(st any) string {
	m, _ := st.(map[string]any)
	s, _ := m["Sid"].(string)
	return s
}

// withFreeze is the policy with the freeze statement added. A statement
// already named FreezeSid that is not freeze's own is refused: custody
// did not write it, and a look-alike must not pass for a freeze.
func withFreeze(policy string, stmt map[string]any) (string, error) {
	d, err := parseBucketPolicy(policy)
	if err != nil {
		return "", err
	}
	var out []any
	for _, st := range d.statements() {
		if sid(st) != FreezeSid {
			out = append(out, st)
			continue
		}
		if !sameStatement(st, stmt) {
			return "", fmt.Errorf("the bucket policy already has a statement %q that custody did not write (or that was changed): inspect it and remove it before freezing", FreezeSid)
		}
	}
	d["Statement"] = append(out, stmt)
	if _, ok := d["Version"]; !ok {
		d["Version"] = "2012-10-17"
	}
	b, err := json.Marshal(d)
	return string(b), err
}

// hasFreeze reports whether policy holds exactly freeze's statement.
func hasFreeze(policy string, stmt map[string]any) bool {
	d, err := parseBucketPolicy(policy)
	if err != nil {
		return false
	}
	for _, st := range d.statements() {
		if sid(st) == FreezeSid && sameStatement(st, stmt) {
			return true
		}
	}
	return false
}

// samePolicy reports whether two policies mean the same, the way S3
// servers rewrite them: lists in any order, a single value with or
// without its list, "*" or {"AWS": "*"} for everyone.
func samePolicy(a, b string) bool {
	if strings.TrimSpace(a) == "" || strings.TrimSpace(b) == "" {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	return canonical(normalize("", x)) == canonical(normalize("", y))
}

func sameStatement(a, b any) bool {
	return canonical(normalize("Statement", a)) == canonical(normalize("Statement", b))
}

// normalize rewrites a policy value into one form: every list sorted (by
// each element's canonical form), single strings as one-element lists,
// and the everyone principal as "*".
func normalize(field string, v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if m, ok := x.(map[string]any); ok && k == "Statement" {
				x = []any{m} // a single statement, without its list
			}
			out[k] = normalize(k, x)
		}
		if field == "Statement" {
			if p, ok := out["Principal"]; ok && everyone(p) {
				out["Principal"] = "*"
			}
		}
		return out
	case []any:
		items := make([]any, len(t))
		for i, x := range t {
			if str, ok := x.(string); ok {
				items[i] = str // a list's strings stay strings
			} else {
				items[i] = normalize(field, x)
			}
		}
		sort.Slice(items, func(i, j int) bool { return canonical(items[i]) < canonical(items[j]) })
		return items
	case []string:
		items := make([]any, len(t))
		for i, x := range t {
			items[i] = x
		}
		return normalize(field, items)
	case string:
		if field == "Version" || field == "Sid" || field == "Effect" || field == "Id" || field == "Principal" {
			return t
		}
		return []any{t}
	}
	return v
}

// everyone reports whether a (normalized) principal is everyone.
func everyone(p any) bool {
	switch t := p.(type) {
	case string:
		return t == "*"
	case map[string]any:
		if len(t) != 1 {
			return false
		}
		aws, ok := t["AWS"]
		if !ok {
			return false
		}
		switch a := aws.(type) {
		case string:
			return a == "*"
		case []any:
			return len(a) == 1 && a[0] == "*"
		}
	}
	return false
}

func canonical(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// policyChanges lists how policy now differs from policy then, statement
// by statement (by Sid, or by content for statements without one).
func policyChanges(then, now string) []string {
	a, errA := parseBucketPolicy(then)
	b, errB := parseBucketPolicy(now)
	if errA != nil || errB != nil {
		return []string{"policy: " + short(then) + " -> " + short(now)}
	}
	index := func(d policyDoc) map[string]string {
		m := map[string]string{}
		for _, st := range d.statements() {
			c := canonical(normalize("Statement", st))
			name := sid(st)
			if name == "" {
				name = c
			}
			m[name] = c
		}
		return m
	}
	x, y := index(a), index(b)
	var out []string
	for name, c := range x {
		switch d, ok := y[name]; {
		case !ok:
			out = append(out, fmt.Sprintf("policy: statement %s removed", short(name)))
		case d != c:
			out = append(out, fmt.Sprintf("policy: statement %s changed: %s -> %s", short(name), short(c), short(d)))
		}
	}
	for name, d := range y {
		if _, ok := x[name]; !ok {
			out = append(out, fmt.Sprintf("policy: statement %s added: %s", short(name), short(d)))
		}
	}
	if len(out) == 0 {
		out = append(out, "policy: "+short(then)+" -> "+short(now))
	}
	sort.Strings(out)
	return out
}

// maxPolicyBytes is S3's limit on a bucket policy's size.
const maxPolicyBytes = 20 << 10

// opensToEveryone reports whether a policy allows something to everyone
// without a condition: an exposure, which unfreeze would put back. An
// Allow names everyone with "Principal": "*", with {"AWS": "*"} (alone or
// among others), or with NotPrincipal (everyone it does not name); the
// principals are read as collector.TrustedPrincipals reads them. An Allow
// with a Condition is not counted. A policy that cannot be read (not
// JSON, a key twice in one object, a principal or condition of no known
// form) is an error: whom it opens to is unknown, which is no answer of
// "not open".
func opensToEveryone(policy string) (bool, error) {
	if strings.TrimSpace(policy) == "" {
		return false, nil
	}
	if _, err := parseBucketPolicy(policy); err != nil {
		return false, err
	}
	ps, err := collector.UnconditionalPrincipals([]byte(policy))
	if slices.Contains(ps, collector.PrincipalEveryone) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("the bucket policy cannot be read whole: %w", err)
	}
	return false, nil
}

// duplicateKey is the first key found twice in one object of the JSON
// document s ("" when none, or when s is not JSON): Go keeps the last
// value, another parser may keep the first, so a statement such as
// {"Effect": "Allow", ..., "Effect": "Deny"} must not be read at all.
func duplicateKey(s string) string {
	dec := json.NewDecoder(strings.NewReader(s))
	var walk func() string
	walk = func() string {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return ""
				}
				key, _ := k.(string)
				if seen[key] {
					return key
				}
				seen[key] = true
				if d := walk(); d != "" {
					return d
				}
			}
			_, _ = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if d := walk(); d != "" {
					return d
				}
			}
			_, _ = dec.Token()
		}
		return ""
	}
	return walk()
}
