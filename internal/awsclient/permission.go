package awsclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// s3Actions maps the S3 operations custody and recover call (and their
// obvious counterparts) to the IAM action AWS authorizes them as, where
// the two differ or the operation needs more than one action.
var s3Actions = map[string]string{
	"AbortMultipartUpload":            "s3:AbortMultipartUpload",
	"CompleteMultipartUpload":         "s3:PutObject",
	"CopyObject":                      "s3:PutObject",
	"CreateBucket":                    "s3:CreateBucket",
	"CreateMultipartUpload":           "s3:PutObject",
	"DeleteBucket":                    "s3:DeleteBucket",
	"DeleteBucketLifecycle":           "s3:PutLifecycleConfiguration",
	"DeleteBucketPolicy":              "s3:DeleteBucketPolicy",
	"DeleteObject":                    "s3:DeleteObject",
	"DeleteObjects":                   "s3:DeleteObject",
	"DeletePublicAccessBlock":         "s3:PutBucketPublicAccessBlock",
	"GetBucketAcl":                    "s3:GetBucketAcl",
	"GetBucketEncryption":             "s3:GetEncryptionConfiguration",
	"GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
	"GetBucketLocation":               "s3:GetBucketLocation",
	"GetBucketLogging":                "s3:GetBucketLogging",
	"GetBucketOwnershipControls":      "s3:GetBucketOwnershipControls",
	"GetBucketPolicy":                 "s3:GetBucketPolicy",
	"GetBucketPolicyStatus":           "s3:GetBucketPolicyStatus",
	"GetBucketReplication":            "s3:GetReplicationConfiguration",
	"GetBucketTagging":                "s3:GetBucketTagging",
	"GetBucketVersioning":             "s3:GetBucketVersioning",
	"GetObject":                       "s3:GetObject",
	"GetObjectLegalHold":              "s3:GetObjectLegalHold",
	"GetObjectLockConfiguration":      "s3:GetBucketObjectLockConfiguration",
	"GetObjectRetention":              "s3:GetObjectRetention",
	"GetObjectTagging":                "s3:GetObjectTagging",
	"GetPublicAccessBlock":            "s3:GetBucketPublicAccessBlock",
	"HeadBucket":                      "s3:ListBucket",
	"HeadObject":                      "s3:GetObject",
	"ListBuckets":                     "s3:ListAllMyBuckets",
	"ListMultipartUploads":            "s3:ListBucketMultipartUploads",
	"ListObjectVersions":              "s3:ListBucketVersions",
	"ListObjects":                     "s3:ListBucket",
	"ListObjectsV2":                   "s3:ListBucket",
	"ListParts":                       "s3:ListMultipartUploadParts",
	"PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
	"PutBucketPolicy":                 "s3:PutBucketPolicy",
	"PutBucketVersioning":             "s3:PutBucketVersioning",
	"PutObject":                       "s3:PutObject",
	"PutObjectLegalHold":              "s3:PutObjectLegalHold",
	"PutObjectLockConfiguration":      "s3:PutBucketObjectLockConfiguration",
	"PutObjectRetention":              "s3:PutObjectRetention",
	"PutObjectTagging":                "s3:PutObjectTagging",
	"PutPublicAccessBlock":            "s3:PutBucketPublicAccessBlock",
	"RestoreObject":                   "s3:RestoreObject",
	"UploadPart":                      "s3:PutObject",
	"UploadPartCopy":                  "s3:PutObject",
}

// versionActions are the actions S3 authorizes instead when a call names
// an object version (?versionId=).
var versionActions = map[string]string{
	"GetObject":        "s3:GetObjectVersion",
	"HeadObject":       "s3:GetObjectVersion",
	"DeleteObject":     "s3:DeleteObjectVersion",
	"GetObjectTagging": "s3:GetObjectVersionTagging",
	"PutObjectTagging": "s3:PutObjectVersionTagging",
}

// s3ControlActions maps S3 Control operations (account-level settings).
var s3ControlActions = map[string]string{
	"GetPublicAccessBlock":    "s3:GetAccountPublicAccessBlock",
	"PutPublicAccessBlock":    "s3:PutAccountPublicAccessBlock",
	"DeletePublicAccessBlock": "s3:PutAccountPublicAccessBlock",
}

// servicePrefixes are the IAM prefixes of services whose actions are
// named as their operations are.
var servicePrefixes = map[string]string{
	"CloudTrail":     "cloudtrail",
	"Config Service": "config",
	"GuardDuty":      "guardduty",
	"IAM":            "iam",
	"KMS":            "kms",
	"Organizations":  "organizations",
	"STS":            "sts",
	"SecurityHub":    "securityhub",
}

// Action returns the IAM action an operation of a service needs, given
// the SDK's names for both (smithy.OperationError's ServiceID and
// OperationName): "S3", "ListObjectVersions" is "s3:ListBucketVersions".
// It returns "" for an operation it does not know.
func Action(serviceID, operation string) string {
	switch serviceID {
	case "S3":
		return s3Actions[operation]
	case "S3 Control":
		return s3ControlActions[operation]
	}
	if p, ok := servicePrefixes[serviceID]; ok && operation != "" {
		return p + ":" + operation
	}
	return ""
}

