package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/model/lora"
	"github.com/sanafarm/sanafarm/model/nvlabs"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// Size limits of a job's inputs read into memory.
const (
	maxLoRABytes      = 4 << 30
	maxInitImageBytes = 64 << 20
)

// defaultLoRAFile is the file save_lora_weights writes, used when an
// hf:// URL names only a repo (as `sanafarm generate --lora` does).
const defaultLoRAFile = "pytorch_lora_weights.safetensors"

// jobInputs is what a job loads besides its model (docs/lora.md,
// docs/nvlabs.md): LoRA adapters fused at load, an init image, and the
// local files of an NVlabs config and checkpoint.
type jobInputs struct {
	loras      lora.Set
	initImage  image.Image
	initSource string
	initSHA256 string
	strength   float64
	nvlabs     *nvlabsFiles
	// img2img: the encoder is loaded (an init image or column). column
	// names the prompt file's init image column, and rowImages maps each
	// of the task's init image URLs to its sha256 (readRowImages).
	img2img   bool
	column    string
	rowImages map[string]string
	// perPrompt is the job's images per prompt: sample i is prompt row
	// i/perPrompt (errors about a row image name both).
	perPrompt int64
	// pag is the job's perturbed-attention guidance and control its
	// ControlNet (nil without one; docs/pag.md, docs/controlnet.md).
	pag     sana.PAG
	control *controlInputs
}

// nvlabsFiles are an NVlabs job's config and checkpoint, local.
type nvlabsFiles struct {
	config, checkpoint string // local paths, as OpenNVlabs takes them
	size               int    // the config's image_size: the default width and height
	facts              *modelFacts
}

// key names the loaded variant: the spec's weights, every adapter's
// content and whether the encoder is needed (image-to-image).
func (in *jobInputs) key(spec protocol.JobSpec) string {
	var b strings.Builder
	b.WriteString(cacheKey(spec))
	for _, a := range in.loras.Adapters {
		fmt.Fprintf(&b, "|lora=%s:%s", a.Adapter.SHA256, strconv.FormatFloat(a.Weight, 'g', -1, 64))
	}
	if len(in.loras.Adapters) > 0 {
		fmt.Fprintf(&b, "|scale=%s", strconv.FormatFloat(in.loras.Scale, 'g', -1, 64))
	}
	if in.nvlabs != nil {
		fmt.Fprintf(&b, "|config=%s|checkpoint=%s", spec.Config, spec.Checkpoint)
	}
	if in.img2img {
		b.WriteString("|img2img")
	}
	b.WriteString(in.control.keyPart())
	return b.String()
}

// readInputs reads a job's LoRAs, init image, ControlNet and control
// image (allow-list checked; hf:// URLs through the Hub cache) and
// fetches its NVlabs files.
func (e *PipelineExecutor) readInputs(ctx context.Context, spec protocol.JobSpec) (*jobInputs, error) {
	in := &jobInputs{loras: lora.Set{Scale: spec.EffectiveLoRAScale()}, strength: spec.Strength,
		img2img: spec.ImageToImage(), column: spec.InitImageColumn, perPrompt: int64(max(spec.ImagesPerPrompt, 1))}
	for i, l := range spec.LoRAs {
		src := l.URL
		if protocol.HubURL(src) && strings.Count(strings.TrimPrefix(src, hub.URLScheme), "/") == 1 {
			src += "/" + defaultLoRAFile
		}
		field := fmt.Sprintf("loras[%d].url", i)
		a, err := e.readLoRA(ctx, field, l.URL, src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		in.loras.Adapters = append(in.loras.Adapters, lora.Weighted{Adapter: a, Weight: l.EffectiveWeight()})
	}
	if spec.InitImage != "" {
		b, err := e.readInput(ctx, "init_image", spec.InitImage, maxInitImageBytes)
		if err != nil {
			return nil, err
		}
		img, err := sana.DecodeInputImage(b)
		if err != nil {
			return nil, fmt.Errorf("init_image %s: %w", spec.InitImage, err)
		}
		sum := sha256.Sum256(b)
		in.initImage, in.initSource, in.initSHA256 = img, spec.InitImage, hex.EncodeToString(sum[:])
	}
	if spec.Config != "" {
		nv, err := e.nvlabsFiles(ctx, spec)
		if err != nil {
			return nil, err
		}
		in.nvlabs = nv
	}
	in.pag = pagOf(spec)
	var err error
	if in.control, err = e.readControl(ctx, spec); err != nil {
		return nil, err
	}
	return in, nil
}

// readInput reads a job input of at most limit bytes: an hf:// URL from
// the Hub cache, anything else through storage.OpenObject once the
// allow-list admits it.
func (e *PipelineExecutor) readInput(ctx context.Context, field, raw string, limit int64) ([]byte, error) {
	var r io.ReadCloser
	if protocol.HubURL(raw) {
		path, err := e.fetchHub(ctx, field, raw, limit)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(filepath.Clean(path))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", field, raw, err)
		}
		r = f
	} else {
		if err := e.allow.CheckModelFile(field, raw); err != nil {
			return nil, err
		}
		var err error
		if r, err = storage.OpenObject(ctx, raw); err != nil {
			return nil, fmt.Errorf("%s %s: %w", field, raw, err)
		}
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s %s: %w", field, raw, err)
	case int64(len(b)) > limit:
		return nil, fmt.Errorf("%s %s: larger than %d bytes", field, raw, limit)
	}
	return b, nil
}

