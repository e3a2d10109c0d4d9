// Package s3test runs an in-process S3 server (gofakes3 over real HTTP) for
// tests and benchmarks, fixed to behave as S3 does where gofakes3 does not.
//
// Current AWS SDKs upload with `Content-Encoding: aws-chunked` and a trailing
// checksum (STREAMING-UNSIGNED-PAYLOAD-TRAILER) whenever the endpoint is
// HTTPS; gofakes3 would store such a body verbatim, chunk headers and all. The
// wrapper here decodes aws-chunked bodies and checks the declared checksums
// (trailer or header: CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256) and the
// decoded length, answering 400 BadDigest / IncompleteBody like S3 when they
// do not match, so the client is tested exactly as it talks to S3.
package s3test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Options configures a Server.
type Options struct {
	// Bucket is created at start (default "snapshots").
	Bucket string
	// PlainHTTP serves http:// instead of https:// (the SDK then sends
	// plain bodies with a header checksum instead of aws-chunked ones).
	PlainHTTP bool
}

// Server is a running fake S3.
type Server struct {
	URL    string
	Bucket string
	// HTTPClient trusts the server's certificate.
	HTTPClient *http.Client

	srv     *httptest.Server
	backend *s3mem.Backend

	mu    sync.Mutex
	stats Stats
}

// Stats counts what the server received and sent.
type Stats struct {
	Puts      int64
	PutBytes  int64 // decoded object bytes accepted
	Gets      int64
	GetBytes  int64          // response body bytes of GETs
	GetsByKey map[string]int // GET requests per object key (without the bucket)
	Rejected  int64          // uploads refused for a bad checksum or length
	Chunked   int64          // uploads that came aws-chunked (decoded here)
}

// New starts a server on 127.0.0.1 with a random port.
func New(o Options) (*Server, error) {
	if o.Bucket == "" {
		o.Bucket = "snapshots"
	}
	s := &Server{Bucket: o.Bucket, backend: s3mem.New()}
	s.stats.GetsByKey = map[string]int{}
	if err := s.backend.CreateBucket(o.Bucket); err != nil {
		return nil, err
	}
	fake := gofakes3.New(s.backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	h := s.wrap(fake.Server())
	if o.PlainHTTP {
		s.srv = httptest.NewServer(h)
	} else {
		s.srv = httptest.NewTLSServer(h)
	}
	s.URL = s.srv.URL
	s.HTTPClient = s.srv.Client()
	// The SDK opens one connection per GET in flight; keep them.
	if t, ok := s.HTTPClient.Transport.(*http.Transport); ok {
		t.MaxIdleConnsPerHost = 512
		t.MaxIdleConns = 1024
	}
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// WriteCA writes the server's certificate as PEM (for AWS_CA_BUNDLE).
func (s *Server) WriteCA(path string) error {
	cert := s.srv.Certificate()
	if cert == nil {
		return errors.New("s3test: plain HTTP server has no certificate")
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.GetsByKey = make(map[string]int, len(s.stats.GetsByKey))
	for k, v := range s.stats.GetsByKey {
		st.GetsByKey[k] = v
	}
	return st
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	s.stats = Stats{GetsByKey: map[string]int{}}
	s.mu.Unlock()
}

// Overwrite replaces an object's bytes behind the client's back (to test
// that corruption is caught).
func (s *Server) Overwrite(key string, data []byte) error {
	_, err := s.backend.PutObject(s.Bucket, key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil)
	return err
}

// Delete removes an object behind the client's back.
func (s *Server) Delete(key string) error {
	_, err := s.backend.DeleteObject(s.Bucket, key)
	return err
}

// Keys lists every key in the bucket.
func (s *Server) Keys() ([]string, error) {
	list, err := s.backend.ListBucket(s.Bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(list.Contents))
	for _, c := range list.Contents {
		keys = append(keys, c.Key)
	}
	return keys, nil
}

func (s *Server) objectKey(r *http.Request) string {
	return strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/"+s.Bucket), "/")
}

func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			if r.Header.Get("X-Amz-Copy-Source") == "" {
				n, chunked, err := normalizeUpload(r)
				if err != nil {
					s.mu.Lock()
					s.stats.Rejected++
					s.mu.Unlock()
					var se *s3Error
					if errors.As(err, &se) {
						se.write(w)
					} else {
						(&s3Error{400, "InvalidRequest", err.Error()}).write(w)
					}
					return
				}
				cw := &countingWriter{ResponseWriter: w}
				next.ServeHTTP(cw, r)
				if cw.status() < 300 {
					s.mu.Lock()
					s.stats.Puts++
					s.stats.PutBytes += n
					if chunked {
						s.stats.Chunked++
					}
					s.mu.Unlock()
				}
				return
			}
		case http.MethodGet:
			if r.URL.Query().Has("list-type") || r.URL.RawQuery == "" && s.objectKey(r) == "" {
				break
			}
			cw := &countingWriter{ResponseWriter: w}
			next.ServeHTTP(cw, r)
			s.mu.Lock()
			s.stats.Gets++
			s.stats.GetBytes += cw.n
			s.stats.GetsByKey[s.objectKey(r)]++
			s.mu.Unlock()
			return
		}
		next.ServeHTTP(w, r)
	})
}

