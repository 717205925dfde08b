// Package pth reads PyTorch checkpoints written by torch.save (the zip
// format of torch ≥ 1.6: <prefix>/data.pkl, <prefix>/data/<key>,
// <prefix>/version) without running their pickle: a restricted unpickler
// accepts only the opcodes and globals that dicts, lists, numbers,
// strings, tensors and their storages need, checks every length against
// the bytes present, and refuses everything else with an error naming the
// file and what it refused. Only little-endian, contiguous tensors are
// read; bf16, fp16 and fp32 storages (and i32/i64) become kernels tensors.
package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/weights"
)

// MaxPickle bounds data.pkl (a 1.6B-parameter checkpoint's is ~100 KB).
const MaxPickle = 64 << 20

// File is an opened .pth checkpoint: its tensors (torch.load(path)
// ["state_dict"], or the top-level dict when there is no "state_dict").
type File struct {
	name    string
	r       io.ReaderAt
	closer  io.Closer
	members map[string]*zip.File // storage key → data/<key>
	tensors map[string]*Tensor
}

// Open opens a .pth file on disk.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pth %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("pth %s: %w", path, err)
	}
	p, err := OpenReader(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	p.closer = f
	return p, nil
}

// OpenFS opens name in fsys (its files must implement io.ReaderAt, as
// os.DirFS's do).
func OpenFS(fsys fs.FS, name string) (*File, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("pth %s: %w", name, err)
	}
	st, err := f.Stat()
	ra, ok := f.(io.ReaderAt)
	if err != nil || !ok {
		f.Close()
		return nil, fmt.Errorf("pth %s: cannot read at offsets (stat: %v)", name, err)
	}
	p, err := OpenReader(name, ra, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	p.closer = f
	return p, nil
}

// OpenBytes opens an in-memory checkpoint (tests, fuzzing).
func OpenBytes(name string, b []byte) (*File, error) {
	return OpenReader(name, bytes.NewReader(b), int64(len(b)))
}

// OpenReader parses the archive and its pickle; name is used in errors.
func OpenReader(name string, r io.ReaderAt, size int64) (*File, error) {
	p, err := open(r, size)
	if err != nil {
		return nil, fmt.Errorf("pth %s: %w", name, err)
	}
	p.name = name
	return p, nil
}

func open(r io.ReaderAt, size int64) (*File, error) {
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, fmt.Errorf("reading the file header: %w", err)
	}
	if string(magic[:]) != "PK\x03\x04" {
		return nil, fmt.Errorf("not a zip archive: the legacy (pre-1.6 or _use_new_zipfile_serialization=False) " +
			"torch.save format is not supported; re-save with torch.save's default format")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, err
	}
	prefix, pkl, err := layout(zr)
	if err != nil {
		return nil, err
	}
	p := &File{r: r, members: map[string]*zip.File{}}
	for _, zf := range zr.File {
		key, ok := strings.CutPrefix(zf.Name, prefix+"data/")
		if !ok || key == "" || strings.Contains(key, "/") {
			continue
		}
		if err := checkMember(zf, size); err != nil {
			return nil, err
		}
		p.members[key] = zf
	}
	b, err := readSmall(pkl, MaxPickle)
	if err != nil {
		return nil, err
	}
	if err := p.load(b); err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	return p, nil
}

