package snapshot

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/icon-edge/icon-edge/snapshot/s3test"
)

// newStore starts a fake S3 and a store on it, with credentials that keep the
// SDK away from any instance metadata service.
func newStore(t testing.TB, plain bool) (*s3test.Server, *S3Store) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_CA_BUNDLE", "") // the test client trusts the fake's own certificate
	srv, err := s3test.New(s3test.Options{PlainHTTP: plain})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	st, err := NewS3Store(context.Background(), S3Options{
		URL: "s3://" + srv.Bucket + "/chain/main", Endpoint: srv.URL, HTTPClient: srv.HTTPClient,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, st
}

func TestS3StoreRoundTrip(t *testing.T) {
	for _, plain := range []bool{false, true} {
		name := map[bool]string{false: "https-aws-chunked", true: "http"}[plain]
		t.Run(name, func(t *testing.T) {
			srv, st := newStore(t, plain)
			ctx := context.Background()
			data := bytes.Repeat([]byte("0123456789abcdef"), 70000) // > one aws-chunked chunk
			if err := st.Put(ctx, "objects/x", bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			got, err := st.Get(ctx, "objects/x")
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get: %d bytes, err %v (stored body differs from what was sent)", len(got), err)
			}
			p := make([]byte, 1000)
			if err := st.ReadRange(ctx, "objects/x", 123457, p); err != nil || !bytes.Equal(p, data[123457:124457]) {
				t.Fatalf("range: %v", err)
			}
			if err := st.ReadRange(ctx, "objects/x", int64(len(data))-10, p); err == nil {
				t.Fatal("a range past the end succeeded")
			}
			if _, err := st.Get(ctx, "objects/missing"); !errors.Is(err, ErrNotExist) {
				t.Fatalf("missing key: %v", err)
			}
			for _, k := range []string{"objects/y", "snapshots/a"} {
				if err := st.Put(ctx, k, strings.NewReader("v"), 1); err != nil {
					t.Fatal(err)
				}
			}
			var keys []string
			if err := st.List(ctx, "objects/", func(o ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil {
				t.Fatal(err)
			}
			if strings.Join(keys, ",") != "objects/x,objects/y" {
				t.Fatalf("list: %v", keys)
			}
			if err := st.Delete(ctx, []string{"objects/x", "objects/nope"}); err != nil {
				t.Fatal(err)
			}
			all, _ := srv.Keys()
			if strings.Join(all, ",") != "chain/main/objects/y,chain/main/snapshots/a" {
				t.Fatalf("bucket after delete: %v", all)
			}
			s := srv.Stats()
			if s.Puts != 3 || s.PutBytes != int64(len(data))+2 {
				t.Fatalf("stats %+v", s)
			}
			// Over HTTPS the SDK streams aws-chunked with a trailing checksum:
			// the case gofakes3 alone would store corrupted.
			if wantChunked := map[bool]int64{false: 3, true: 0}[plain]; s.Chunked != wantChunked {
				t.Fatalf("%d of 3 uploads were aws-chunked, want %d", s.Chunked, wantChunked)
			}
		})
	}
}

// The fake must refuse what S3 refuses: a body whose trailing checksum does
// not match.
func TestFakeS3RejectsBadChecksum(t *testing.T) {
	srv, _ := newStore(t, false)
	body := "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/"+srv.Bucket+"/k", strings.NewReader(body))
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	req.Header.Set("X-Amz-Decoded-Content-Length", "5")
	req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	resp, err := srv.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("bad checksum: HTTP %d", resp.StatusCode)
	}
	// The same upload with the right CRC32 of "hello" is stored decoded.
	req, _ = http.NewRequest(http.MethodPut, srv.URL+"/"+srv.Bucket+"/k", strings.NewReader(strings.Replace(body, "AAAAAA==", "NhCmhg==", 1)))
	req.Header = resp.Request.Header.Clone()
	resp, err = srv.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("good checksum: HTTP %d", resp.StatusCode)
	}
	resp, err = srv.HTTPClient.Get(srv.URL + "/" + srv.Bucket + "/k")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if buf.String() != "hello" {
		t.Fatalf("stored %q", buf.String())
	}
}
