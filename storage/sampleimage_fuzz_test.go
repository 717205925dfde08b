package storage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// sparseTar is a tar whose one member, name, is an old-GNU sparse file of
// size bytes, all hole: its header claims them, the archive holds none,
// and reading it yields zeros. A node (or a bucket user) can store it in
// place of a shard's tar to make a reader produce bytes it never sent.
func sparseTar(tb testing.TB, name string, size int64) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatGNU}); err != nil {
		tb.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	b := buf.Bytes()
	// The old GNU header (GNU tar's manual, "GNU tar and POSIX tar"):
	// typeflag at 156, realsize (octal) at 483, checksum at 148.
	b[156] = tar.TypeGNUSparse
	copy(b[483:495], fmt.Sprintf("%011o\x00", size))
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b[:512] {
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	tr := tar.NewReader(bytes.NewReader(b))
	if h, err := tr.Next(); err != nil || h.Name != name || h.Size != size {
		tb.Fatalf("crafted sparse tar: %+v, %v", h, err)
	}
	return b
}

// FuzzSampleImage: the dashboard's thumbnail reader returns at most
// MaxSampleImage bytes whatever a shard's stats and tar claim (and
// allocates within a small multiple of that), returns exactly a files
// layout's object, reads the writer's shards back as written, and every
// refusal names the stats, the sample or the object. obj replaces the tar
// (webdataset) or the first sample's PNG (files).
func FuzzSampleImage(f *testing.F) {
	stores := map[bool]*fuzzStore{false: writeFuzzShard(f, FormatWebDataset), true: writeFuzzShard(f, FormatFiles)}
	objKey := map[bool]string{false: TarKey("p", fuzzShard), true: ShardDir("p", fuzzShard) + "/000000070.png"}
	key := StatsKey("p", fuzzShard)
	for files, s := range stores {
		good, obj := s.objects[key], s.objects[objKey[files]]
		for i := range uint8(4) {
			f.Add(good, obj, i, files)
		}
		f.Add(good, obj[:len(obj)/2], uint8(1), files)
		f.Add(bytes.ReplaceAll(good, []byte(`"member": "000000070.png"`), []byte(`"member": "000000070.json"`)), obj, uint8(0), files)
		for _, b := range brokenStats(good) {
			f.Add(b, obj, uint8(0), files)
		}
	}
	huge := sparseTar(f, "000000070.png", 1<<32)
	f.Add(stores[false].objects[key], huge, uint8(0), false)
	f.Fuzz(func(t *testing.T, stats, obj []byte, i uint8, files bool) {
		base := stores[files]
		s := base.with(key, stats).with(objKey[files], obj)
		var b []byte
		var err error
		n := allocated(func() { b, err = SampleImage(context.Background(), s, "p", fuzzShard, int(i)) })
		if len(b) > MaxSampleImage || n > 4*MaxSampleImage+64*uint64(len(stats)+len(obj))+1<<20 {
			t.Fatalf("returned %d bytes, allocated %d (limit %d)", len(b), n, MaxSampleImage)
		}
		if bytes.Equal(obj, huge) && bytes.Equal(stats, base.objects[key]) && i == 0 &&
			(err == nil || !strings.Contains(err.Error(), fmt.Sprintf("larger than %d bytes", MaxSampleImage))) {
			t.Fatalf("a member claiming 4 GiB: %d bytes, %v", len(b), err)
		}
		st, serr := ReadStats(context.Background(), s, "p", fuzzShard)
		if serr != nil || int(i) >= len(st.Samples) {
			if err == nil || serr != nil && err.Error() != serr.Error() || serr == nil && !errors.Is(err, ErrNotFound) {
				t.Fatalf("sample %d of unreadable stats (%v) or past their end: %d bytes, %v", i, serr, len(b), err)
			}
			return
		}
		checkSampleImage(t, s, st.Samples[i], b, err)
		if bytes.Equal(stats, base.objects[key]) && bytes.Equal(obj, base.objects[objKey[files]]) && i < 3 {
			if want := testSample(70 + int64(i)).PNG; err != nil || !bytes.Equal(b, want) {
				t.Fatalf("writer's sample %d: %q, %v; want %q", i, b, err, want)
			}
		}
	})
}

// checkSampleImage checks what SampleImage returned for sample r.
func checkSampleImage(t *testing.T, s *fuzzStore, r SampleRecord, b []byte, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalidKey) && !strings.Contains(err.Error(), r.Object) {
			t.Fatalf("sample %+v: error %q names neither the sample nor its object", r, err)
		}
		return
	}
	obj := s.objects[r.Object]
	if r.Member == "" && !bytes.Equal(b, obj) {
		t.Fatalf("sample %+v: %d bytes, the object has %d", r, len(b), len(obj))
	}
	if r.Member != "" && !bytes.Equal(b, firstMember(t, obj, r.Member)) {
		t.Fatalf("sample %+v: %d bytes are not its first member %s", r, len(b), r.Member)
	}
}

// firstMember is the content of the first member called name (a tar the
// reader accepted: it ends after that member).
func firstMember(t *testing.T, data []byte, name string) []byte {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no member %s in an accepted tar: %v", name, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(io.LimitReader(tr, MaxSampleImage+1))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}
