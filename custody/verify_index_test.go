package custody

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// wholeListing is an S3 source that cannot list by folder: verify lists
// it whole, in one listing, as it did before it listed the manifests'
// folder ahead of the rest.
type wholeListing struct{ s3Source }

// TestIndexByFolderListsAll: verify lists the manifests' folder first and
// the rest of the store by folder, in the background; the index is the
// same as one whole listing's, and objects planted in every corner (right
// under the prefix, in folders that sort beside the manifests' folder,
// deep below, behind a delete marker, under an empty segment) are each
// found unsealed.
func TestIndexByFolderListsAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance)
	e.collect(e.chain, 2)
	e.collect(e.chain, 1)
	p := e.cfg.Prefix
	planted := []string{p + "/top.txt", p + "/manifests-x/a.txt", p + "/manifests0", p + "/manifestsZ/b.txt",
		p + "/zz/deep/er/c.txt", ManifestPrefix(p) + "agent-1/notes.txt", p + "/hidden.txt"}
	for _, k := range planted {
		e.plant(k, []byte("planted"))
	}
	hidden := e.versionsOf(p + "/hidden.txt")[0]
	if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(p + "/hidden.txt")}); err != nil {
		t.Fatal(err)
	}

	v := NewVerifier(e.s3, e.cfg, e.trust, nil, e.clock.now)
	byFolder, err := v.index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src := v.src.(s3Source)
	v.src = wholeListing{src}
	whole, err := v.index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(byFolder, whole) {
		t.Errorf("listing by folder indexes\n%+v\nlisting whole indexes\n%+v", byFolder, whole)
	}
	if n := len(byFolder.manifests["agent-1"]); n != 2 {
		t.Errorf("indexed %d manifests of agent-1, want 2", n)
	}
	if len(byFolder.logCheckpoints["agent-1"]) == 0 || len(byFolder.registry) == 0 {
		t.Errorf("the log checkpoint or the registry is missing from the index: %+v", byFolder)
	}

	r := e.verify(VerifyOptions{})
	for _, k := range planted[:len(planted)-1] {
		testaws.RequireFinding(t, r.Findings, finding.UnsealedObject, k)
	}
	testaws.RequireFinding(t, r.Findings, finding.UnsealedObject, p+"/hidden.txt?versionId="+hidden)
	if r.Checked.Manifests != 2 || r.Checked.Subjects != 3 {
		t.Errorf("checked %d manifests and %d subjects, want 2 and 3", r.Checked.Manifests, r.Checked.Subjects)
	}
	if want := 3 + len(planted); r.Checked.Objects != want {
		t.Errorf("checked %d objects, want %d (3 artifacts and the planted keys)", r.Checked.Objects, want)
	}
}
