package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/contain"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

// fileSchema is the schema version in a ledger file's header (SQLite's
// user_version, bytes 60-63), as testaws.SQLiteContent read it.
func fileSchema(content string) int {
	if len(content) < 64 {
		return -1
	}
	return int(binary.BigEndian.Uint32([]byte(content[60:64])))
}

// oldLedger makes the ledger at path one an older custody wrote: schema
// 4, before the search index (migration 5, the log_terms table).
func oldLedger(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	l, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if v, err := l.SchemaVersion(ctx); err != nil || v != 5 {
		t.Fatalf("the ledger is at schema %d (%v): this test makes a schema 4 ledger by undoing migration 5 only; undo the later ones too", v, err)
	}
	for _, q := range []string{"DROP TABLE log_terms", "PRAGMA user_version = 4"} {
		if _, err := l.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

// sessionKey is a temporary access key id of this test alone.
func sessionKey() string {
	return "ASIA" + strings.ToUpper(fmt.Sprintf("%016x", time.Now().UnixNano()))
}

// TestContainDeclinedWritesNothing: a temporary key's containment that
// is not confirmed (no --yes, no terminal) or is a dry run finds the
// role in the sealed CloudTrail logs through the ledger, and leaves the
// ledger byte for byte as it was: the terms its search read are not
// recorded in the search index (they were, before the refusal), and
// nothing else is written.
func TestContainDeclinedWritesNothing(t *testing.T) {
	f := newContainFixture(t)
	roleName := "contain-declined-" + f.suffix
	roleARN := f.role(t, roleName)
	session := sessionKey()
	f.sealTrail(t, []map[string]any{trailRecord(session, "arn:aws:sts::123456789012:assumed-role/"+roleName+"/i-0abc", "GetObject", 1)})
	versions, before := f.versions(t), testaws.SQLiteContent(t, f.ledger)

	_, errOut, code := f.contain(t, "key", "--access-key", session, "--case", "IR-D")
	if code != cli.ExitUsage || !strings.Contains(errOut, "pass --yes") || !strings.Contains(errOut, "issued by role "+roleName) {
		t.Fatalf("contain key (ASIA) without --yes or a terminal: exit %d; want a usage error after finding role %s\n%s", code, roleName, errOut)
	}
	if after := testaws.SQLiteContent(t, f.ledger); after != before {
		t.Errorf("the declined containment wrote the ledger (%d -> %d bytes): a run that is not confirmed must write nothing", len(before), len(after))
	}
	before = testaws.SQLiteContent(t, f.ledger)
	res, errOut, code := f.contain(t, "key", "--access-key", session, "--case", "IR-D", "--dry-run")
	if code != 0 || res.Principal != roleARN || res.Action != contain.ActionRevokeSessions {
		t.Fatalf("dry run: exit %d, %+v\n%s", code, res, errOut)
	}
	if after := testaws.SQLiteContent(t, f.ledger); after != before {
		t.Errorf("the dry run wrote the ledger (%d -> %d bytes)", len(before), len(after))
	}
	if !sameStrings(f.versions(t), versions) || f.revokePolicy(t, roleName) != "" {
		t.Fatal("the declined containment or the dry run changed the store or IAM")
	}
}

// TestFreezeDryRunLeavesAnOldLedgerAsItIs: the dry runs of freeze (with
// --hold-versions of an access key's writes, which reads the sealed logs
// through the ledger), unfreeze and contain open a ledger an older custody
// wrote without migrating it: they say what would be done, and the file is
// byte for byte as it was, at its old schema.
func TestFreezeDryRunLeavesAnOldLedgerAsItIs(t *testing.T) {
	f := newContainFixture(t)
	roleName := "freeze-dry-" + f.suffix
	roleARN := f.role(t, roleName)
	session := sessionKey()
	f.sealTrail(t, []map[string]any{trailRecord(session, "arn:aws:sts::123456789012:assumed-role/"+roleName+"/i-0abc", "GetObject", 1)})
	bucket := testaws.CreateBucket(t, f.s3, testaws.BucketOptions{ObjectLock: true})
	oldLedger(t, f.ledger)
	before := testaws.SQLiteContent(t, f.ledger)
	if fileSchema(before) != 4 {
		t.Fatalf("the old ledger's header says schema %d", fileSchema(before))
	}
	unchanged := func(what string) {
		t.Helper()
		if after := testaws.SQLiteContent(t, f.ledger); after != before {
			t.Errorf("%s changed the old ledger: schema %d -> %d, %d -> %d bytes; a dry run must write nothing", what, fileSchema(before), fileSchema(after), len(before), len(after))
		}
	}

	out, errOut, code := f.bin.run(t, "freeze", "--bucket", bucket, "--case", "IR-O", "--allow-role", roleARN, "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run") || !strings.Contains(out, "planned") {
		t.Fatalf("freeze --dry-run with an old ledger: exit %d\n%s%s", code, out, errOut)
	}
	unchanged("freeze --dry-run")

	out, errOut, code = f.bin.run(t, "freeze", "--bucket", bucket, "--case", "IR-O", "--allow-role", roleARN, "--dry-run",
		"--hold-versions", "1h", "--hold-access-key", session)
	if code != 0 || !strings.Contains(out, "planned") {
		t.Fatalf("freeze --dry-run --hold-access-key with an old ledger: exit %d\n%s%s", code, out, errOut)
	}
	unchanged("freeze --dry-run --hold-access-key")

	if _, errOut, code := f.bin.run(t, "unfreeze", "--bucket", bucket, "--case", "IR-O", "--dry-run"); code != cli.ExitUsage || !strings.Contains(errOut, "no freeze of it") {
		t.Fatalf("unfreeze --dry-run of a bucket never frozen: exit %d\n%s", code, errOut)
	}
	unchanged("unfreeze --dry-run")

	res, errOut, code := f.contain(t, "key", "--access-key", session, "--case", "IR-O", "--dry-run")
	if code != 0 || res.Principal != roleARN {
		t.Fatalf("contain --dry-run with an old ledger: exit %d, %+v\n%s", code, res, errOut)
	}
	unchanged("contain key --dry-run")

	// The run that changes things migrates it, as before.
	out, errOut, code = f.bin.run(t, "--json", "ledger", "info")
	var info ledgerInfoResult
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || info.Schema != 5 {
		t.Fatalf("ledger info (which migrates): exit %d\n%s%s", code, out, errOut)
	}
}
