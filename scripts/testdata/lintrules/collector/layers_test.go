package collector

import (
	"testing"
	"time"

	"github.com/custody-ir/custody/internal/testaws"
)

// Tests may use the stand-ins and the wall clock.
func TestLayers(t *testing.T) {
	_ = testaws.Marker
	if Injected(time.Now, time.Now()) < 0 {
		t.Fatal("negative")
	}
}