type countingWriter struct {
	http.ResponseWriter
	n    int64
	code int
}

// WriteHeader passes on the first status only (gofakes3 sometimes writes
// two for one error).
func (c *countingWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
		c.ResponseWriter.WriteHeader(code)
	}
}
func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}
func (c *countingWriter) status() int {
	if c.code == 0 {
		return 200
	}
	return c.code
}

type s3Error struct {
	status        int
	code, message string
}

func (e *s3Error) Error() string { return e.code + ": " + e.message }
func (e *s3Error) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error><Code>%s</Code><Message>%s</Message></Error>", e.code, e.message)
}

// normalizeUpload reads the body, decodes aws-chunked framing, checks the
// declared length and checksums, and leaves a plain body for gofakes3. It
// returns the object's size and whether it came aws-chunked.
func normalizeUpload(r *http.Request) (int64, bool, error) {
	raw, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return 0, false, err
	}
	body := raw
	trailers := http.Header{}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	chunked := strings.HasPrefix(payloadHash, "STREAMING-")
	var encs []string
	for _, e := range strings.Split(r.Header.Get("Content-Encoding"), ",") {
		if e = strings.TrimSpace(e); e == "aws-chunked" {
			chunked = true
		} else if e != "" {
			encs = append(encs, e)
		}
	}
	if chunked {
		body, trailers, err = decodeAWSChunked(raw)
		if err != nil {
			return 0, false, &s3Error{400, "IncompleteBody", "aws-chunked body: " + err.Error()}
		}
		want, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
		if err != nil {
			return 0, false, &s3Error{411, "MissingContentLength", "aws-chunked upload without x-amz-decoded-content-length"}
		}
		if want != int64(len(body)) {
			return 0, false, &s3Error{400, "IncompleteBody", fmt.Sprintf("decoded %d bytes, x-amz-decoded-content-length says %d", len(body), want)}
		}
		for _, name := range strings.Split(r.Header.Get("X-Amz-Trailer"), ",") {
			if name = strings.TrimSpace(name); name != "" && trailers.Get(name) == "" {
				return 0, false, &s3Error{400, "InvalidRequest", "declared trailer " + name + " is missing"}
			}
		}
	} else if payloadHash != "" && payloadHash != "UNSIGNED-PAYLOAD" {
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != payloadHash {
			return 0, false, &s3Error{400, "XAmzContentSHA256Mismatch", "the provided x-amz-content-sha256 does not match what was computed"}
		}
	}
	for _, src := range []http.Header{r.Header, trailers} {
		for name, vals := range src {
			algo, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-checksum-")
			if !ok || algo == "type" || algo == "algorithm" {
				continue
			}
			if err := checkChecksum(algo, vals[0], body); err != nil {
				return 0, false, err
			}
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	r.Header.Del("X-Amz-Decoded-Content-Length")
	if len(encs) > 0 {
		r.Header.Set("Content-Encoding", strings.Join(encs, ","))
	} else {
		r.Header.Del("Content-Encoding")
	}
	return int64(len(body)), chunked, nil
}

// decodeAWSChunked parses "<hex>[;ext]\r\n<data>\r\n" chunks up to a zero
// chunk, then trailer lines up to an empty line.
func decodeAWSChunked(raw []byte) ([]byte, http.Header, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	var out bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, nil, fmt.Errorf("chunk header: %w", err)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		sizeHex, _, _ := strings.Cut(line, ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
		if err != nil || size < 0 {
			return nil, nil, fmt.Errorf("chunk size %q", sizeHex)
		}
		if size == 0 {
			break
		}
		if _, err := io.CopyN(&out, br, size); err != nil {
			return nil, nil, fmt.Errorf("chunk data: %w", err)
		}
		var crlf [2]byte
		if _, err := io.ReadFull(br, crlf[:]); err != nil || crlf != [2]byte{'\r', '\n'} {
			return nil, nil, errors.New("chunk not followed by CRLF")
		}
	}
	trailers := http.Header{}
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if err != nil && err != io.EOF {
				return nil, nil, err
			}
			break
		}
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			return nil, nil, fmt.Errorf("trailer line %q", line)
		}
		trailers.Set(strings.TrimSpace(name), strings.TrimSpace(val))
		if err != nil {
			break
		}
	}
	return out.Bytes(), trailers, nil
}

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	nvme       = crc64.MakeTable(0x9a6c9329ac4bc9b5) // CRC-64/NVME, reflected
)

func checkChecksum(algo, want string, body []byte) error {
	var h hash.Hash
	switch algo {
	case "crc32":
		h = crc32.NewIEEE()
	case "crc32c":
		h = crc32.New(castagnoli)
	case "crc64nvme":
		h = crc64.New(nvme)
	case "sha1":
		h = sha1.New()
	case "sha256":
		h = sha256.New()
	default:
		return &s3Error{400, "InvalidRequest", "unsupported checksum algorithm " + algo}
	}
	h.Write(body)
	if got := base64.StdEncoding.EncodeToString(h.Sum(nil)); got != want {
		return &s3Error{400, "BadDigest", fmt.Sprintf("the %s you specified did not match the calculated checksum", strings.ToUpper(algo))}
	}
	return nil
}
