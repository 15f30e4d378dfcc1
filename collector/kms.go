package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/ledger"
)

// kmsAPI is every KMS read the key snapshot makes; none writes.
type kmsAPI interface {
	DescribeKey(context.Context, *kms.DescribeKeyInput, ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
	GetKeyPolicy(context.Context, *kms.GetKeyPolicyInput, ...func(*kms.Options)) (*kms.GetKeyPolicyOutput, error)
	ListGrants(context.Context, *kms.ListGrantsInput, ...func(*kms.Options)) (*kms.ListGrantsOutput, error)
	GetKeyRotationStatus(context.Context, *kms.GetKeyRotationStatusInput, ...func(*kms.Options)) (*kms.GetKeyRotationStatusOutput, error)
}

var _ kmsAPI = (*kms.Client)(nil)

// bucketEncryptionAPI reads a bucket's default encryption.
type bucketEncryptionAPI interface {
	GetBucketEncryption(context.Context, *s3.GetBucketEncryptionInput, ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error)
}

var _ bucketEncryptionAPI = (*s3.Client)(nil)

// trailsAPI lists the region's trails (and the KMS key each encrypts with).
type trailsAPI interface {
	DescribeTrails(context.Context, *ct.DescribeTrailsInput, ...func(*ct.Options)) (*ct.DescribeTrailsOutput, error)
}

var _ trailsAPI = (*ct.Client)(nil)

// KMSKeys snapshots the KMS keys an account's region uses for what custody
// watches: each monitored bucket's default encryption key, each trail's
// key, and the keys the configuration names. For each: its metadata
// (state, deletion date), key policy, grants and rotation; changes
// between snapshots are findings.
type KMSKeys struct {
	API     kmsAPI
	S3      bucketEncryptionAPI // for Buckets
	Trails  trailsAPI           // nil: trails are not collected
	Buckets []string            // the monitored buckets of this region
	// TrailNames keeps only these trails (every trail of the region when
	// empty).
	TrailNames []string
	Keys       []string // key ids, ARNs or aliases named in the configuration
	Ledger     *ledger.Ledger
	Account    string
	Region     string
	Prefix     string
	Now        func() time.Time
}

func (c *KMSKeys) Name() string { return "kms:" + c.Account + "/" + c.Region }
func (c *KMSKeys) Kind() string { return "kms" }

// KMSSnapshot is the keys of one account's region at one time.
type KMSSnapshot struct {
	Account string      `json:"account"`
	Region  string      `json:"region"`
	TakenAt time.Time   `json:"takenAt"`
	Uses    []KMSKeyUse `json:"uses"`
	Keys    []KMSKey    `json:"keys"`
}

// KMSKeyUse is where a key was found named: a bucket's default
// encryption, a trail, or the configuration.
type KMSKeyUse struct {
	Source string `json:"source"`           // s3://bucket, cloudtrail:name, config
	KeyID  string `json:"keyId"`            // as named there
	KeyARN string `json:"keyArn,omitempty"` // as DescribeKey resolved it
	Error  string `json:"error,omitempty"`
}

// KMSKey is one key's settings, each as KMS answered for it.
type KMSKey struct {
	ARN      string   `json:"arn"`
	UsedBy   []string `json:"usedBy"`
	Metadata Setting  `json:"metadata"`
	Policy   Setting  `json:"policy"`
	Grants   Setting  `json:"grants"`
	Rotation Setting  `json:"rotation"`
}

// kmsCursor is what the ledger keeps of the newest sealed snapshot.
type kmsCursor struct {
	TakenAt time.Time         `json:"takenAt"`
	Items   map[string]string `json:"items"`
}

// Collect finds the keys, reads them, stores the snapshot and reports
// changes; the baseline moves forward only once the manifest is sealed.
func (c *KMSKeys) Collect(ctx context.Context, run Run) (Outcome, error) {
	scope := c.Account + "/" + c.Region
	snap := KMSSnapshot{Account: c.Account, Region: c.Region, TakenAt: c.Now().UTC(), Uses: []KMSKeyUse{}, Keys: []KMSKey{}}
	out := Outcome{Account: c.Account, Region: c.Region, WindowStart: snap.TakenAt, Description: "KMS keys of account " + c.Account + " in " + c.Region}
	object := "kms:" + scope
	unreadable := func(obj, msg string, err error) {
		fd := custody.Finding{Severity: custody.SeverityWarning, Kind: finding.KMSKeyUnreadable, Object: obj, Message: msg}
		if err != nil {
			fd.Message += ": " + readError(err)
			fd.Remedy = awsclient.CollectorRole.Grant(err)
		}
		out.Findings = append(out.Findings, fd)
	}
	uses := c.findUses(ctx, unreadable)
	byARN := map[string]*KMSKey{}
	var order []string
	for i := range uses {
		u := &uses[i]
		o, err := c.API.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(u.KeyID)})
		if err != nil {
			u.Error = readError(err)
			unreadable(object, fmt.Sprintf("key %s (used by %s)", u.KeyID, u.Source), err)
			continue
		}
		u.KeyARN = aws.ToString(o.KeyMetadata.Arn)
		k, ok := byARN[u.KeyARN]
		if !ok {
			k = &KMSKey{ARN: u.KeyARN, UsedBy: []string{}, Metadata: classify(o.KeyMetadata, nil, nil)}
			byARN[u.KeyARN] = k
			order = append(order, u.KeyARN)
		}
		if !contains(k.UsedBy, u.Source) {
			k.UsedBy = append(k.UsedBy, u.Source)
		}
	}
	sort.Strings(order)
	for _, arn := range order {
		k := byARN[arn]
		c.readKey(ctx, k)
		for name, s := range map[string]Setting{"GetKeyPolicy": k.Policy, "ListGrants": k.Grants, "GetKeyRotationStatus": k.Rotation} {
			switch s.State {
			case StateDenied:
				unreadable("kms:"+arn, name+": access denied", nil)
				out.Findings[len(out.Findings)-1].Remedy = awsclient.CollectorRole.Advice(s.Permission)
			case StateError:
				unreadable("kms:"+arn, name+": "+s.Error, nil)
			}
		}
		snap.Keys = append(snap.Keys, *k)
	}
	snap.Uses = uses
	for _, k := range snap.Keys {
		out.Sources = append(out.Sources, "kms:"+k.ARN)
	}
	body, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		return out, err
	}
	key := custody.ArtifactKey(c.Prefix, c.Account, c.Region, "kms", snap.TakenAt, run.RunID(), c.Region+".kms.json")
	if _, err := run.Put(ctx, key, bytes.NewReader(body), custody.PutOptions{Kind: "kms", Account: c.Account, Region: c.Region,
		Source: "kms:" + scope, ContentType: "application/json"}); err != nil {
		return out, err
	}
	out.WindowEnd = c.Now().UTC()

	var prev map[string]string
	if raw, err := c.Ledger.Cursor(ctx, "kms", scope); err == nil {
		var p kmsCursor
		if json.Unmarshal([]byte(raw), &p) == nil && p.Items != nil {
			prev = p.Items
		}
	}
	items := KMSItems(snap, prev)
	changes := diffState(prev, items)
	out.Findings = append(out.Findings, kmsFindings(prev, changes)...)
	cursor, err := json.Marshal(kmsCursor{TakenAt: snap.TakenAt, Items: items})
	if err != nil {
		return out, err
	}
	out.AfterSeal(func(ctx context.Context) error {
		if err := c.Ledger.RecordStateChanges(ctx, ledgerChanges("kms", scope, snap.TakenAt, run.RunID(), changes, kmsRisk)); err != nil {
			return err
		}
		return c.Ledger.SetCursor(ctx, "kms", scope, string(cursor))
	})
	return out, nil
}

