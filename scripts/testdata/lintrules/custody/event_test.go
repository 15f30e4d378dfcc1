package custody

import (
	"testing"

	"github.com/custody-ir/custody/collector"
)

// Tests may reach across the layers.
func TestEvent(t *testing.T) {
	if collector.Injected == nil {
		t.Fatal("nil")
	}
}
