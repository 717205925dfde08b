package dcae

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sanafarm/sanafarm/model/weights"
)

// configKeys are the config.json keys Config reads (its JSON tags).
func configKeys() []string {
	var keys []string
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		keys = append(keys, strings.Split(t.Field(i).Tag.Get("json"), ",")[0])
	}
	return keys
}

// FuzzReadConfig: a downloaded vae/config.json never panics ReadConfig; an
// accepted config has the positive, consistent dimensions Validate claims
// (and the stage lists the model builds from index cleanly), and a config
// that decodes but is rejected gets an error naming its key.
func FuzzReadConfig(f *testing.F) {
	golden, err := os.ReadFile(goldenDir + "/config.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	g := string(golden)
	for _, edit := range [][2]string{
		{`"latent_channels": 8`, `"latent_channels": 0`},
		{`"attention_head_dim": 8`, `"attention_head_dim": -8`},
		{`"scaling_factor": 0.41407`, `"scaling_factor": NaN`},
		{`"decoder_act_fns": "silu"`, `"decoder_act_fns": ["silu"]`},
		{`"decoder_block_types": [`, `"decoder_block_types": "ResBlock", "x": [`},
		// Encoder and decoder lists once shared the defaults' backing
		// arrays, so the encoder's (listed last) overwrote these.
		{`"decoder_block_out_channels": [
    8,
    8,`, `"decoder_block_out_channels": [
    8,
    16,`},
		{`"decoder_qkv_multiscales": [
    [],
    [],
    [],
    [
      5
    ],`, `"decoder_qkv_multiscales": [
    [],
    [],
    [],
    [
      3
    ],`},
	} {
		f.Add([]byte(strings.Replace(g, edit[0], edit[1], 1)))
	}
	// A later stage of 0 channels once divided by zero in the shortcut
	// check, before that stage's own check.
	f.Add([]byte(`{"upsample_block_type":"interpolate","downsample_block_type":"conv",` +
		`"decoder_block_out_channels":[128,0,512,512,1024,1024]}`))
	// 65 stages: Compression() = 1<<64 overflowed to 0 (config.go, maxStages).
	many := `{"upsample_block_type":"interpolate","downsample_block_type":"conv","latent_channels":1,` +
		`"encoder_block_out_channels":[1` + strings.Repeat(",1", 64) + `],"decoder_block_out_channels":[1` + strings.Repeat(",1", 64) + `],` +
		`"encoder_layers_per_block":[1` + strings.Repeat(",1", 64) + `],"decoder_layers_per_block":[1` + strings.Repeat(",1", 64) + `],` +
		`"encoder_qkv_multiscales":[[]` + strings.Repeat(",[]", 64) + `],"decoder_qkv_multiscales":[[]` + strings.Repeat(",[]", 64) + `]}`
	f.Add([]byte(many))
	// Counts that once drove Load's loops without a bound (weights.MaxLayers).
	f.Add([]byte(`{"upsample_block_type":"interpolate","downsample_block_type":"conv","latent_channels":1,` +
		`"encoder_block_out_channels":[1],"decoder_block_out_channels":[1],"encoder_layers_per_block":[1099511627776],` +
		`"decoder_layers_per_block":[1099511627776],"encoder_qkv_multiscales":[[]],"decoder_qkv_multiscales":[[]]}`))
	f.Add([]byte(strings.Replace(g, `"latent_channels": 8`, `"latent_channels": 4611686018427387904`, 1)))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"in_channels": "3"}`))
	f.Add([]byte(`{"encoder_block_types": 7}`))
	keys := configKeys()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ReadConfig(fstest.MapFS{"config.json": {Data: data}}, "config.json")
		if err != nil {
			decoded := DefaultConfig()
			if weights.DecodeJSON(data, &decoded) != nil {
				return // not a config at all: nothing to name
			}
			for _, k := range keys {
				if strings.Contains(err.Error(), k) {
					return
				}
			}
			t.Fatalf("rejected without naming a key: %v", err)
		}
		checkAccepted(t, c)
		checkAsWritten(t, c, data)
	})
}

// checkAsWritten asserts that every key the file sets reads as if decoded
// on its own, whatever the defaults and the other keys hold. A key that
// differs from another only in case is skipped: encoding/json matches
// struct fields case-insensitively, so which of them wins is its choice.
func checkAsWritten(t *testing.T, c Config, data []byte) {
	t.Helper()
	var raw map[string]json.RawMessage
	if weights.DecodeJSON(data, &raw) != nil {
		return
	}
	v := reflect.ValueOf(c)
	for i := range v.NumField() {
		key := strings.Split(v.Type().Field(i).Tag.Get("json"), ",")[0]
		b, ok := raw[key]
		if !ok || string(b) == "null" || foldTwin(raw, key) {
			continue
		}
		alone := reflect.New(v.Field(i).Type())
		if json.Unmarshal(b, alone.Interface()) != nil {
			continue
		}
		if !reflect.DeepEqual(alone.Elem().Interface(), v.Field(i).Interface()) {
			t.Fatalf("%s = %s read as %v", key, b, v.Field(i).Interface())
		}
	}
}

func foldTwin(raw map[string]json.RawMessage, key string) bool {
	for k := range raw {
		if k != key && strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// checkAccepted asserts what Validate claims of an accepted config.
func checkAccepted(t *testing.T, c Config) {
	t.Helper()
	n := c.Stages()
	switch {
	case c.InChannels <= 0 || c.LatentChannels <= 0 || c.AttentionHeadDim <= 0:
		t.Fatalf("accepted channels %d/%d, head dim %d", c.InChannels, c.LatentChannels, c.AttentionHeadDim)
	case n < 1 || n > maxStages || len(c.EncoderBlockOutChannels) != n:
		t.Fatalf("accepted %d decoder and %d encoder stages", n, len(c.EncoderBlockOutChannels))
	case c.Compression() < 1:
		t.Fatalf("accepted %d stages: compression %d", n, c.Compression())
	}
	for _, side := range []struct {
		name   string
		stages []stageDesc
	}{{"encoder", c.encoderStages()}, {"decoder", c.decoderStages()}} {
		for i, s := range side.stages {
			if s.channels <= 0 || s.layers <= 0 || s.channels > weights.MaxWidth || s.layers > weights.MaxLayers || len(s.scales) > maxScales || i+1 < n && (4*s.channels)%side.stages[i+1].channels != 0 {
				t.Fatalf("accepted %s stage %d: %+v", side.name, i, s)
			}
			if i == n-1 && s.channels%c.LatentChannels != 0 {
				t.Fatalf("accepted %s stage %d of %d channels with %d latent channels", side.name, i, s.channels, c.LatentChannels)
			}
			checkBlock(t, c, side.name, i, s)
		}
	}
	if _, ok := activation(c.DecoderConvActFn); !ok {
		t.Fatalf("accepted decoder_conv_act_fn %q", c.DecoderConvActFn)
	}
}

func checkBlock(t *testing.T, c Config, side string, i int, s stageDesc) {
	t.Helper()
	switch s.block {
	case "ResBlock":
	case "EfficientViTBlock":
		if s.channels%c.AttentionHeadDim != 0 {
			t.Fatalf("accepted %s stage %d: %d channels, head dim %d", side, i, s.channels, c.AttentionHeadDim)
		}
		for _, k := range s.scales {
			if k <= 0 || k%2 == 0 || k > maxKernel {
				t.Fatalf("accepted %s stage %d: kernel size %d", side, i, k)
			}
		}
	default:
		t.Fatalf("accepted %s stage %d: block %q", side, i, s.block)
	}
}