// Permission returns the IAM permission whose absence made an AWS call
// fail with err: one action ("s3:GetBucketPolicy"), or several joined by
// " and " when the call needs them all (a write with Object Lock
// retention needs s3:PutObject and s3:PutObjectRetention). It returns ""
// when err is not an access denial or the call is not one it knows.
//
// The call is the innermost one in err: a denial met while getting
// credentials (sts:AssumeRole) names that, not the call the credentials
// were for. What the request carried refines the answer: a call on an
// object version needs the version's action (s3:GetObjectVersion).
func Permission(err error) string {
	op := innermostOperation(err)
	if op == nil || !AccessDenied(op) {
		return ""
	}
	action := Action(op.ServiceID, op.OperationName)
	if action == "" || op.ServiceID != "S3" {
		return action
	}
	var req *http.Request
	var re *smithyhttp.ResponseError
	if errors.As(op, &re) && re.Response != nil && re.Response.Response != nil {
		req = re.Response.Request
	}
	if req == nil {
		return action
	}
	actions := []string{action}
	if req.URL != nil && req.URL.Query().Has("versionId") {
		if v, ok := versionActions[op.OperationName]; ok {
			actions[0] = v
		}
	}
	switch op.OperationName {
	case "PutObject", "CreateMultipartUpload", "CopyObject":
		if req.Header.Get("X-Amz-Object-Lock-Mode") != "" || req.Header.Get("X-Amz-Object-Lock-Retain-Until-Date") != "" {
			actions = append(actions, "s3:PutObjectRetention")
		}
		if req.Header.Get("X-Amz-Object-Lock-Legal-Hold") != "" {
			actions = append(actions, "s3:PutObjectLegalHold")
		}
	}
	if src := req.Header.Get("X-Amz-Copy-Source"); src != "" {
		if strings.Contains(src, "versionId=") {
			actions = append(actions, "s3:GetObjectVersion")
		} else {
			actions = append(actions, "s3:GetObject")
		}
	}
	return strings.Join(actions, " and ")
}

// deniedCodes are the error codes of an access denial.
var deniedCodes = map[string]bool{
	"AccessDenied":          true,
	"AccessDeniedException": true,
	"AuthorizationError":    true,
	"Forbidden":             true, // a HEAD request's 403 has no body to name it
	"UnauthorizedOperation": true,
}

// notPermissionCodes answer 403 for something a policy cannot fix.
var notPermissionCodes = map[string]bool{
	"AccountProblem":              true,
	"AllAccessDisabled":           true,
	"ExpiredToken":                true,
	"ExpiredTokenException":       true,
	"IncompleteSignature":         true,
	"InvalidAccessKeyId":          true,
	"InvalidClientTokenId":        true,
	"InvalidObjectState":          true,
	"InvalidSignatureException":   true,
	"InvalidToken":                true,
	"MissingAuthenticationToken":  true,
	"RequestExpired":              true,
	"RequestTimeTooSkewed":        true,
	"SignatureDoesNotMatch":       true,
	"UnrecognizedClientException": true,
}

// AccessDenied reports whether err is an access denial: AccessDenied,
// AccessDeniedException and the like, or a 403 that is not about the
// credentials or the request's signature.
func AccessDenied(err error) bool {
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	if deniedCodes[code] {
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden && !notPermissionCodes[code]
}

// Operation returns the name of the innermost AWS operation err comes
// from ("GetBucketPolicy"), or "".
func Operation(err error) string {
	if op := innermostOperation(err); op != nil {
		return op.OperationName
	}
	return ""
}

// innermostOperation finds the deepest operation error in err's chain:
// the call that actually failed.
func innermostOperation(err error) *smithy.OperationError {
	var found *smithy.OperationError
	for err != nil {
		if op, ok := err.(*smithy.OperationError); ok {
			found = op
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if op := innermostOperation(e); op != nil {
					return op
				}
			}
			return found
		default:
			return found
		}
	}
	return found
}

// Role is who makes a call, and the shipped policy that grants it what
// custody needs: where an access denial is reported, it says whom to
// grant the missing permission.
type Role struct {
	Name   string // "the collector role"
	Policy string // "configs/iam/collector-role-policy.json"
}

// The roles custody's calls are made as.
var (
	// CollectorRole reads the sources of a member account.
	CollectorRole = Role{Name: "the collector role", Policy: "configs/iam/collector-role-policy.json"}
	// AgentRole stores and seals evidence: the agent's role, or a
	// responder running custody add or export.
	AgentRole = Role{Name: "the agent's role", Policy: "configs/iam/agent-role-policy.json or configs/iam/custody-writer-policy.json"}
)

// Grant says what to do about err when it is an access denial whose
// permission is known: "grant s3:GetBucketPolicy to the collector role;
// see configs/iam/collector-role-policy.json". Otherwise it returns "".
func (r Role) Grant(err error) string { return r.Advice(Permission(err)) }

// Advice says to grant permission to r: "grant s3:GetBucketPolicy to the
// collector role; see configs/iam/collector-role-policy.json", or "" for
// no permission. sts:AssumeRole is the assuming agent's to have, and the
// assumed role's trust policy must admit it, whichever role r is.
func (r Role) Advice(permission string) string {
	switch permission {
	case "":
		return ""
	case "sts:AssumeRole":
		return "grant sts:AssumeRole to the agent's role, and have the role it assumes trust it with the external ID; " +
			"see configs/iam/agent-role-policy.json and configs/iam/collector-role-trust.json"
	}
	return fmt.Sprintf("grant %s to %s; see %s", permission, r.Name, r.Policy)
}

// Explain returns err with Grant's advice appended when err is an access
// denial whose permission is known, and err itself otherwise. The result
// wraps err.
func (r Role) Explain(err error) error {
	if err == nil {
		return nil
	}
	var d *DeniedError
	if errors.As(err, &d) {
		return err // explained already
	}
	p := Permission(err)
	if p == "" {
		return err
	}
	return &DeniedError{Err: err, Permission: p, Role: r}
}

// DeniedError is an access denial with the permission that was missing.
type DeniedError struct {
	Err        error
	Permission string
	Role       Role
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%v (%s)", e.Err, e.Role.Advice(e.Permission))
}

func (e *DeniedError) Unwrap() error { return e.Err }
