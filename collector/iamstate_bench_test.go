package collector

// IAM_BENCH=500 go test -run '^$' -bench IAMState -benchtime 3x ./collector/
// (default 200 users, each with an access key)

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/custody-ir/custody/internal/testaws"
)

// BenchmarkIAMState: a sealed IAM snapshot (authorization details,
// credential report, every user's keys and their last use, stored,
// sealed, compared) against the bare calls it needs, made one after the
// other, on the same moto in the same run. ratio = bare time / collector
// time (above 1: the collector is faster).
func BenchmarkIAMState(b *testing.B) {
	n := 200
	if s := os.Getenv("IAM_BENCH"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	e := newBenchEnv(b)
	m := testaws.StartMoto(b)
	ic := iam.NewFromConfig(m.Anonymous(b).AWS)
	for i := 0; i < n; i++ {
		name := aws.String(fmt.Sprintf("user-%04d", i))
		// A retried create (moto slow to answer) finds the user made.
		var exists *iamtypes.EntityAlreadyExistsException
		if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: name}); err != nil && !errors.As(err, &exists) {
			b.Fatal(err)
		}
		if _, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: name}); err != nil {
			b.Fatal(err)
		}
	}
	bare := func() {
		out, err := ic.GetAccountAuthorizationDetails(ctx, &iam.GetAccountAuthorizationDetailsInput{Filter: []iamtypes.EntityType{
			iamtypes.EntityTypeUser, iamtypes.EntityTypeGroup, iamtypes.EntityTypeRole, iamtypes.EntityTypeLocalManagedPolicy}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ic.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); err != nil {
			b.Fatal(err)
		}
		if _, err := ic.GetCredentialReport(ctx, &iam.GetCredentialReportInput{}); err != nil {
			b.Fatal(err)
		}
		for _, u := range out.UserDetailList {
			keys, err := ic.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: u.UserName})
			if err != nil {
				b.Fatal(err)
			}
			for _, k := range keys.AccessKeyMetadata {
				if _, err := ic.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	c := &IAMState{API: ic, Ledger: e.Ledger, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now}
	var bareTime, collectTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		bare()
		bareTime += time.Since(start)
		start = time.Now()
		if _, err := RunOne(ctx, e.Chain, c); err != nil {
			b.Fatal(err)
		}
		collectTime += time.Since(start)
	}
	b.ReportMetric(float64(bareTime.Milliseconds())/float64(b.N), "bare-ms/op")
	b.ReportMetric(float64(collectTime.Milliseconds())/float64(b.N), "collector-ms/op")
	b.ReportMetric(float64(bareTime)/float64(collectTime), "ratio")
}
