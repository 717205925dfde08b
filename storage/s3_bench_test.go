package storage_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sanafarm/sanafarm/internal/s3test"
	"github.com/sanafarm/sanafarm/storage"
)

// TestS3UploadBench (make bench-s3, SANAFARM_S3BENCH=1): shard upload
// throughput of the S3 store (SHA-256 metadata, retries) against raw
// minio-go PutObject of the same bytes to the same versitygw, interleaved
// round by round. Prints
//
//	s3_upload_vs_raw <ratio>      64 MiB as 16 shards of 4 MiB (single PUTs)
//	s3_multipart_vs_raw <ratio>   one 64 MiB object in 16 MiB parts
//
// where ratio = raw time / store time over all rounds (goal ≥ 0.9).
func TestS3UploadBench(t *testing.T) {
	if os.Getenv("SANAFARM_S3BENCH") == "" {
		t.Skip("set SANAFARM_S3BENCH=1 (make bench-s3)")
	}
	srv := s3test.Start(t, testBucket)
	cfg := s3Config(srv)
	cfg.PartSize = 16 << 20
	store := openS3(t, cfg, "s3://"+testBucket+"/bench")
	raw := srv.Client()
	data := randBytes(64<<20, 9)
	shards := make([][]byte, 16)
	for i := range shards {
		shards[i] = data[i*4<<20 : (i+1)*4<<20]
	}
	rounds := 7
	ours := func(r int) error { return putShards(store, r, shards) }
	theirs := func(r int) error { return rawShards(raw, r, shards) }
	report(t, "s3_upload_vs_raw", rounds, ours, theirs, int64(len(data)))
	big := func(r int) error {
		_, err := store.Put(context.Background(), fmt.Sprintf("big/%d", r), bytes.NewReader(data))
		return err
	}
	rawBig := func(r int) error {
		_, err := raw.PutObject(context.Background(), testBucket, fmt.Sprintf("raw/big/%d", r), bytes.NewReader(data),
			int64(len(data)), minio.PutObjectOptions{PartSize: 16 << 20})
		return err
	}
	report(t, "s3_multipart_vs_raw", rounds, big, rawBig, int64(len(data)))
}

func putShards(s storage.Store, round int, shards [][]byte) error {
	for i, b := range shards {
		if _, err := s.Put(context.Background(), fmt.Sprintf("r%d/%05d.tar", round, i), bytes.NewReader(b)); err != nil {
			return err
		}
	}
	return nil
}

func rawShards(c *minio.Client, round int, shards [][]byte) error {
	for i, b := range shards {
		key := fmt.Sprintf("raw/r%d/%05d.tar", round, i)
		if _, err := c.PutObject(context.Background(), testBucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// report runs ours and theirs interleaved (alternating which goes first),
// after one warm-up round each, and prints the ratio of total times.
func report(t *testing.T, name string, rounds int, ours, theirs func(int) error, bytesPerRound int64) {
	t.Helper()
	if err := ours(-1); err != nil {
		t.Fatal(err)
	}
	if err := theirs(-1); err != nil {
		t.Fatal(err)
	}
	var to, tr []time.Duration
	timeIt := func(f func(int) error, r int) time.Duration {
		start := time.Now()
		if err := f(r); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	for r := range rounds {
		if r%2 == 0 {
			to = append(to, timeIt(ours, r))
			tr = append(tr, timeIt(theirs, r))
		} else {
			tr = append(tr, timeIt(theirs, r))
			to = append(to, timeIt(ours, r))
		}
	}
	sum := func(ds []time.Duration) (s time.Duration) {
		for _, d := range ds {
			s += d
		}
		return s
	}
	mbps := func(d time.Duration) float64 {
		return float64(bytesPerRound) * float64(rounds) / d.Seconds() / (1 << 20)
	}
	fmt.Printf("%s: store %.0f MiB/s (median round %v), raw minio-go %.0f MiB/s (median round %v)\n",
		name, mbps(sum(to)), median(to), mbps(sum(tr)), median(tr))
	fmt.Printf("%s %.3f\n", name, sum(tr).Seconds()/sum(to).Seconds())
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}
