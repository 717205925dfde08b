package storage

import (
	"strings"
	"testing"
	"time"
)

func TestS3ConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"AWS_ACCESS_KEY_ID":      "AK",
		"AWS_SECRET_ACCESS_KEY":  "SK",
		"AWS_DEFAULT_REGION":     "nyc3",
		"AWS_ENDPOINT_URL":       "https://nyc3.digitaloceanspaces.com",
		"S3_ENDPOINT":            "http://ignored:9000",
		"SANAFARM_S3_LOOKUP":     "virtual",
		"SANAFARM_S3_PART_BYTES": "33554432",
	}
	c := s3ConfigFrom(func(k string) string { return env[k] })
	if c.AccessKey != "AK" || c.SecretKey != "SK" || c.Region != "nyc3" || c.Endpoint != "https://nyc3.digitaloceanspaces.com" ||
		c.Lookup != "virtual" || c.PartSize != 32<<20 {
		t.Fatalf("%+v", c)
	}
	host, secure, err := c.endpoint()
	if err != nil || host != "nyc3.digitaloceanspaces.com" || !secure {
		t.Fatalf("endpoint %s %v %v", host, secure, err)
	}
	env["AWS_REGION"] = "eu-west-1"
	env["AWS_ENDPOINT_URL"] = ""
	c = s3ConfigFrom(func(k string) string { return env[k] })
	if c.Region != "eu-west-1" || c.Endpoint != "http://ignored:9000" {
		t.Fatalf("%+v", c)
	}
	if host, secure, _ := c.endpoint(); host != "ignored:9000" || secure {
		t.Fatalf("http endpoint: %s %v", host, secure)
	}
	aws := S3Config{Region: "eu-west-1"}
	if host, secure, _ := aws.endpoint(); host != "s3.eu-west-1.amazonaws.com" || !secure {
		t.Fatalf("aws endpoint: %s %v", host, secure)
	}
	for _, bad := range []S3Config{{Endpoint: "ftp://x"}, {Endpoint: "http://x/path"}, {Endpoint: "x/y"}, {Lookup: "sideways"}, {AccessKey: "only"}} {
		if _, err := bad.withDefaults().newClient(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	c = S3Config{PartSize: 1}.withDefaults()
	if c.PartSize != minS3PartSize || c.MaxAttempts != DefaultS3MaxAttempts || c.Region != "us-east-1" {
		t.Fatalf("defaults %+v", c)
	}
}

func TestParseS3URL(t *testing.T) {
	good := map[string][2]string{
		"s3://bucket":                  {"bucket", ""},
		"s3://bucket/":                 {"bucket", ""},
		"s3://my.bucket-1/out/job-7/":  {"my.bucket-1", "out/job-7"},
		"S3://bucket/a/b.jsonl":        {"bucket", "a/b.jsonl"},
		"s3://bucket/models/sana-tiny": {"bucket", "models/sana-tiny"},
	}
	for u, want := range good {
		b, p, err := ParseS3URL(u)
		if err != nil || b != want[0] || p != want[1] {
			t.Errorf("%s: %q %q %v, want %v", u, b, p, err, want)
		}
	}
	bad := map[string]string{
		"s3://":              "bucket name",
		"s3://ab/x":          "3 to 63",
		"s3://Bucket/x":      "lowercase",
		"s3://bucket/../x":   "invalid object key",
		"s3://bucket//x":     "invalid object key",
		"s3://bucket/x?y=1":  "no query",
		"s3://-bucket/x":     "start and end",
		"s3://a..b/x":        "start and end",
		"s3://192.168.1.1/x": "IP address",
		"file:///x":          "not an s3",
	}
	for u, want := range bad {
		if _, _, err := ParseS3URL(u); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", u, err, want)
		}
	}
}

// FuzzParseS3URL: whatever parses yields a valid bucket and a valid (or
// empty) prefix, and the canonical form parses to the same.
func FuzzParseS3URL(f *testing.F) {
	for _, s := range []string{"s3://bucket", "s3://b-1.x/a/b/", "s3://bucket//", "S3://x..y/z", "s3://bucket/a/../b", "s3://bucket/%2e%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		b, p, err := ParseS3URL(u)
		if err != nil {
			return
		}
		if checkBucket(b) != nil {
			t.Fatalf("%q: invalid bucket %q accepted", u, b)
		}
		if p != "" && (CheckKey(p) != nil || strings.HasSuffix(p, "/")) {
			t.Fatalf("%q: invalid prefix %q accepted", u, p)
		}
		b2, p2, err := ParseS3URL("s3://" + b + "/" + p)
		if err != nil || b2 != b || p2 != p {
			t.Fatalf("%q: canonical form gives %q %q %v", u, b2, p2, err)
		}
	})
}

