package cloudtrail

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
)

// keysAPI is what fetching CloudTrail's public keys needs.
type keysAPI interface {
	ListPublicKeys(context.Context, *ct.ListPublicKeysInput, ...func(*ct.Options)) (*ct.ListPublicKeysOutput, error)
}

var _ keysAPI = (*ct.Client)(nil)

// keyWindowSlack widens the ListPublicKeys query around the digests'
// period, so keys rotated just outside it are still found.
const keyWindowSlack = 24 * time.Hour

// FetchPublicKeys lists the digest-signing keys valid between start and
// end (widened by a day on each side) in the client's region.
func FetchPublicKeys(ctx context.Context, api keysAPI, start, end time.Time) ([]PublicKey, error) {
	in := &ct.ListPublicKeysInput{StartTime: aws.Time(start.Add(-keyWindowSlack)), EndTime: aws.Time(end.Add(keyWindowSlack))}
	var out []PublicKey
	for page := 0; ; page++ {
		if page > 1000 {
			return nil, fmt.Errorf("ListPublicKeys: more than 1000 pages")
		}
		resp, err := api.ListPublicKeys(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("ListPublicKeys: %w (grant cloudtrail:ListPublicKeys, or pass a saved list with --public-keys)", err)
		}
		for i, k := range resp.PublicKeyList {
			pk, err := NewPublicKey(k.Value, aws.ToString(k.Fingerprint), aws.ToTime(k.ValidityStartTime), aws.ToTime(k.ValidityEndTime))
			if err != nil {
				return nil, fmt.Errorf("ListPublicKeys: key %d: %w", i, err)
			}
			out = append(out, pk)
		}
		if aws.ToString(resp.NextToken) == "" {
			return out, nil
		}
		in.NextToken = resp.NextToken
	}
}