// findUses lists the keys named by the buckets' default encryption, the
// trails and the configuration, in that order.
func (c *KMSKeys) findUses(ctx context.Context, unreadable func(obj, msg string, err error)) []KMSKeyUse {
	var uses []KMSKeyUse
	for _, b := range c.Buckets {
		o, err := c.S3.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(b)})
		s := classify(o, err, []string{"ServerSideEncryptionConfigurationNotFoundError"})
		switch s.State {
		case StatePresent:
			for _, id := range BucketKeyIDs(o) {
				uses = append(uses, KMSKeyUse{Source: "s3://" + b, KeyID: id})
			}
		case StateDenied, StateError:
			unreadable("s3://"+b, "default encryption (which KMS key the bucket uses)", err)
		}
	}
	if c.Trails != nil {
		o, err := c.Trails.DescribeTrails(ctx, &ct.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
		if err != nil {
			unreadable("kms:"+c.Account+"/"+c.Region, "the trails' KMS keys", err)
		} else {
			for _, t := range o.TrailList {
				name, home := aws.ToString(t.Name), aws.ToString(t.HomeRegion)
				if aws.ToString(t.KmsKeyId) == "" || (home != "" && home != c.Region) || (len(c.TrailNames) > 0 && !contains(c.TrailNames, name)) {
					continue
				}
				uses = append(uses, KMSKeyUse{Source: "cloudtrail:" + name, KeyID: aws.ToString(t.KmsKeyId)})
			}
		}
	}
	for _, k := range c.Keys {
		uses = append(uses, KMSKeyUse{Source: "config", KeyID: k})
	}
	if uses == nil {
		uses = []KMSKeyUse{}
	}
	return uses
}

