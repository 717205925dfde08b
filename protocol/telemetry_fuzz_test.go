package protocol

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// telemetryField is every field a telemetry check may name.
var telemetryField = regexp.MustCompile(`^(node|gpus|gpus\[\d+\](\.name|\.throttle_reasons(\[\d+\])?)?)$`)

// FuzzNodeTelemetry: any bytes on a telemetry subject decode without
// panicking; an accepted message keeps every bound Check claims (node id,
// GPU count, name and UUID length, reason count, finite non-negative
// utilisation and power) and survives a re-encode; a refused one is a
// bad_request naming telemetry fields.
func FuzzNodeTelemetry(f *testing.F) {
	f.Add([]byte(`{"node":"w0","started_at":"2026-12-06T07:00:00Z","at":"2026-12-06T07:00:05Z","gpus":[` +
		`{"index":0,"name":"NVIDIA H100 80GB HBM3","uuid":"GPU-1","memory_total":85899345920,"memory_free":80000000000,` +
		`"utilization":97.5,"memory_used":5899345920,"process_memory":5000000000,"memory_utilization":40,"temperature_c":71,` +
		`"power_w":512.25,"power_limit_w":700,"sm_clock_mhz":1980,"memory_clock_mhz":2619,"throttle_reasons":["sw_power_cap"],` +
		`"ecc_corrected":1,"sampled_at":"2026-12-06T07:00:05Z"},{"index":1,"name":"NVIDIA H100 80GB HBM3","memory_total":1}]}`))
	f.Add([]byte(`{"node":"cpu-node","at":"2026-12-06T07:00:00Z"}`))
	f.Add([]byte(`{"node":"w0","gpus":[{"power_w":-1},{"utilization":1e308},{"name":"` + strings.Repeat("x", MaxGPUNameBytes+1) + `"}]}`))
	f.Add([]byte(`{"node":"w0","gpus":[{"throttle_reasons":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}]}`))
	f.Add([]byte(`{"node":"w0","gpus":[` + strings.Repeat(`{},`, MaxNodeGPUs) + `{}]}`))
	f.Add([]byte(`{"node":"a/b","gpus":[{"power_limit_w":NaN}]}`))
	f.Add([]byte(`{"node":"w\u00e9 0","at":"not a time"}`))
	f.Add([]byte(`{"node":"\xff"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"node":"w0","gpus":null,"started_at":"0001-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeNodeTelemetry(data)
		if err != nil {
			checkTelemetryError(t, err)
		} else {
			checkTelemetryBounds(t, m)
		}
		checkDecoded(t, m, err, DecodeNodeTelemetry)
	})
}

func checkTelemetryBounds(t *testing.T, m NodeTelemetry) {
	t.Helper()
	if m.Node == "" || len(m.Node) > MaxNodeIDBytes || !utf8.ValidString(m.Node) || strings.ContainsAny(m.Node, "/ \t\r\n") {
		t.Fatalf("accepted node %q", m.Node)
	}
	if len(m.GPUs) > MaxNodeGPUs {
		t.Fatalf("accepted %d GPUs", len(m.GPUs))
	}
	for i, g := range m.GPUs {
		if len(g.Name) > MaxGPUNameBytes || len(g.UUID) > MaxGPUNameBytes || len(g.ThrottleReasons) > MaxThrottleReasons {
			t.Fatalf("accepted GPU %d: %d-byte name, %d-byte uuid, %d reasons", i, len(g.Name), len(g.UUID), len(g.ThrottleReasons))
		}
		for _, r := range g.ThrottleReasons {
			if len(r) > MaxThrottleReason {
				t.Fatalf("accepted GPU %d: a %d-byte throttle reason", i, len(r))
			}
		}
		for _, v := range []float64{g.Utilization, g.MemoryUtilization, g.PowerW, g.PowerLimitW} {
			if !(v >= 0) || math.IsInf(v, 0) {
				t.Fatalf("accepted GPU %d with %v", i, v)
			}
		}
	}
}

// checkTelemetryError: a refusal is either the decode error or names only
// telemetry fields.
func checkTelemetryError(t *testing.T, err error) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not an *Error", err)
	}
	if strings.HasPrefix(pe.Message, "decoding node telemetry") {
		return
	}
	if len(pe.Fields) == 0 {
		t.Fatalf("refused without naming a field: %v", err)
	}
	for _, fe := range pe.Fields {
		if !telemetryField.MatchString(fe.Field) {
			t.Fatalf("refusal names field %q: %v", fe.Field, err)
		}
	}
}
