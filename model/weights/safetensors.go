// Package weights reads model weights in the safetensors format (single
// files and sharded checkpoints with an index), and the diffusers JSON
// configs that accompany them.
package weights

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
	"sort"

	"github.com/sanafarm/sanafarm/kernels"
)

// maxHeaderLen bounds the JSON header we are willing to parse (the format
// allows up to 100 MB; real headers are well below 1 MB).
const maxHeaderLen = 100 << 20

// Info describes one tensor in a safetensors file.
type Info struct {
	Name string
	// DType is the kernels dtype, or 0 for a dtype kernels does not hold
	// (F64, I8, U8, BOOL, ...: readable only through Float64s).
	DType kernels.DType
	// Raw is the dtype as spelled in the header ("F32", "F64", ...).
	Raw   string
	Shape []int
	// Begin and End are byte offsets relative to the start of the data
	// section (after the header).
	Begin, End int64
}

// Header is a parsed safetensors header.
type Header struct {
	Tensors  map[string]Info
	Metadata map[string]string
}

// Names returns the tensor names in sorted order.
func (h *Header) Names() []string {
	names := make([]string, 0, len(h.Tensors))
	for n := range h.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type rawEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// ParseHeader parses the JSON header of a safetensors file and checks it
// against the size of the data section that follows it (dataLen): every
// tensor's byte range must match its dtype and shape and lie inside the data
// section, and ranges must not overlap.
func ParseHeader(js []byte, dataLen int64) (*Header, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fmt.Errorf("header is not a JSON object: %w", err)
	}
	h := &Header{Tensors: make(map[string]Info, len(raw))}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &h.Metadata); err != nil {
				return nil, fmt.Errorf("__metadata__ is not a string map: %w", err)
			}
			continue
		}
		info, err := parseEntry(name, msg, dataLen)
		if err != nil {
			return nil, err
		}
		h.Tensors[name] = info
	}
	if err := checkOverlap(h); err != nil {
		return nil, err
	}
	return h, nil
}

func parseEntry(name string, msg json.RawMessage, dataLen int64) (Info, error) {
	var e rawEntry
	if err := json.Unmarshal(msg, &e); err != nil {
		return Info{}, fmt.Errorf("tensor %q: bad header entry: %w", name, err)
	}
	dt, size, err := parseDType(e.DType)
	if err != nil {
		return Info{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	if len(e.DataOffsets) != 2 {
		return Info{}, fmt.Errorf("tensor %q: data_offsets has %d values, want 2", name, len(e.DataOffsets))
	}
	info := Info{Name: name, DType: dt, Raw: e.DType, Begin: e.DataOffsets[0], End: e.DataOffsets[1]}
	n := int64(1)
	for _, d := range e.Shape {
		if d < 0 || (d > 0 && n > math.MaxInt32*int64(1<<16)/d) {
			return Info{}, fmt.Errorf("tensor %q: bad shape %v", name, e.Shape)
		}
		n *= d
		info.Shape = append(info.Shape, int(d))
	}
	if info.Shape == nil {
		info.Shape = []int{}
	}
	if info.Begin < 0 || info.End < info.Begin || info.End > dataLen {
		return Info{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] outside the %d-byte data section",
			name, info.Begin, info.End, dataLen)
	}
	if want := n * int64(size); info.End-info.Begin != want {
		return Info{}, fmt.Errorf("tensor %q: %s%v needs %d bytes, data_offsets give %d",
			name, e.DType, info.Shape, want, info.End-info.Begin)
	}
	return info, nil
}

// rawSizes are the element sizes of safetensors dtypes that kernels does
// not hold but that may appear in files (golden outputs carry F64).
var rawSizes = map[string]int{"F64": 8, "I8": 1, "U8": 1, "BOOL": 1, "I16": 2, "U16": 2, "U32": 4, "U64": 8}

func parseDType(s string) (kernels.DType, int, error) {
	switch s {
	case "F32":
		return kernels.Float32, 4, nil
	case "BF16":
		return kernels.BFloat16, 2, nil
	case "F16":
		return kernels.Float16, 2, nil
	case "I64":
		return kernels.Int64, 8, nil
	case "I32":
		return kernels.Int32, 4, nil
	}
	if size, ok := rawSizes[s]; ok {
		return 0, size, nil
	}
	return 0, 0, fmt.Errorf("unsupported dtype %q", s)
}

func checkOverlap(h *Header) error {
	infos := make([]Info, 0, len(h.Tensors))
	for _, in := range h.Tensors {
		if in.End > in.Begin {
			infos = append(infos, in)
		}
	}
	slices.SortFunc(infos, func(a, b Info) int {
		if a.Begin != b.Begin {
			return int(a.Begin - b.Begin)
		}
		return int(a.End - b.End)
	})
	for i := 1; i < len(infos); i++ {
		if infos[i].Begin < infos[i-1].End {
			return fmt.Errorf("tensors %q and %q overlap in the data section", infos[i-1].Name, infos[i].Name)
		}
	}
	return nil
}

// File is an open safetensors file. Tensors are read on demand with
// positional reads, so a large checkpoint is never loaded whole.
type File struct {
	name    string
	r       io.ReaderAt
	closer  io.Closer
	dataOff int64
	Header  *Header
}

// Open opens and validates the safetensors file name in fsys.
func Open(fsys fs.FS, name string) (*File, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("opening weights: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("weights %s: %w", name, err)
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		// Filesystems without positional reads (rare): buffer the file.
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading weights %s: %w", name, err)
		}
		return newFile(name, bytesReaderAt(b), nil, int64(len(b)))
	}
	sf, err := newFile(name, ra, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	return sf, nil
}

// OpenBytes reads a safetensors file held in memory.
func OpenBytes(name string, b []byte) (*File, error) {
	return newFile(name, bytesReaderAt(b), nil, int64(len(b)))
}

func newFile(name string, r io.ReaderAt, c io.Closer, size int64) (*File, error) {
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("weights %s: truncated: cannot read the 8-byte header length (file is %d bytes)", name, size)
	}
	hl := binary.LittleEndian.Uint64(lenBuf[:])
	if hl > maxHeaderLen || int64(hl) > size-8 {
		return nil, fmt.Errorf("weights %s: header length %d exceeds the file (%d bytes) or the %d-byte limit; truncated or not safetensors",
			name, hl, size, maxHeaderLen)
	}
	js := make([]byte, hl)
	if _, err := r.ReadAt(js, 8); err != nil {
		return nil, fmt.Errorf("weights %s: reading header: %w", name, err)
	}
	dataOff := 8 + int64(hl)
	h, err := ParseHeader(js, size-dataOff)
	if err != nil {
		return nil, fmt.Errorf("weights %s: %w", name, err)
	}
	return &File{name: name, r: r, closer: c, dataOff: dataOff, Header: h}, nil
}

