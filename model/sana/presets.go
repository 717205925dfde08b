package sana

import "github.com/sanafarm/sanafarm/protocol"

// Preset is a named model: the preset table is wire vocabulary (job specs
// name presets), so it lives in protocol; these aliases keep the
// pipeline's API in one place.
type Preset = protocol.Preset

// TinyPreset is the name of the built-in offline model.
const TinyPreset = protocol.TinyPreset

// Presets returns every preset, sorted by name.
func Presets() []Preset { return protocol.Presets() }

// LookupPreset finds a preset by name; the error lists the valid names.
func LookupPreset(name string) (Preset, error) { return protocol.LookupPreset(name) }
