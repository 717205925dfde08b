package storage

import (
	"context"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/internal/s3test"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestIndexedReadS3: an S3 prompt file is indexed at submit and read
// from its index entries with ranged GETs, equal to the full scan.
func TestIndexedReadS3(t *testing.T) {
	const bucket = "sanafarm-test"
	srv := s3test.Start(t, bucket)
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	t.Setenv("AWS_REGION", s3test.Region)
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("S3_ENDPOINT", srv.Endpoint())
	t.Setenv("SANAFARM_S3_LOOKUP", "path")
	ctx := context.Background()
	s, err := Open(ctx, "s3://"+bucket+"/in")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range indexCases(3*protocol.PromptIndexStride + 7) {
		ext := c.name[strings.LastIndexByte(c.name, '.'):]
		key := strings.NewReplacer(" ", "_", ",", "").Replace(c.name)
		if _, err := s.Put(ctx, key, strings.NewReader(c.file)); err != nil {
			t.Fatal(err)
		}
		url := "s3://" + bucket + "/in/" + key
		n, x, err := IndexPrompts(ctx, protocol.PromptSource{URL: url})
		if err != nil || n != c.rows || x == nil || x.Size != int64(len(c.file)) {
			t.Fatalf("%s: IndexPrompts = %d, %+v, %v", ext, n, x, err)
		}
		plain := protocol.PromptSource{URL: url, Rows: n}
		whole := readRange(t, plain, 0, n)
		spec := protocol.JobSpec{Prompts: protocol.PromptSource{URL: url, Rows: n, Index: x}}
		for _, start := range []int64{0, 1, 1023, 1024, 1025, 2048, 3071, 3072, n - 64, n - 1} {
			end := min(start+64, n)
			if got := readRange(t, spec.ForSamples(start, end).Prompts, start, end); !reflect.DeepEqual(got, whole[start:end]) {
				t.Fatalf("%s rows [%d, %d): indexed read differs from the full scan", c.name, start, end)
			}
		}
		rc, size, err := OpenObjectAt(ctx, url, int64(len(c.file))-3)
		if err != nil || size != int64(len(c.file)) {
			t.Fatalf("OpenObjectAt: %d, %v", size, err)
		}
		tail, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(tail) != c.file[len(c.file)-3:] {
			t.Fatalf("OpenObjectAt tail %q, %v", tail, err)
		}
	}
}