// Name is the file name the weights were opened from.
func (f *File) Name() string { return f.name }

// Close releases the underlying file.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}

// Info returns the header entry of a tensor.
func (f *File) Info(name string) (Info, bool) {
	in, ok := f.Header.Tensors[name]
	return in, ok
}

// Tensor reads a tensor into a new host tensor of its stored dtype.
func (f *File) Tensor(name string) (*kernels.Tensor, error) {
	in, ok := f.Header.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("weights %s: no tensor %q", f.name, name)
	}
	if in.DType == 0 {
		return nil, fmt.Errorf("weights %s: tensor %q has dtype %s, which sanafarm cannot compute with", f.name, name, in.Raw)
	}
	t, err := kernels.New(in.DType, in.Shape...)
	if err != nil {
		return nil, fmt.Errorf("weights %s: tensor %q: %w", f.name, name, err)
	}
	buf := make([]byte, in.End-in.Begin)
	if _, err := f.r.ReadAt(buf, f.dataOff+in.Begin); err != nil {
		return nil, fmt.Errorf("weights %s: tensor %q: reading bytes %d–%d: %w", f.name, name,
			f.dataOff+in.Begin, f.dataOff+in.End, err)
	}
	decodeLE(t, buf)
	return t, nil
}

// Float64s reads any numeric tensor (including F64, integer and bool
// dtypes) as float64 values, for comparisons against reference data.
func (f *File) Float64s(name string) ([]float64, []int, error) {
	in, ok := f.Header.Tensors[name]
	if !ok {
		return nil, nil, fmt.Errorf("weights %s: no tensor %q", f.name, name)
	}
	if in.DType != 0 {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, nil, err
		}
		out := make([]float64, t.Len())
		for i := range out {
			out[i] = t.At(i)
		}
		return out, in.Shape, nil
	}
	b := make([]byte, in.End-in.Begin)
	if _, err := f.r.ReadAt(b, f.dataOff+in.Begin); err != nil {
		return nil, nil, fmt.Errorf("weights %s: tensor %q: %w", f.name, name, err)
	}
	return decodeRaw(in.Raw, b), in.Shape, nil
}

func decodeRaw(dt string, b []byte) []float64 {
	size := rawSizes[dt]
	out := make([]float64, len(b)/size)
	for i := range out {
		p := b[i*size:]
		switch dt {
		case "F64":
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(p))
		case "I8":
			out[i] = float64(int8(p[0]))
		case "U8", "BOOL":
			out[i] = float64(p[0])
		case "I16":
			out[i] = float64(int16(binary.LittleEndian.Uint16(p)))
		case "U16":
			out[i] = float64(binary.LittleEndian.Uint16(p))
		case "U32":
			out[i] = float64(binary.LittleEndian.Uint32(p))
		case "U64":
			out[i] = float64(binary.LittleEndian.Uint64(p))
		}
	}
	return out
}

// decodeLE fills t from little-endian bytes of exactly t's size.
func decodeLE(t *kernels.Tensor, b []byte) {
	switch t.DType() {
	case kernels.Float32:
		d := t.F32()
		for i := range d {
			d[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case kernels.BFloat16, kernels.Float16:
		d := t.U16()
		for i := range d {
			d[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
	case kernels.Int64:
		d := t.I64()
		for i := range d {
			d[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case kernels.Int32:
		d := t.I32()
		for i := range d {
			d[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.ErrUnexpectedEOF
	}
	return n, nil
}
