package sana

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/sanafarm/sanafarm/kernels"
)

// ComplexHumanInstruction is diffusers' default complex_human_instruction
// (docs/sana.md §1.2), joined with newlines and prepended to positive prompts.
var complexHumanInstruction = []string{
	"Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual descriptions suitable for image generation. Evaluate the level of detail in the user prompt:",
	"- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, and spatial relationships to create vivid and concrete scenes.",
	"- If the prompt is already detailed, refine and enhance the existing details slightly without overcomplicating.",
	"Here are examples of how to transform or refine prompts:",
	"- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat curled up in a round shape, sleeping peacefully on a warm sunny windowsill, surrounded by pots of blooming red flowers.",
	"- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, featuring glowing street lamps, a diverse crowd of people in colorful clothing, and a double-decker bus passing by towering glass skyscrapers.",
	"Please generate only the enhanced description for the prompt below and avoid including any additional commentary or evaluations:",
	"User Prompt: ",
}

// CHI returns the complex-human-instruction prefix.
func CHI() string { return strings.Join(complexHumanInstruction, "\n") }

// preprocess is the pipeline's text.lower().strip() (clean_caption False).
// Python's strip also removes the \x1c–\x1f separators.
func preprocess(s string) string {
	return strings.TrimFunc(strings.ToLower(s), func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
	})
}

// tokenized is one text's ids and mask as fed to the text encoder, and
// the positions kept from its output.
type tokenized struct {
	ids, mask []int64
	keep      []int
}

// tokenize reproduces SanaPipeline._get_gemma_prompt_embeds: with chi,
// the instruction is prepended, the sequence padded/truncated to
// num_chi + maxSeq − 2 and positions [0] + the last maxSeq−1 kept;
// without, the text is padded/truncated to maxSeq and all kept.
func tokenize(tok Tokenizer, text string, chi bool, maxSeq int) (tokenized, error) {
	prefix := ""
	if chi {
		prefix = CHI()
	}
	return tokenizeWith(tok, text, prefix, maxSeq)
}

// tokenizeWith is tokenize with the instruction text given ("" for none),
// as an NVlabs config's chi_prompt sets it.
func tokenizeWith(tok Tokenizer, text, prefix string, maxSeq int) (tokenized, error) {
	length := maxSeq
	if prefix != "" {
		ids, err := tok.Encode(prefix)
		if err != nil {
			return tokenized{}, fmt.Errorf("tokenizing the complex human instruction: %w", err)
		}
		length = len(ids) + maxSeq - 2
	}
	ids, err := tok.Encode(prefix + preprocess(text))
	if err != nil {
		return tokenized{}, fmt.Errorf("tokenizing prompt %q: %w", text, err)
	}
	t := tokenized{ids: make([]int64, length), mask: make([]int64, length)}
	for i := 0; i < min(len(ids), length); i++ {
		t.ids[i], t.mask[i] = int64(ids[i]), 1
	}
	t.keep = make([]int, 0, maxSeq)
	t.keep = append(t.keep, 0)
	for i := length - (maxSeq - 1); i < length; i++ {
		t.keep = append(t.keep, i)
	}
	return t, nil
}

// embedding is one encoded text: [1, maxSeq, D] float32 and [1, maxSeq]
// int64 mask on the host.
type embedding struct {
	emb, mask *kernels.Tensor
}

// encodeText tokenizes and runs the text encoder, keeping the selected
// positions.
func (p *Pipeline) encodeText(ctx context.Context, text string, chi bool, maxSeq int) (embedding, error) {
	if p.tok == nil || p.te == nil {
		return embedding{}, fmt.Errorf("encoding prompt: the pipeline has no tokenizer/text encoder")
	}
	prefix := ""
	if chi {
		prefix = CHI()
		if p.chi != nil {
			prefix = *p.chi
		}
	}
	t, err := tokenizeWith(p.tok, text, prefix, maxSeq)
	if err != nil {
		return embedding{}, err
	}
	T := len(t.ids)
	ids, _ := kernels.FromI64(t.ids, 1, T)
	mask, _ := kernels.FromI64(t.mask, 1, T)
	out, err := p.te.Encode(ctx, ids, mask)
	if err != nil {
		return embedding{}, fmt.Errorf("encoding prompt: %w", err)
	}
	host, err := toHostF32(p.be, out)
	if err != nil {
		return embedding{}, err
	}
	D := host.Dim(2)
	emb := kernels.MustNew(kernels.Float32, 1, len(t.keep), D)
	m := kernels.MustNew(kernels.Int64, 1, len(t.keep))
	for j, k := range t.keep {
		copy(emb.F32()[j*D:(j+1)*D], host.F32()[k*D:(k+1)*D])
		m.I64()[j] = t.mask[k]
	}
	return embedding{emb: emb, mask: m}, nil
}
