package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"os"
	"path/filepath"

	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
)

// controlNetFiles are what a job's controlnet hf://OWNER/REPO downloads:
// the diffusers layout of a SanaControlNetModel repo, as `sanafarm
// generate --controlnet` fetches it (docs/controlnet.md).
var controlNetFiles = []string{"config.json", "diffusion_pytorch_model.safetensors"}

// controlInputs are a job's ControlNet and its control images
// (docs/controlnet.md).
type controlInputs struct {
	origin string      // the job's controlnet field, as provenance names it
	dir    string      // its local folder
	facts  *modelFacts // its weights' hashes (request hash, variant, provenance)
	scale  float64     // controlnet_scale (0: the model's default, 1)
	// image is the job-wide control image (nil with a column), source its
	// URL and sha its SHA-256.
	image       image.Image
	source, sha string
	// column names the prompt file's control image column; rows maps each
	// of the task's control image URLs to its sha256 (readRowImages).
	column string
	rows   map[string]string
}

// pagOf is the job's perturbed-attention guidance (docs/pag.md); the
// pipeline checks the layers against its transformer at generation.
func pagOf(spec protocol.JobSpec) sana.PAG {
	if !spec.UsesPAG() {
		return sana.PAG{}
	}
	return sana.PAG{Scale: float32(spec.PAGScale), AdaptiveScale: float32(spec.PAGAdaptiveScale), Blocks: spec.PAGLayers}
}

// readControl resolves a job's ControlNet (allow-list checked; hf:// from
// the Hub cache), hashes its weights once per folder and reads the
// job-wide control image. A job without a ControlNet gives nil.
func (e *PipelineExecutor) readControl(ctx context.Context, spec protocol.JobSpec) (*controlInputs, error) {
	if spec.ControlNet == "" {
		return nil, nil
	}
	dir, err := e.controlNetDir(ctx, spec.ControlNet)
	if err != nil {
		return nil, err
	}
	c := &controlInputs{origin: spec.ControlNet, dir: dir, scale: spec.ControlNetScale, column: spec.ControlImageColumn}
	if c.facts, err = e.facts.get(ctx, dir); err != nil {
		return nil, fmt.Errorf("controlnet %s: %w", spec.ControlNet, err)
	}
	if spec.ControlImage != "" {
		b, err := e.readInput(ctx, "control_image", spec.ControlImage, maxInitImageBytes)
		if err != nil {
			return nil, err
		}
		if c.image, err = sana.DecodeInputImage(b); err != nil {
			return nil, fmt.Errorf("control_image %s: %w", spec.ControlImage, err)
		}
		sum := sha256.Sum256(b)
		c.source, c.sha = spec.ControlImage, hex.EncodeToString(sum[:])
	}
	return c, nil
}

// controlNetDir is the local folder of a job's controlnet: the Hub
// cache's snapshot of hf://OWNER/REPO, or a node folder the allow-list
// admits (checked before anything is opened).
func (e *PipelineExecutor) controlNetDir(ctx context.Context, raw string) (string, error) {
	if protocol.HubURL(raw) {
		var dir string
		for _, name := range controlNetFiles {
			path, err := e.fetchHub(ctx, "controlnet", raw+"/"+name, 0)
			if err != nil {
				return "", err
			}
			dir = filepath.Dir(path)
		}
		return dir, nil
	}
	if err := e.allow.CheckModelFile("controlnet", raw); err != nil {
		return "", err
	}
	loc, err := protocol.ParseLocation(raw)
	if err != nil || loc.IsS3() {
		return "", fmt.Errorf("controlnet %s: want a node folder, file:// or hf://OWNER/REPO URL", raw)
	}
	if st, err := os.Stat(loc.Path); err != nil || !st.IsDir() {
		return "", fmt.Errorf("controlnet %s: want a SanaControlNetModel folder (config.json, diffusion_pytorch_model.safetensors)", raw)
	}
	return loc.Path, nil
}

// keyPart is the ControlNet's part of the resident variant key: its
// weights' content (PAG is per request and changes no weights).
func (c *controlInputs) keyPart() string {
	if c == nil {
		return ""
	}
	s := "|controlnet="
	for _, h := range c.facts.weightHashes() {
		s += h + ","
	}
	return s
}

// addTo puts PAG and the ControlNet into a sample's request hash (the
// per-row control image is set by the plan).
func (c *controlInputs) addTo(g *genRequest, pag sana.PAG) {
	if pag.Scale > 0 {
		g.PAGScale, g.PAGAdaptive, g.PAGLayers = float64(pag.Scale), float64(pag.AdaptiveScale), pag.Blocks
	}
	if c == nil {
		return
	}
	g.ControlNet, g.ControlImage = c.facts.weightHashes(), c.sha
	g.ControlScale = c.scale
	if g.ControlScale == 0 {
		g.ControlScale = sana.DefaultControlScale
	}
}

// requestFields sets a batch request's ControlNet fields from the job
// (the row image, if any, replaces the image per batch).
func (c *controlInputs) requestFields(q *sana.Request) {
	if c == nil {
		return
	}
	q.ControlImage, q.ControlImageSource, q.ControlScale = c.image, c.source, c.scale
}

// provenance is what a sample records of the ControlNet beyond Params
// (which names its origin, the control image URL and the scale).
func (c *controlInputs) provenance(rowSHA string) (sha string, weights []weightFile) {
	if c == nil {
		return "", nil
	}
	return pick(rowSHA, c.sha), c.facts.Weights
}
