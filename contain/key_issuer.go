package contain

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/custody-ir/custody/search"
)

// Issuer is the role that issued a temporary key's session, as the
// sealed CloudTrail records that name the key say.
type Issuer struct {
	Role RoleARN
	// Record is the first sealed record naming the key (its evidence
	// object and manifest say where the role was read).
	Record search.Record
	// Records is how many sealed records name the key.
	Records int
}

// From describes where the role was read, for the sealed state.
func (i *Issuer) From() string {
	return fmt.Sprintf("CloudTrail record %s of %s (manifest %s)", i.Record.EventID, i.Record.Evidence.Object, i.Record.Evidence.Manifest)
}

// FindIssuer reads the sealed CloudTrail logs of [since, until] (the
// files custody search would read) for the records of key, and returns
// the role whose session the key is. The role is named by the session's
// ARN (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION): a role's name is
// unique in its account, and GetRole then gives its ARN with its path.
// A session of a user (GetSessionToken, GetFederationToken) has no role
// to revoke, and several roles for one key cannot be: both are errors,
// as is a key no sealed record names (pass --role). Files that cannot be
// believed are returned as problems.
func FindIssuer(ctx context.Context, cat search.Catalog, sr search.Searcher, key string, since, until time.Time) (*Issuer, []search.Problem, error) {
	files, _, err := search.Select(ctx, cat, since, until, time.Hour)
	if err != nil {
		return nil, nil, err
	}
	f := search.Filter{AccessKeys: []string{key}, Since: since, Until: until}
	roles := map[string]*Issuer{}
	var others []string
	n := 0
	_, problems, err := sr.Run(ctx, files, f, func(r search.Record) error {
		if r.Source != search.SourceCloudTrail {
			return nil
		}
		n++
		role, ok := sessionRole(r.Principal)
		if !ok {
			if len(others) < 3 && r.Principal != "" {
				others = append(others, r.Principal)
			}
			return nil
		}
		id := role.Partition + ":" + role.Account + ":" + role.Name
		if is, seen := roles[id]; seen {
			is.Records++
			if r.Time.Before(is.Record.Time) {
				is.Record = r
			}
			return nil
		}
		roles[id] = &Issuer{Role: role, Record: r, Records: 1}
		return nil
	})
	if err != nil {
		return nil, problems, err
	}
	window := fmt.Sprintf("[%s, %s]", since.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))
	incomplete := ""
	if len(problems) > 0 {
		incomplete = fmt.Sprintf(" (%d sealed file(s) of the window could not be believed or read: run custody verify)", len(problems))
	}
	switch {
	case len(roles) == 1:
		for _, is := range roles {
			return is, problems, nil
		}
	case len(roles) > 1:
		var names []string
		for _, is := range roles {
			names = append(names, fmt.Sprintf("arn:%s:iam::%s:role/%s", is.Role.Partition, is.Role.Account, is.Role.Name))
		}
		sort.Strings(names)
		return nil, problems, fmt.Errorf("the sealed CloudTrail records of %s name sessions of %d roles (%s): pass the one to revoke as --role ARN", key, len(roles), strings.Join(names, ", "))
	case len(others) > 0:
		return nil, problems, fmt.Errorf("the sealed CloudTrail records of %s name no role session but %s: a session of a user (GetSessionToken, GetFederationToken) has no role whose sessions IAM can revoke; deactivate that user's long-term keys (custody contain key --access-key AKIA...) and, if the session must end now, attach a deny policy to the user",
			key, strings.Join(others, ", "))
	case n > 0:
		return nil, problems, fmt.Errorf("the sealed CloudTrail records of %s name no principal: pass the role that issued the session as --role ARN", key)
	}
	return nil, problems, fmt.Errorf("no sealed CloudTrail record in %s names %s%s, so the role that issued its session is unknown: pass it as --role ARN, or a wider --since", window, key, incomplete)
}

// sessionRole reads a role from an assumed-role session's ARN.
func sessionRole(principal string) (RoleARN, bool) {
	// arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/SESSION
	parts := strings.SplitN(principal, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sts" {
		return RoleARN{}, false
	}
	rest, ok := strings.CutPrefix(parts[5], "assumed-role/")
	if !ok {
		return RoleARN{}, false
	}
	name, _, ok := strings.Cut(rest, "/")
	if !ok || name == "" {
		return RoleARN{}, false
	}
	r, err := ParseRoleARN(fmt.Sprintf("arn:%s:iam::%s:role/%s", parts[1], parts[4], name))
	if err != nil {
		return RoleARN{}, false
	}
	r.ARN = "" // the path is unknown here: GetRole gives the ARN
	return r, true
}