// BucketKeyIDs lists the KMS keys a bucket's default encryption names
// (SSE-KMS and DSSE-KMS rules), as written there: a key id, an ARN or an
// alias. A rule with aws:kms and no key uses the AWS managed key
// aws/s3, named "alias/aws/s3".
func BucketKeyIDs(o *s3.GetBucketEncryptionOutput) []string {
	if o == nil || o.ServerSideEncryptionConfiguration == nil {
		return nil
	}
	var out []string
	for _, r := range o.ServerSideEncryptionConfiguration.Rules {
		d := r.ApplyServerSideEncryptionByDefault
		if d == nil || !strings.HasPrefix(string(d.SSEAlgorithm), "aws:kms") {
			continue
		}
		id := aws.ToString(d.KMSMasterKeyID)
		if id == "" {
			id = "alias/aws/s3"
		}
		if !contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// readKey reads a key's policy, grants (every page) and rotation.
func (c *KMSKeys) readKey(ctx context.Context, k *KMSKey) {
	id := aws.String(k.ARN)
	k.Policy = kmsRead(nil, func() (any, error) {
		o, err := c.API.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: id, PolicyName: aws.String("default")})
		if err != nil {
			return nil, err
		}
		return json.RawMessage(canonicalJSON(aws.ToString(o.Policy))), nil
	})
	k.Grants = kmsRead(nil, func() (any, error) {
		grants := []kmstypes.GrantListEntry{}
		in := &kms.ListGrantsInput{KeyId: id}
		for page := 0; ; page++ {
			o, err := c.API.ListGrants(ctx, in)
			if err != nil {
				return nil, err
			}
			grants = append(grants, o.Grants...)
			if !o.Truncated || aws.ToString(o.NextMarker) == "" || page > 100000 {
				return grants, nil
			}
			in.Marker = o.NextMarker
		}
	})
	k.Rotation = kmsRead([]string{"UnsupportedOperationException"}, func() (any, error) {
		o, err := c.API.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: id})
		if err != nil {
			return nil, err
		}
		return map[string]any{"enabled": o.KeyRotationEnabled, "periodInDays": o.RotationPeriodInDays, "nextRotation": o.NextRotationDate}, nil
	})
}

// kmsRead classifies what a read returned; absent are the error codes that
// mean the setting does not apply.
func kmsRead(absent []string, f func() (any, error)) Setting {
	v, err := f()
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "KMSInvalidStateException" {
		// A key pending deletion (or import) answers some reads with
		// this: what the setting is now is unknown, not changed.
		return Setting{State: StateUnsupported, Error: "the key's state does not allow reading it"}
	}
	return classify(v, err, absent)
}

// KMSItems flattens a snapshot into the items compared between
// snapshots: "key/ARN/state", "key/ARN/policy", "key/ARN/grant/ID",
// "key/ARN/rotation". A setting that could not be read keeps the previous
// snapshot's items (unknown is not changed), as does a key named by ARN
// that could not be described.
func KMSItems(s KMSSnapshot, prev map[string]string) map[string]string {
	items := map[string]string{}
	carry := func(prefix string, exact bool) {
		for k, v := range prev {
			if k == prefix || (!exact && strings.HasPrefix(k, prefix)) {
				items[k] = v
			}
		}
	}
	for _, k := range s.Keys {
		base := "key/" + k.ARN + "/"
		if k.Metadata.State == StatePresent {
			var m kmstypes.KeyMetadata
			if json.Unmarshal(k.Metadata.Value, &m) == nil {
				items[base+"state"] = stateValue(map[string]any{"keyState": m.KeyState, "enabled": m.Enabled, "deletionDate": m.DeletionDate})
			}
		}
		switch k.Policy.State {
		case StatePresent:
			items[base+"policy"] = stateValue(k.Policy.Value)
		case StateDenied, StateError, StateUnsupported:
			carry(base+"policy", true)
		}
		switch k.Grants.State {
		case StatePresent:
			var grants []kmstypes.GrantListEntry
			if json.Unmarshal(k.Grants.Value, &grants) == nil {
				for _, g := range grants {
					ops := make([]string, 0, len(g.Operations))
					for _, o := range g.Operations {
						ops = append(ops, string(o))
					}
					sort.Strings(ops)
					items[base+"grant/"+aws.ToString(g.GrantId)] = stateValue(map[string]any{"grantee": aws.ToString(g.GranteePrincipal),
						"retiring": aws.ToString(g.RetiringPrincipal), "operations": ops, "constraints": g.Constraints, "name": aws.ToString(g.Name)})
				}
			}
		case StateDenied, StateError, StateUnsupported:
			carry(base+"grant/", false)
		}
		switch k.Rotation.State {
		case StatePresent:
			var r struct{ Enabled bool }
			if json.Unmarshal(k.Rotation.Value, &r) == nil {
				items[base+"rotation"] = stateValue(map[string]bool{"enabled": r.Enabled})
			}
		case StateDenied, StateError, StateUnsupported:
			carry(base+"rotation", true)
		}
	}
	for _, u := range s.Uses {
		if u.KeyARN == "" && strings.HasPrefix(u.KeyID, "arn:") && !strings.Contains(u.KeyID, ":alias/") {
			carry("key/"+u.KeyID+"/", false)
		}
	}
	return items
}

