package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// Prompt files at most this big (prompts, bytes) are sent inline with
// the job; bigger ones are passed by URL and read by the nodes.
const (
	inlineMaxPrompts = 1000
	inlineMaxBytes   = 256 << 10
)

// submitFlags are the options of `sanafarm submit`.
type submitFlags struct {
	api                       apiFlags
	spec                      protocol.JobSpec
	promptsFile, format, dest string
	prompts                   []string
	wait, quiet, asJSON       bool // asJSON: the deprecated --json (-o json)
	pollInterval              time.Duration
	manifestTimeout           time.Duration
	inputs                    submitInputs
}

// submitLong is the help text of `sanafarm submit`.
const submitLong = `submit sends a job to the farm and prints its id. Each prompt is generated
--images-per-prompt times; image i of the job uses its own noise stream of
--seed, so re-running a job reproduces it. The job is split into shards of
--shard-size images, each written by one node: with --format files (the
default) as <out>/<shard:05d>/<key>.png (.json provenance, .txt prompt), with
--format webdataset as one tar <out>/<shard:05d>.tar holding <key>.png,
<key>.json and <key>.txt; then <out>/<shard:05d>_stats.json (written last:
counts, timings, node, GPU, and the size and sha256 of every object). When
the job is done the leader writes <out>/manifest.jsonl and manifest.parquet
(one row per image).

--parallel runs each shard on a gang of nodes that split one transformer
over NATS: tp:N (attention heads and FFN channels), sp:N (bands of latent
rows) or cfg:2 (the two guidance branches). The coordinator leases the shard
to N distinct live nodes at once; rank 0 writes it. Losing any rank fails
the attempt and the shard is retried as a whole; a job that needs more nodes
than are live fails with a reason. Output equals the single-node job's.

Resuming: submitting the same spec to the same output resumes it. A node
skips every shard whose stats exist for the same request (prompts, seeds,
model weights, settings) and whose objects match the recorded sizes and
sha256s; missing, partial or corrupt shards are generated again under the
same keys.

--prompts reads a .txt file (one prompt per line), a .jsonl file ({"prompt":
...} per line, with optional negative_prompt, seed, id and extra fields), a
.csv file with a header (a prompt column; optional negative_prompt, seed, id
and extra columns) or a .parquet file with a prompt column. A local file of
at most 1000 plain prompts is sent inline; any other local file is uploaded
to <output>/_inputs/<sha256>.<ext> (nodes may read it there: it lies under
their --allow-write roots), and an s3:// file is named as it is (it must be
under the nodes' --allow-read). The job carries the row count and an index
of row offsets, so each node reads its rows with one seek. Every line is
checked first: a bad line fails submit with
exit status 1 and an error naming the file and line (file:LINE: problem),
and nothing is submitted.

Flag values the job spec's rules refuse (--steps -2, --width 100: the rules
the coordinator applies) are usage errors, exit status 2, found before any
file is read or request sent.

--dest is where the job's images go: a directory path, a file:// URL
(relative paths are made absolute) or an s3:// URL. -o/--output is, as in
every command, the format of what submit prints: table (the job id on
stdout) or json (the job; with --wait, the final job).

--lora URL[:WEIGHT] (repeatable) and --lora-scale fuse LoRA adapters into the
model on the nodes (docs/lora.md); --init-image and --strength make every
sample image-to-image (Sprint models); --config and --checkpoint replace
--model by an NVlabs YAML config and .pth checkpoint (docs/nvlabs.md). Local
paths are sent as absolute file:// URLs and must be under the nodes' and the
coordinator's --allow-read; hf:// URLs come from each node's Hub cache. The
samples record every input's source and sha256.

With --wait, submit shows a progress bar until the job ends and exits 0 only
if it is done and its manifest is written (1 if it failed or was cancelled,
with the coordinator's reasons, or if the manifest was not recorded within
--manifest-timeout). A job that no live node may run (every node failed it
twice, e.g. a model id that does not exist) fails rather than waiting.`

