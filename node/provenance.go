package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/sanafarm/sanafarm/internal/readcap"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/model/weights"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// weightFile is one safetensors file of a model, as provenance records it.
type weightFile struct {
	Path   string   `json:"path"`
	Size   int64    `json:"size"`
	SHA256 string   `json:"sha256"`
	DTypes []string `json:"dtypes,omitempty"`
}

// modelFacts is what provenance records of a resolved model folder:
// computed once per folder (hashing the weights reads them whole).
type modelFacts struct {
	Weights   []weightFile    `json:"weights"`
	Scheduler json.RawMessage `json:"scheduler_config,omitempty"`
}

// factsCache computes each folder's facts once.
type factsCache struct {
	mu    sync.Mutex
	facts map[string]*modelFacts
}

func (c *factsCache) get(ctx context.Context, dir string) (*modelFacts, error) {
	return c.compute(ctx, dir, func(ctx context.Context) (*modelFacts, error) { return inspectModel(ctx, dir) })
}

// compute returns key's facts, computing them once.
func (c *factsCache) compute(ctx context.Context, key string, f func(context.Context) (*modelFacts, error)) (*modelFacts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if got, ok := c.facts[key]; ok {
		return got, nil
	}
	got, err := f(ctx)
	if err != nil {
		return nil, err
	}
	if c.facts == nil {
		c.facts = map[string]*modelFacts{}
	}
	c.facts[key] = got
	return got, nil
}

// inspectModel hashes every safetensors file under dir (following the
// Hugging Face cache's symlinks) and reads the scheduler config.
func inspectModel(ctx context.Context, dir string) (*modelFacts, error) {
	f := &modelFacts{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".safetensors") {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		w, err := hashWeights(p)
		if err != nil {
			return fmt.Errorf("hashing %s: %w", p, err)
		}
		w.Path, _ = filepath.Rel(dir, p)
		w.Path = filepath.ToSlash(w.Path)
		f.Weights = append(f.Weights, w)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Recorded whole in every shard's provenance, so bounded like every
	// config (the sampler refuses a larger one anyway).
	if b, err := readcap.File(filepath.Join(dir, "scheduler", "scheduler_config.json"), weights.MaxConfigBytes); err == nil {
		var buf bytes.Buffer
		if json.Compact(&buf, b) == nil {
			f.Scheduler = buf.Bytes()
		}
	}
	return f, nil
}

// hashWeights returns a file's size, SHA-256 and tensor dtypes.
func hashWeights(p string) (weightFile, error) {
	fh, err := os.Open(p)
	if err != nil {
		return weightFile{}, err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return weightFile{}, err
	}
	return weightFile{Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), DTypes: safetensorsDTypes(fh)}, nil
}

// safetensorsDTypes lists the dtypes of a safetensors header (nil if it
// cannot be read).
func safetensorsDTypes(f *os.File) []string {
	var n [8]byte
	if _, err := f.ReadAt(n[:], 0); err != nil {
		return nil
	}
	size := binary.LittleEndian.Uint64(n[:])
	if size > 100<<20 {
		return nil
	}
	hdr := make([]byte, size)
	if _, err := f.ReadAt(hdr, 8); err != nil {
		return nil
	}
	var tensors map[string]struct {
		DType string `json:"dtype"`
	}
	if json.Unmarshal(hdr, &tensors) != nil {
		return nil
	}
	var out []string
	for name, t := range tensors {
		if name != "__metadata__" && t.DType != "" && !slices.Contains(out, t.DType) {
			out = append(out, t.DType)
		}
	}
	slices.Sort(out)
	return out
}

// chiSHA256 is the hash of the complex human instruction Gemma's prompts
// are wrapped in.
var chiSHA256 = func() string { h := sha256.Sum256([]byte(sana.CHI())); return hex.EncodeToString(h[:]) }()