// layout finds the one <prefix>/data.pkl (the prefix is whatever the
// writer chose, usually the file stem) and checks the byte order.
func layout(zr *zip.Reader) (string, *zip.File, error) {
	var pkl *zip.File
	byName := map[string]*zip.File{}
	for _, zf := range zr.File {
		byName[zf.Name] = zf
		dir, base, _ := strings.Cut(zf.Name, "/")
		if base == "data.pkl" && dir != "" {
			if pkl != nil {
				return "", nil, fmt.Errorf("two pickles in the archive: %s and %s", pkl.Name, zf.Name)
			}
			pkl = zf
		}
	}
	if pkl == nil {
		return "", nil, fmt.Errorf("no <name>/data.pkl in the archive (not a torch.save checkpoint)")
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	if bo, ok := byName[prefix+"byteorder"]; ok {
		b, err := readSmall(bo, 16)
		if err != nil {
			return "", nil, err
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return "", nil, fmt.Errorf("%s says %q: only little-endian checkpoints are supported", bo.Name, s)
		}
	}
	return prefix, pkl, nil
}

// checkMember accepts only stored (uncompressed) storage members that lie
// inside the file, as torch.save writes them, so reading one never
// inflates beyond the file's own bytes.
func checkMember(zf *zip.File, size int64) error {
	if zf.Method != zip.Store {
		return fmt.Errorf("member %s is compressed (method %d): torch.save writes storages uncompressed", zf.Name, zf.Method)
	}
	off, err := zf.DataOffset()
	if err != nil {
		return fmt.Errorf("member %s: %w", zf.Name, err)
	}
	if zf.UncompressedSize64 != zf.CompressedSize64 || zf.CompressedSize64 > uint64(size) || off > size-int64(zf.CompressedSize64) {
		return fmt.Errorf("member %s: %d bytes at offset %d do not fit the %d-byte file", zf.Name, zf.CompressedSize64, off, size)
	}
	return nil
}

func readSmall(zf *zip.File, limit int64) ([]byte, error) {
	if zf.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("member %s is %d bytes, more than the %d allowed", zf.Name, zf.UncompressedSize64, limit)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", zf.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("more than %d bytes", limit)
	}
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", zf.Name, err)
	}
	return b, nil
}

// Name is the name the checkpoint was opened as.
func (p *File) Name() string { return p.name }

// Close releases the underlying file.
func (p *File) Close() error {
	if p.closer == nil {
		return nil
	}
	return p.closer.Close()
}

// Names returns every tensor name, sorted.
func (p *File) Names() []string {
	out := make([]string, 0, len(p.tensors))
	for n := range p.tensors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Info describes a tensor like a safetensors header entry (Begin/End are
// byte offsets inside its storage member).
func (p *File) Info(name string) (weights.Info, bool) {
	t, ok := p.tensors[name]
	if !ok {
		return weights.Info{}, false
	}
	st := storageTypes[t.st.typ]
	begin := t.offset * int64(st.size)
	return weights.Info{Name: name, DType: st.dtype, Raw: st.raw, Shape: append([]int(nil), t.shape...),
		Begin: begin, End: begin + t.numel()*int64(st.size)}, true
}

// Tensor reads a tensor into a new host tensor of its stored dtype.
func (p *File) Tensor(name string) (*kernels.Tensor, error) {
	in, ok := p.Info(name)
	if !ok {
		return nil, fmt.Errorf("pth %s: no tensor %q", p.name, name)
	}
	if in.DType == 0 {
		return nil, fmt.Errorf("pth %s: tensor %q has dtype %s, which sanafarm cannot compute with", p.name, name, in.Raw)
	}
	zf := p.members[p.tensors[name].st.key]
	off, err := zf.DataOffset()
	if err != nil {
		return nil, fmt.Errorf("pth %s: tensor %q: %w", p.name, name, err)
	}
	buf := make([]byte, in.End-in.Begin) // ≤ the member's size, checked at open
	if _, err := p.r.ReadAt(buf, off+in.Begin); err != nil {
		return nil, fmt.Errorf("pth %s: tensor %q: reading %s: %w", p.name, name, zf.Name, err)
	}
	t, err := kernels.New(in.DType, in.Shape...)
	if err != nil {
		return nil, fmt.Errorf("pth %s: tensor %q: %w", p.name, name, err)
	}
	decodeLE(t, buf)
	return t, nil
}

func decodeLE(t *kernels.Tensor, b []byte) {
	switch t.DType() {
	case kernels.Float32:
		for i := range t.F32() {
			t.F32()[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case kernels.BFloat16, kernels.Float16:
		for i := range t.U16() {
			t.U16()[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
	case kernels.Int64:
		for i := range t.I64() {
			t.I64()[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case kernels.Int32:
		for i := range t.I32() {
			t.I32()[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
}
