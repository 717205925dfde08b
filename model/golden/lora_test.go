package golden

import (
	"testing"
)

// TestLoRACase runs lora_sana: every run of call.json, fused and unfused,
// within the case's tolerance.
func TestLoRACase(t *testing.T) {
	expectCasePasses(t, "lora_sana", 9) // base + 4 runs × fused/unfused
}