// genRequest is every field that determines a sample's pixels; its
// canonical JSON's SHA-256 is the sample's request hash. (The backend is
// left out: a shard done on another backend is reused on resume.)
type genRequest struct {
	Model      string          `json:"model"`
	Repo       string          `json:"repo,omitempty"`
	Revision   string          `json:"revision,omitempty"`
	Variant    string          `json:"variant,omitempty"`
	Weights    []string        `json:"weights"` // path:sha256
	Scheduler  json.RawMessage `json:"scheduler_config,omitempty"`
	CHI        string          `json:"chi_sha256"`
	Prompt     string          `json:"prompt"`
	Negative   string          `json:"negative_prompt"`
	NoiseSeed  uint64          `json:"noise_seed"`
	Width      int             `json:"width"`
	Height     int             `json:"height"`
	Steps      int             `json:"steps"`
	Guidance   float64         `json:"guidance"`
	Sampler    string          `json:"sampler"`
	OutputSize string          `json:"output_size,omitempty"`
	// Job inputs (issues 17, 19); omitted when unset, so the hashes of
	// plain jobs stay those of earlier releases and resume across them.
	LoRAs      []string `json:"loras,omitempty"` // sha256:weight
	LoRAScale  float64  `json:"lora_scale,omitempty"`
	InitImage  string   `json:"init_image_sha256,omitempty"`
	Strength   float64  `json:"strength,omitempty"`
	NVlabsFile []string `json:"nvlabs,omitempty"` // config and checkpoint ref:sha256
	// PAG and ControlNet (docs/pag.md, docs/controlnet.md).
	PAGScale     float64  `json:"pag_scale,omitempty"`
	PAGAdaptive  float64  `json:"pag_adaptive_scale,omitempty"`
	PAGLayers    []int    `json:"pag_layers,omitempty"` // none: the model's default
	ControlNet   []string `json:"controlnet,omitempty"` // weights path:sha256
	ControlImage string   `json:"control_image_sha256,omitempty"`
	ControlScale float64  `json:"controlnet_scale,omitempty"`
}

func (g genRequest) hash() string {
	js, _ := json.Marshal(g) // struct fields: a fixed order
	h := sha256.Sum256(js)
	return hex.EncodeToString(h[:])
}

// shardHash is the request hash of a whole shard: its format, range and
// every sample's hash.
func shardHash(format string, t protocol.Task, samples []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "sanafarm shard v1\nformat=%s\nstart=%d\nend=%d\n", pick(format, storage.FormatFiles), t.Start, t.End)
	for _, s := range samples {
		io.WriteString(h, s+"\n")
	}
	return hex.EncodeToString(h.Sum(nil))
}

// modelProvenance is the model part of a sample's <key>.json.
type modelProvenance struct {
	Origin   string       `json:"origin"`
	Repo     string       `json:"repo,omitempty"`
	Revision string       `json:"revision,omitempty"`
	Variant  string       `json:"variant,omitempty"`
	Weights  []weightFile `json:"weights"`
}

// promptTemplate records how prompts were wrapped for Gemma.
type promptTemplate struct {
	ComplexHumanInstruction bool   `json:"complex_human_instruction"`
	SHA256                  string `json:"sha256"`
	Text                    string `json:"text,omitempty"`
}

// sampleMeta is a sample's <key>.json: the PNG's parameters plus full
// provenance. The run part (node, GPU, attempt, timings) differs between
// attempts; everything else is a pure function of the request.
type sampleMeta struct {
	provenance
	Job            protocol.JobID             `json:"job"`
	Shard          int                        `json:"shard"`
	SampleSeed     uint64                     `json:"sample_seed"`
	ID             string                     `json:"id,omitempty"`
	Extra          map[string]json.RawMessage `json:"extra,omitempty"`
	ModelInfo      modelProvenance            `json:"model_info"`
	SamplerConfig  json.RawMessage            `json:"sampler_config,omitempty"`
	PromptTemplate promptTemplate             `json:"prompt_template"`
	DType          string                     `json:"dtype,omitempty"`
	RequestHash    string                     `json:"request_hash"`
	Node           string                     `json:"node,omitempty"`
	GPU            string                     `json:"gpu,omitempty"`
	GPUUUID        string                     `json:"gpu_uuid,omitempty"` // NVML UUID of the card (gpu names its model)
	Attempt        int                        `json:"attempt"`
	Timings        map[string]float64         `json:"timings,omitempty"`
}

// dtypes joins the weights' tensor dtypes ("BF16+F32").
func (f *modelFacts) dtypes() string {
	var all []string
	for _, w := range f.Weights {
		for _, d := range w.DTypes {
			if !slices.Contains(all, d) {
				all = append(all, d)
			}
		}
	}
	slices.Sort(all)
	return strings.Join(all, "+")
}

// weightHashes lists "path:sha256" of every weight file.
func (f *modelFacts) weightHashes() []string {
	out := make([]string, len(f.Weights))
	for i, w := range f.Weights {
		out[i] = w.Path + ":" + w.SHA256
	}
	return out
}

// inputProvenance is what a sample's .json and PNG record of the job's
// inputs beyond sana.Params (which lists the LoRAs, init image, strength,
// PAG scale and layers, ControlNet origin, control image and scale): the
// init and control images' sha256, the NVlabs files and the ControlNet's
// weights.
type inputProvenance struct {
	InitImageSHA256    string                 `json:"init_image_sha256,omitempty"`
	NVlabs             *sana.NVlabsProvenance `json:"nvlabs,omitempty"`
	ControlImageSHA256 string                 `json:"control_image_sha256,omitempty"`
	ControlNetWeights  []weightFile           `json:"controlnet_weights,omitempty"`
}
