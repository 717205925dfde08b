package tokenizer

import (
	"fmt"
	"strings"
)

// DefaultInstruction is the complex human instruction (CHI) of diffusers'
// SanaPipeline.__call__: its lines are joined with "\n" and prepended to
// the (lower-cased) prompt. The last line ends with a space.
var DefaultInstruction = []string{
	"Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual descriptions suitable for image generation. Evaluate the level of detail in the user prompt:",
	"- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, and spatial relationships to create vivid and concrete scenes.",
	"- If the prompt is already detailed, refine and enhance the existing details slightly without overcomplicating.",
	"Here are examples of how to transform or refine prompts:",
	"- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat curled up in a round shape, sleeping peacefully on a warm sunny windowsill, surrounded by pots of blooming red flowers.",
	"- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, featuring glowing street lamps, a diverse crowd of people in colorful clothing, and a double-decker bus passing by towering glass skyscrapers.",
	"Please generate only the enhanced description for the prompt below and avoid including any additional commentary or evaluations:",
	"User Prompt: ",
}

// DefaultMaxSequenceLength is SanaPipeline's max_sequence_length.
const DefaultMaxSequenceLength = 300

// PromptOptions controls EncodeSanaPrompt.
type PromptOptions struct {
	// Instruction lines (joined with "\n") to prepend; nil or empty means
	// no instruction. The pipeline default is DefaultInstruction.
	Instruction []string
	// MaxSequenceLength is the number of text-encoder positions kept
	// (0 means DefaultMaxSequenceLength); it must be at least 2.
	MaxSequenceLength int
}

// DefaultPromptOptions returns the SanaPipeline defaults: the CHI and 300
// tokens.
func DefaultPromptOptions() PromptOptions {
	return PromptOptions{Instruction: DefaultInstruction, MaxSequenceLength: DefaultMaxSequenceLength}
}

// Prompt is a prompt tokenized for the Gemma text encoder.
type Prompt struct {
	// InputIDs and AttentionMask are what the text encoder runs on (all
	// positions, padded on the right with id 0 and mask 0).
	InputIDs, AttentionMask []int64
	// Select lists the positions of the encoder output that the pipeline
	// keeps (diffusers' select_index): 0 and the last
	// MaxSequenceLength-1 positions with an instruction, all positions
	// without.
	Select []int
}

// Selected returns the ids and mask at the Select positions.
func (p Prompt) Selected() (ids, mask []int64) {
	ids = make([]int64, len(p.Select))
	mask = make([]int64, len(p.Select))
	for i, j := range p.Select {
		ids[i], mask[i] = p.InputIDs[j], p.AttentionMask[j]
	}
	return ids, mask
}

// EncodeSanaPrompt tokenizes a positive prompt as SanaPipeline.encode_prompt
// does: prompt.lower().strip(), the instruction prepended, <bos> added,
// truncated and right-padded to num_instruction_tokens + max - 2 (where
// num_instruction_tokens counts the instruction alone with its <bos>), or
// to max without instruction.
func (t *Tokenizer) EncodeSanaPrompt(prompt string, opts PromptOptions) (Prompt, error) {
	maxLen := opts.MaxSequenceLength
	if maxLen == 0 {
		maxLen = DefaultMaxSequenceLength
	}
	if maxLen < 2 {
		return Prompt{}, fmt.Errorf("tokenizer: max sequence length %d is below 2", maxLen)
	}
	text := pyStrip(pyLower(prompt))
	if len(opts.Instruction) == 0 {
		ids, mask := t.encodePadded(text, maxLen)
		return Prompt{InputIDs: ids, AttentionMask: mask, Select: identity(maxLen)}, nil
	}
	chi := strings.Join(opts.Instruction, "\n")
	total := len(t.Encode(chi, true)) + maxLen - 2
	ids, mask := t.encodePadded(chi+text, total)
	sel := make([]int, 0, maxLen)
	sel = append(sel, 0)
	for j := total - (maxLen - 1); j < total; j++ {
		sel = append(sel, j)
	}
	return Prompt{InputIDs: ids, AttentionMask: mask, Select: sel}, nil
}

// EncodeSanaNegativePrompt tokenizes a negative prompt as the pipeline
// does: lower().strip(), no instruction, MaxSequenceLength positions.
func (t *Tokenizer) EncodeSanaNegativePrompt(prompt string, opts PromptOptions) (Prompt, error) {
	opts.Instruction = nil
	return t.EncodeSanaPrompt(prompt, opts)
}

// encodePadded is tokenizer(text, padding="max_length", truncation=True,
// max_length=n) with right padding (pad id 0) and right truncation.
func (t *Tokenizer) encodePadded(text string, n int) (ids, mask []int64) {
	enc := t.Encode(text, true)
	if len(enc) > n {
		// HF truncates the text part and then adds the special tokens;
		// with only a prefix, that equals cutting the whole sequence.
		enc = append(enc[:n-len(t.suffix)], t.suffix...)
	}
	ids = make([]int64, n)
	mask = make([]int64, n)
	for i, id := range enc {
		ids[i], mask[i] = int64(id), 1
	}
	return ids, mask
}

func identity(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