// hubClient opens the Hugging Face cache as the model resolver does.
func (e *PipelineExecutor) hubClient() (*hub.Client, error) {
	c, err := hub.New(e.cfg.Models.hubConfig())
	if err != nil {
		return nil, fmt.Errorf("opening the Hugging Face cache: %w", err)
	}
	return c, nil
}

// fetchHub downloads an hf:// file into the Hub cache; one the Hub lists
// as larger than limit bytes (≤ 0: no bound) is refused before that.
func (e *PipelineExecutor) fetchHub(ctx context.Context, field, raw string, limit int64) (string, error) {
	c, err := e.hubClient()
	if err != nil {
		return "", err
	}
	path, _, err := c.DownloadURLMax(ctx, raw, limit)
	if errors.Is(err, hub.ErrOffline) {
		return "", fmt.Errorf("%s %s is not cached and the node is offline: %w", field, raw, err)
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", field, raw, err)
	}
	return path, nil
}

// nvlabsFiles fetches an NVlabs job's config and checkpoint and hashes
// them once per pair (the facts the request hash and provenance record).
func (e *PipelineExecutor) nvlabsFiles(ctx context.Context, spec protocol.JobSpec) (*nvlabsFiles, error) {
	nv := &nvlabsFiles{}
	local := func(field, raw string) (string, error) {
		if field == "config" && nvlabs.IsBuiltin(raw) { // an NVlabs preset's (docs/nvlabs.md)
			return nvlabs.BuiltinFile(raw)
		}
		if protocol.HubURL(raw) {
			return e.fetchHub(ctx, field, raw, 0)
		}
		if err := e.allow.CheckModelFile(field, raw); err != nil {
			return "", err
		}
		loc, err := protocol.ParseLocation(raw)
		if err != nil || loc.IsS3() {
			return "", fmt.Errorf("%s %s: want a node path, file:// or hf:// URL", field, raw)
		}
		return loc.Path, nil
	}
	cfgPath, err := local("config", spec.Config)
	if err != nil {
		return nil, err
	}
	ckPath, err := local("checkpoint", spec.Checkpoint)
	if err != nil {
		return nil, err
	}
	nv.config, nv.checkpoint = cfgPath, ckPath
	cfg, err := nvlabs.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", spec.Config, err)
	}
	nv.size = cfg.ImageSize
	nv.facts, err = e.facts.compute(ctx, "nvlabs:"+cfgPath+"\x00"+ckPath, func(ctx context.Context) (*modelFacts, error) {
		f := &modelFacts{}
		for _, p := range []struct{ ref, path string }{{spec.Config, cfgPath}, {spec.Checkpoint, ckPath}} {
			w, err := hashFile(ctx, p.path)
			if err != nil {
				return nil, err
			}
			w.Path = p.ref
			f.Weights = append(f.Weights, w)
		}
		return f, nil
	})
	return nv, err
}

// hashFile returns a file's size and SHA-256.
func hashFile(ctx context.Context, path string) (weightFile, error) {
	if err := ctx.Err(); err != nil {
		return weightFile{}, err
	}
	f, err := os.Open(filepath.Clean(path))
	if err != nil {
		return weightFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return weightFile{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	return weightFile{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// loadOptions adds the job's inputs to the pipeline options.
func (in *jobInputs) loadOptions(o sana.Options) sana.Options {
	if len(in.loras.Adapters) > 0 {
		o.LoRA = in.loras
	}
	o.ImageToImage = in.img2img
	if c := in.control; c != nil {
		o.ControlNet, o.ControlNetOrigin = osDirFS(c.dir), c.origin
	}
	return o
}

// loadNVlabs loads an NVlabs job's pipeline (docs/nvlabs.md).
func (e *PipelineExecutor) loadNVlabs(ctx context.Context, spec protocol.JobSpec, in *jobInputs, o sana.Options) (*sana.Pipeline, Model, error) {
	c, err := e.hubClient()
	if err != nil {
		return nil, Model{}, err
	}
	p, prov, err := sana.OpenNVlabs(ctx, c, sana.NVlabsRefs{Config: in.nvlabs.config, Checkpoint: in.nvlabs.checkpoint}, o)
	if err != nil {
		return nil, Model{}, fmt.Errorf("loading NVlabs config %s checkpoint %s: %w", spec.Config, spec.Checkpoint, err)
	}
	prov.Config, prov.Checkpoint = spec.Config, spec.Checkpoint
	return p, nvlabsModel(spec, &prov), nil
}

// nvlabsModel is the Model of an NVlabs job (no preset, no folder).
func nvlabsModel(spec protocol.JobSpec, prov *sana.NVlabsProvenance) Model {
	return Model{Name: spec.VariantKey(), Variant: spec.Variant, Origin: spec.Checkpoint, NVlabs: prov}
}

// NVlabs defaults when the job leaves them unset: the config's
// image_size, and the NVlabs inference script's 20 steps at guidance 4.5
// (as `sanafarm generate --config` uses).
const (
	nvlabsSteps    = 20
	nvlabsGuidance = 4.5
)

// addTo puts the inputs into a sample's request hash.
func (in *jobInputs) addTo(g *genRequest) {
	for _, a := range in.loras.Adapters {
		g.LoRAs = append(g.LoRAs, a.Adapter.SHA256+":"+strconv.FormatFloat(a.Weight, 'g', -1, 64))
	}
	if len(g.LoRAs) > 0 {
		g.LoRAScale = in.loras.Scale
	}
	g.InitImage, g.Strength = in.initSHA256, in.strength
	if in.nvlabs != nil {
		for _, w := range in.nvlabs.facts.Weights {
			g.NVlabsFile = append(g.NVlabsFile, w.Path+":"+w.SHA256)
		}
	}
	in.control.addTo(g, in.pag)
}