// kmsFindings reports the changes of keys the previous snapshot knew: a
// key first seen is its baseline.
func kmsFindings(prev map[string]string, changes []stateChange) []custody.Finding {
	known := map[string]bool{}
	for item := range prev {
		if arn, _, ok := splitKMSItem(item); ok {
			known[arn] = true
		}
	}
	var out []custody.Finding
	for _, c := range changes {
		arn, what, ok := splitKMSItem(c.Item)
		if !ok || !known[arn] {
			continue
		}
		msg, risk := kmsDescribe(c, what)
		fd := custody.Finding{Severity: custody.SeverityWarning, Kind: finding.KMSKeyChange, Object: "kms:" + arn, Message: msg}
		if risk != "" {
			fd.Severity, fd.Message = custody.SeverityFailure, msg+" ("+risk+")"
			fd.Remedy = "confirm who made the change (CloudTrail PutKeyPolicy, CreateGrant, ScheduleKeyDeletion); revert it if no one should have (CancelKeyDeletion, RevokeGrant)"
		}
		out = append(out, fd)
	}
	return out
}

// splitKMSItem splits "key/ARN/what" (ARNs have no "/" before the key
// id, which has none either).
func splitKMSItem(item string) (arn, what string, ok bool) {
	rest, ok := strings.CutPrefix(item, "key/")
	if !ok {
		return "", "", false
	}
	i := strings.Index(rest, ":key/")
	if i < 0 {
		return "", "", false
	}
	j := strings.Index(rest[i+len(":key/"):], "/")
	if j < 0 {
		return "", "", false
	}
	end := i + len(":key/") + j
	return rest[:end], rest[end+1:], true
}

func kmsRisk(c stateChange) string {
	_, what, ok := splitKMSItem(c.Item)
	if !ok {
		return ""
	}
	_, risk := kmsDescribe(c, what)
	return risk
}

// kmsDescribe says what changed and, when it opens access to the key or
// schedules its deletion, why that matters.
func kmsDescribe(c stateChange, what string) (msg, risk string) {
	switch {
	case what == "policy":
		msg = "key policy " + c.Change
		if c.Change != "changed" {
			return msg, ""
		}
		before, _ := TrustedPrincipals([]byte(c.Before))
		after, _ := TrustedPrincipals([]byte(c.After))
		var added []string
		for _, p := range after {
			if !contains(before, p) {
				added = append(added, p)
			}
		}
		if len(added) > 0 {
			return msg, "the policy now allows " + strings.Join(added, ", ")
		}
		return msg, ""
	case strings.HasPrefix(what, "grant/"):
		id := strings.TrimPrefix(what, "grant/")
		switch c.Change {
		case "added":
			var g struct {
				Grantee    string
				Operations []string
			}
			_ = json.Unmarshal([]byte(c.After), &g)
			return "grant " + id + " added", fmt.Sprintf("%s may now %s with the key", g.Grantee, strings.Join(g.Operations, ", "))
		case "removed":
			return "grant " + id + " removed", ""
		}
		return "grant " + id + " changed", ""
	case what == "rotation":
		var before, after struct{ Enabled bool }
		_ = json.Unmarshal([]byte(c.Before), &before)
		_ = json.Unmarshal([]byte(c.After), &after)
		if before.Enabled && !after.Enabled {
			return "automatic key rotation turned off", ""
		}
		return "key rotation " + c.Change, ""
	case what == "state":
		var after struct {
			KeyState     string
			DeletionDate *time.Time
		}
		_ = json.Unmarshal([]byte(c.After), &after)
		switch after.KeyState {
		case string(kmstypes.KeyStatePendingDeletion), string(kmstypes.KeyStatePendingReplicaDeletion):
			when := ""
			if after.DeletionDate != nil {
				when = " on " + after.DeletionDate.UTC().Format(time.RFC3339)
			}
			return "key state now " + after.KeyState, "the key is scheduled for deletion" + when + ": what it encrypts becomes unreadable"
		case string(kmstypes.KeyStateDisabled):
			return "key disabled", ""
		}
		if after.KeyState == "" {
			return "key state " + c.Change, ""
		}
		return "key state now " + after.KeyState, ""
	}
	return what + " " + c.Change, ""
}