// TestS3StallTimeoutFromEnv: SANAFARM_S3_STALL_TIMEOUT sets StallTimeout;
// a value that is no duration or is out of [1s, 1h] keeps the default and
// is reported, naming the variable and the value, by CheckS3Env's error
// and by every store the config opens.
func TestS3StallTimeoutFromEnv(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    time.Duration // after withDefaults
		wantErr string
	}{
		{"", DefaultS3StallTimeout, ""},
		{"30s", 30 * time.Second, ""},
		{" 1m30s ", 90 * time.Second, ""},
		{"1s", time.Second, ""},
		{"1h", time.Hour, ""},
		{"30", DefaultS3StallTimeout, `SANAFARM_S3_STALL_TIMEOUT="30": want a duration`},
		{"soon", DefaultS3StallTimeout, `SANAFARM_S3_STALL_TIMEOUT="soon": want a duration`},
		{"0s", DefaultS3StallTimeout, `SANAFARM_S3_STALL_TIMEOUT="0s": want 1s to 1h0m0s`},
		{"-5s", DefaultS3StallTimeout, `SANAFARM_S3_STALL_TIMEOUT="-5s": want 1s to 1h0m0s`},
		{"999ms", DefaultS3StallTimeout, `SANAFARM_S3_STALL_TIMEOUT="999ms": want 1s to 1h0m0s`},
		{"61m", DefaultS3StallTimeout, `SANAFARM_S3_STALL_TIMEOUT="61m": want 1s to 1h0m0s`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			t.Setenv(EnvS3StallTimeout, tc.value) // CheckS3Env's
			c := s3ConfigFrom(func(k string) string { return map[string]string{EnvS3StallTimeout: tc.value}[k] })
			if got := c.withDefaults().StallTimeout; got != tc.want {
				t.Errorf("StallTimeout = %v, want %v", got, tc.want)
			}
			err := CheckS3Env()
			_, nerr := NewS3(c, "bucket", "")
			if tc.wantErr == "" {
				if err != nil || nerr != nil {
					t.Fatalf("CheckS3Env: %v; NewS3: %v", err, nerr)
				}
				return
			}
			for _, e := range []error{err, nerr} {
				if e == nil || !strings.Contains(e.Error(), tc.wantErr) {
					t.Errorf("%v, want an error containing %q", e, tc.wantErr)
				}
			}
		})
	}
}

// TestS3EnvValuesChecked: SANAFARM_S3_INSECURE and SANAFARM_S3_PART_BYTES
// take only values they understand; anything else is an error naming the
// variable and value (which CheckS3Env reports at start), never a quiet
// default ("16MiB" used to become 16 bytes, "on" plain false).
func TestS3EnvValuesChecked(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		insecure    bool
		part        int64 // after withDefaults
		wantErr     string
	}{
		{EnvS3Insecure, "yes", true, DefaultS3PartSize, ""},
		{EnvS3Insecure, "0", false, DefaultS3PartSize, ""},
		{EnvS3Insecure, "on", false, DefaultS3PartSize, `SANAFARM_S3_INSECURE="on": want true or false`},
		{EnvS3PartSize, "33554432", false, 32 << 20, ""},
		{EnvS3PartSize, "16MiB", false, DefaultS3PartSize, `SANAFARM_S3_PART_BYTES="16MiB": want a number of bytes`},
		{EnvS3PartSize, "1e6", false, DefaultS3PartSize, `SANAFARM_S3_PART_BYTES="1e6": want a number of bytes`},
		{EnvS3PartSize, "1024", false, DefaultS3PartSize, `SANAFARM_S3_PART_BYTES="1024": want 5242880 (5 MiB) to 1073741824 (1 GiB)`},
		{EnvS3PartSize, "8589934592", false, DefaultS3PartSize, `SANAFARM_S3_PART_BYTES="8589934592": want 5242880`},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			c := s3ConfigFrom(func(k string) string { return map[string]string{tc.name: tc.value}[k] })
			if d := c.withDefaults(); d.Insecure != tc.insecure || d.PartSize != tc.part {
				t.Errorf("Insecure %v PartSize %d, want %v %d", d.Insecure, d.PartSize, tc.insecure, tc.part)
			}
			t.Setenv(tc.name, tc.value)
			err := CheckS3Env()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("CheckS3Env: %v, want %q", err, tc.wantErr)
			}
		})
	}
}