func newSubmitCmd() *cobra.Command {
	var f submitFlags
	cmd := &cobra.Command{
		Use:   "submit --model PRESET (--prompts FILE | --prompt TEXT...) --dest URL [flags]",
		Short: "Submit a batch job of prompts",
		Long:  submitLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSubmit(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	f.api.register(fl)
	fl.BoolVar(&f.asJSON, "json", false, "print the job as JSON (the final job with --wait)")
	_ = fl.MarkDeprecated("json", "use -o json")
	fl.StringVar(&f.spec.Model, "model", "", "model preset (see sanafarm models list; sana-tiny works offline) or Hugging Face repo id")
	fl.StringVar(&f.promptsFile, "prompts", "", "prompt file (.txt, .jsonl, .csv or .parquet): a path, file:// or s3:// URL")
	fl.StringVar(&f.format, "prompts-format", "", "prompt file format: txt, jsonl, csv or parquet (default: from the extension)")
	fl.StringVar(&f.spec.Output.Format, "format", "", "how the images are laid out at --dest: files or webdataset (default files)")
	fl.StringArrayVarP(&f.prompts, "prompt", "p", nil, "a prompt (repeat for several)")
	fl.StringVar(&f.dest, "dest", "", "where the images go: a directory, file:// or s3:// URL")
	fl.StringVar(&f.spec.Name, "name", "", "job name")
	fl.IntVarP(&f.spec.ImagesPerPrompt, "images-per-prompt", "n", 1, "images per prompt")
	fl.IntVar(&f.spec.Steps, "steps", 0, "denoising steps (default: the model's)")
	fl.Float64Var(&f.spec.Guidance, "guidance", 0, "guidance scale (default: the model's)")
	fl.Uint64Var(&f.spec.Seed, "seed", 0, "job seed")
	fl.IntVar(&f.spec.Width, "width", 0, "image width (default: the model's size)")
	fl.IntVar(&f.spec.Height, "height", 0, "image height (default: the model's size)")
	fl.StringVar(&f.spec.NegativePrompt, "negative", "", "negative prompt")
	fl.StringVar(&f.spec.Sampler, "sampler", "", "sampler override: dpm or euler")
	fl.IntVar(&f.spec.ShardSize, "shard-size", 0, fmt.Sprintf("images per output shard (default %d)", protocol.DefaultShardSize))
	fl.IntVar(&f.spec.Priority, "priority", 0, "priority: higher runs first")
	fl.IntVar(&f.spec.MaxAttempts, "max-attempts", 0, fmt.Sprintf("attempts per shard before the job fails (default %d)", protocol.DefaultMaxAttempts))
	fl.StringVar(&f.spec.Timeout, "timeout", "", "fail the job once this long has passed since the submit or a retry (e.g. 36h; default: none)")
	f.inputs.register(fl)
	fl.StringVar(&f.spec.Parallel, "parallel", "", "split each shard's transformer over a gang of nodes: tp:N or sp:N (N = 2..8), or cfg:2")
	fl.BoolVar(&f.wait, "wait", false, "wait for the job to end, with a progress bar")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar (with --wait)")
	fl.DurationVar(&f.pollInterval, "poll", 500*time.Millisecond, "how often --wait polls the job")
	fl.DurationVar(&f.manifestTimeout, "manifest-timeout", 2*time.Minute, "with --wait, how long to wait for a done job's manifest")
	_ = cmd.MarkFlagRequired("dest")
	return cmd
}

func runSubmit(ctx context.Context, f submitFlags, stdout, stderr io.Writer) error {
	if (f.promptsFile == "") == (len(f.prompts) == 0) {
		return usagef("give either --prompts FILE or --prompt TEXT (not both)")
	}
	spec := f.spec
	if err := f.inputs.apply(&spec); err != nil {
		return usage(err)
	}
	f.asJSON = f.asJSON || f.api.json()
	var err error
	if spec.Output.URL, err = localURL(f.dest); err != nil {
		return err
	}
	spec.Prompts = protocol.PromptSource{Inline: f.prompts}
	if err := checkSubmitSpec(spec, f.promptsFile, f.format); err != nil { // submitcheck.go
		return err
	}
	if f.promptsFile != "" {
		if spec.Prompts, err = promptSource(ctx, f.promptsFile, f.format, spec.Output.URL, stderr); err != nil {
			return failed(stderr, fmt.Errorf("--prompts %s: %w", f.promptsFile, err))
		}
	}
	cl := f.api.client()
	start := time.Now()
	job, err := cl.SubmitJob(ctx, spec)
	if err != nil {
		return failed(stderr, fmt.Errorf("submitting job: %w", err))
	}
	if !f.wait {
		if f.asJSON {
			return writeJSON(stdout, job)
		}
		fmt.Fprintf(stdout, "%s\n", job.ID)
		fmt.Fprintf(stderr, "job %s submitted: %s in %s (sanafarm status %s)\n", job.ID, plural(job.Images, "image"), plural(int64(job.Shards), "shard"), job.ID)
		return nil
	}
	fmt.Fprintf(stderr, "job %s submitted: %s in %s\n", job.ID, plural(job.Images, "image"), plural(int64(job.Shards), "shard"))
	final, err := waitJobStream(ctx, cl, job, f, stderr) // watch.go; polls without a stream
	if err != nil {
		return failed(stderr, err)
	}
	return reportJob(stdout, stderr, final, time.Since(start), f.asJSON)
}

// localURL turns a path into an absolute file:// URL (URLs pass through).
func localURL(p string) (string, error) {
	if strings.Contains(p, "://") {
		return p, nil
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("path %q: %w", p, err)
	}
	return "file://" + filepath.ToSlash(abs), nil
}

// promptSource counts and indexes a prompt file's rows (checking every
// line), inlines a small local file whose rows carry nothing but their
// prompts, and uploads any other local file with its fine index next to
// the job's output (uploadPrompts), so that the job never names a path
// on this machine; an s3:// file is passed as it is, with its row count
// and coarse index.
func promptSource(ctx context.Context, file, format, output string, stderr io.Writer) (protocol.PromptSource, error) {
	u, err := localURL(file)
	if err != nil {
		return protocol.PromptSource{}, err
	}
	src := protocol.PromptSource{URL: u, Format: format}
	var fine []byte
	if src.Rows, src.Index, fine, err = storage.IndexPromptsFine(ctx, src); err != nil {
		return src, err
	}
	if inline, ok, err := inlinePrompts(ctx, src); err != nil || ok {
		return inline, err
	}
	if storage.IsS3URL(u) {
		if src.Index != nil {
			src.Index.Fine = 0 // nowhere to store it next to a file that is not ours
		}
		return src, nil
	}
	return uploadPrompts(ctx, src, fine, output, stderr)
}

// inlinePrompts returns a small local file's prompts as inline ones; ok
// is false for a file too big or with rows that carry more than a prompt.
func inlinePrompts(ctx context.Context, src protocol.PromptSource) (protocol.PromptSource, bool, error) {
	if src.Rows > inlineMaxPrompts {
		return src, false, nil
	}
	if p, err := storage.LocalPath(src.URL); err == nil {
		if st, err := os.Stat(p); err == nil && st.Size() > inlineMaxBytes {
			return src, false, nil
		}
	}
	r, err := storage.NewPromptReader(protocol.PromptSource{URL: src.URL, Format: src.Format, Rows: src.Rows})
	if err != nil {
		return src, false, err
	}
	rows, err := r.ReadRows(ctx, 0, src.Rows)
	if err != nil {
		return src, false, err
	}
	inline := make([]string, len(rows))
	for i, row := range rows {
		if row.NegativePrompt != "" || row.Seed != nil || row.ID != "" || len(row.Extra) > 0 {
			return src, false, nil // inline prompts would lose the row's other fields
		}
		inline[i] = row.Prompt
	}
	return protocol.PromptSource{Inline: inline}, true, nil
}

// waitJob polls the job until it is terminal and, when it is done, until
// its manifest is recorded (at most f.manifestTimeout more), showing a
// progress bar on a terminal and a line every 5 s otherwise. Transient
// API errors (a leader change) are retried for up to a minute.
func waitJob(ctx context.Context, cl *client.Client, job protocol.Job, f submitFlags, stderr io.Writer) (protocol.Job, error) {
	show := newJobProgress(job, f.quiet, stderr)
	t := time.NewTicker(f.pollInterval)
	defer t.Stop()
	lastOK := time.Now()
	var doneAt time.Time // when the job was first seen done
	for {
		d, err := cl.Job(ctx, job.ID, false, 0, 0)
		switch {
		case err == nil:
			lastOK, job = time.Now(), d.Job
			if doneAt.IsZero() {
				show(job)
			}
			if ok, err := manifestWait(job, &doneAt, f, stderr); ok || err != nil {
				return job, err
			}
		case time.Since(lastOK) > time.Minute:
			return job, fmt.Errorf("watching job %s: %w", job.ID, err)
		}
		select {
		case <-ctx.Done():
			return job, fmt.Errorf("stopped waiting; job %s goes on (sanafarm status %s): %w", job.ID, job.ID, ctx.Err())
		case <-t.C:
		}
	}
}

// manifestWait decides whether waitJob is finished with a job: a job that
// failed or was cancelled at once, a done one once its manifest is
// recorded (ManifestAt), or with an error after f.manifestTimeout.
func manifestWait(job protocol.Job, doneAt *time.Time, f submitFlags, stderr io.Writer) (bool, error) {
	switch {
	case !job.State.Terminal():
		return false, nil
	case job.State != protocol.JobDone || !job.ManifestAt.IsZero():
		return true, nil
	case doneAt.IsZero():
		*doneAt = time.Now()
		if !f.quiet {
			fmt.Fprintf(stderr, "job %s done; waiting for its manifest\n", job.ID)
		}
	case time.Since(*doneAt) > f.manifestTimeout:
		return true, fmt.Errorf("job %s is done, but its manifest (%s/manifest.jsonl) was not recorded within %v; the leader retries it (sanafarm status %s)",
			job.ID, strings.TrimSuffix(job.Spec.Output.URL, "/"), f.manifestTimeout, job.ID)
	}
	return false, nil
}

// newJobProgress returns the function that shows a job's progress.
func newJobProgress(job protocol.Job, quiet bool, w io.Writer) func(protocol.Job) {
	if quiet {
		return func(protocol.Job) {}
	}
	if f, ok := w.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		var last time.Time
		return func(j protocol.Job) {
			if j.State.Terminal() || time.Since(last) >= 5*time.Second {
				last = time.Now()
				fmt.Fprintf(w, "%s: %d/%d images, %d/%d shards\n", j.State, j.ImagesDone, j.Images, j.ShardsDone, j.Shards)
			}
		}
	}
	bar := progressbar.NewOptions64(job.Images, progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("images"), progressbar.OptionSetWidth(30), progressbar.OptionShowCount(),
		progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"), progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
	return func(j protocol.Job) {
		_ = bar.Set64(j.ImagesDone)
		switch {
		case j.State == protocol.JobDone:
			_ = bar.Finish()
		case j.State.Terminal():
			fmt.Fprintln(w)
		}
	}
}

// reportJob prints a finished job's summary; a job that did not finish
// well is an operation failure (exit 1).
func reportJob(stdout, stderr io.Writer, job protocol.Job, elapsed time.Duration, asJSON bool) error {
	if asJSON {
		if err := writeJSON(stdout, job); err != nil {
			return err
		}
	}
	if job.State != protocol.JobDone {
		return failed(stderr, fmt.Errorf("job %s %s: %s", job.ID, job.State, firstOf(job.Error, "no reason given")))
	}
	if asJSON {
		return nil
	}
	secs := job.UpdatedAt.Sub(job.CreatedAt).Seconds()
	if secs <= 0 {
		secs = elapsed.Seconds()
	}
	dir := job.Spec.Output.URL
	if p, err := storage.LocalPath(dir); err == nil {
		dir = p
	}
	fmt.Fprintf(stdout, "job %s done: %s in %s in %.1f s (%.2f images/s)\n",
		job.ID, plural(job.ImagesDone, "image"), plural(int64(job.Shards), "shard"), secs, float64(job.ImagesDone)/secs)
	fmt.Fprintf(stdout, "images: %s\n", dir)
	fmt.Fprintf(stdout, "manifest: %s/%s (and %s: one row per image)\n", strings.TrimSuffix(dir, "/"), storage.ManifestJSONL, storage.ManifestParquet)
	return nil
}
