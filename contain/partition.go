package contain

import (
	"fmt"
	"regexp"
)

// partitionExpr is an AWS partition's name: aws, aws-cn, aws-us-gov,
// aws-iso, aws-iso-b...
const partitionExpr = `aws(?:-[a-z]+)*`

var (
	partitionRE = regexp.MustCompile(`^` + partitionExpr + `$`)
	// callerARNRE is an identity sts:GetCallerIdentity names: a role
	// session or a federated user (sts), a user or root (iam).
	callerARNRE = regexp.MustCompile(`^arn:(` + partitionExpr + `):(?:sts|iam)::\d{12}:\S+$`)
	// s3ARNRE is the start of an S3 bucket or object ARN.
	s3ARNRE = regexp.MustCompile(`^arn:(` + partitionExpr + `):s3:::`)
)

// CallerPartition is the partition of the identity running custody (the
// ARN sts:GetCallerIdentity answers with: arn:PARTITION:sts::ACCOUNT:
// assumed-role/..., arn:PARTITION:iam::ACCOUNT:user/...): the partition
// of the buckets it freezes, whose ARNs the freeze statement names. An
// ARN of another shape is an error, never a guess: a statement naming the
// bucket in the wrong partition denies nothing.
func CallerPartition(arn string) (string, error) {
	m := callerARNRE.FindStringSubmatch(arn)
	if m == nil {
		return "", fmt.Errorf("the caller's identity %q (sts:GetCallerIdentity) is not an ARN of an AWS partition (arn:aws:sts::ACCOUNT:..., arn:aws-us-gov:..., arn:aws-cn:...): cannot tell the partition whose bucket ARNs the freeze statement must name; check the credentials and the STS endpoint", clip(arn))
	}
	return m[1], nil
}

// bucketARNs are the ARNs of a bucket and of its objects in a partition.
func bucketARNs(partition, bucket string) []string {
	return []string{"arn:" + partition + ":s3:::" + bucket, "arn:" + partition + ":s3:::" + bucket + "/*"}
}

// statementPartition is the partition a freeze statement (as sealed, read
// back from JSON) names in its first resource ("" when it names none that
// parses).
func statementPartition(stmt map[string]any) string {
	var first string
	switch r := stmt["Resource"].(type) {
	case []any:
		if len(r) > 0 {
			first, _ = r[0].(string)
		}
	case string:
		first = r
	}
	m := s3ARNRE.FindStringSubmatch(first)
	if m == nil {
		return ""
	}
	return m[1]
}
