package nvlabs

import (
	"os"
	"testing"
)

// FuzzParse: any bytes give a config or an error, never a panic.
func FuzzParse(f *testing.F) {
	for _, n := range []string{"sana_1600m_1024.yaml", "sana_1600m_4k.yaml", "sana15_4800m.yaml"} {
		if b, err := os.ReadFile("testdata/" + n); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("model: {model: SanaMS_600M_P1_D28, mlp_acts: [1, [2], {a: b}]}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse("fuzz.yaml", b)
		if err == nil && c.Transformer.Validate() != nil {
			t.Fatalf("accepted an invalid transformer config: %v", c.Transformer.Validate())
		}
	})
}
