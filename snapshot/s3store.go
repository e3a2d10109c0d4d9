package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Options configures an S3 (or S3-compatible) store.
type S3Options struct {
	// URL is s3://BUCKET/PREFIX.
	URL string
	// Endpoint, when set, is an S3-compatible endpoint addressed path-style
	// (MinIO, Ceph, a test server). Empty: AWS S3 for the configured region.
	Endpoint string
	// Region overrides AWS_REGION / the shared config. With an Endpoint and no
	// region anywhere, us-east-1; without one, the instance's region (IMDS).
	Region string
	// HTTPClient replaces the SDK's client (tests trust their own CA here).
	HTTPClient aws.HTTPClient
	// MaxConns is the connection pool size per host (default 256): every
	// GET in flight needs its own connection.
	MaxConns int
}

// S3Store is a Store on S3 through aws-sdk-go-v2. Credentials come from the
// standard chain: environment, shared files, SSO, web identity, instance role.
type S3Store struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"
	name   string
}

// ParseStoreURL splits s3://BUCKET/PREFIX.
func ParseStoreURL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("store %q: want s3://BUCKET/PREFIX", raw)
	}
	prefix = strings.Trim(u.Path, "/")
	if strings.Contains(prefix, "//") {
		return "", "", fmt.Errorf("store %q: empty path segment in prefix", raw)
	}
	return u.Host, prefix, nil
}

// NewS3Store builds the client; it does not contact S3.
func NewS3Store(ctx context.Context, o S3Options) (*S3Store, error) {
	bucket, prefix, err := ParseStoreURL(o.URL)
	if err != nil {
		return nil, err
	}
	if o.Endpoint != "" {
		if u, err := url.Parse(o.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3 endpoint %q: want http(s)://HOST[:PORT]", o.Endpoint)
		}
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 256
	}
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(o.HTTPClient))
	} else {
		opts = append(opts, config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 2 * o.MaxConns
			t.MaxIdleConnsPerHost = o.MaxConns
		})))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		if o.Endpoint != "" {
			cfg.Region = "us-east-1"
		} else if os.Getenv("AWS_EC2_METADATA_DISABLED") != "true" {
			cfg, err = config.LoadDefaultConfig(ctx, append(opts, config.WithEC2IMDSRegion())...)
			if err != nil {
				return nil, fmt.Errorf("aws config: %w", err)
			}
		}
		if cfg.Region == "" {
			return nil, errors.New("no AWS region: set AWS_REGION")
		}
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
			so.UsePathStyle = true
		}
		// Every part is verified against its BLAKE3 address; a CRC of the
		// same bytes adds CPU and nothing else (ranged GETs carry none anyway).
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		so.DisableLogOutputChecksumValidationSkipped = true
	})
	if prefix != "" {
		prefix += "/"
	}
	return &S3Store{client: client, bucket: bucket, prefix: prefix, name: "s3://" + bucket + "/" + prefix}, nil
}

func (s *S3Store) String() string { return s.name }

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

func (s *S3Store) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%s%s: %w", s.name, key, ErrNotExist)
		}
		return nil, fmt.Errorf("get %s%s: %w", s.name, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("get %s%s: %w", s.name, key, err)
	}
	return b, nil
}

// ReadRange retries a body that breaks off mid-transfer; the SDK retries
// only failures before the body starts.
func (s *S3Store) ReadRange(ctx context.Context, key string, off int64, p []byte) error {
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 100 * time.Millisecond):
			}
		}
		if err = s.readRange(ctx, key, off, p); err == nil || ctx.Err() != nil || !retryable(err) {
			return err
		}
	}
	return err
}

// errShortObject: the object is smaller than the manifest says.
var errShortObject = errors.New("object shorter than expected")

// retryable: the connection broke, or S3 answered 5xx; a 4xx or an object
// of the wrong size will not heal.
func retryable(err error) bool {
	if errors.Is(err, errShortObject) {
		return false
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode() >= 500
	}
	return true
}

func (s *S3Store) readRange(ctx context.Context, key string, off int64, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	rng := fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key), Range: &rng})
	if err != nil {
		return fmt.Errorf("get %s%s %s: %w", s.name, key, rng, err)
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength != int64(len(p)) {
		return fmt.Errorf("get %s%s %s: %w: %d bytes, want %d", s.name, key, rng, errShortObject, *out.ContentLength, len(p))
	}
	if _, err := io.ReadFull(out.Body, p); err != nil {
		return fmt.Errorf("get %s%s %s: %w", s.name, key, rng, err)
	}
	return nil
}

func (s *S3Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: aws.String(s.prefix + key), Body: body, ContentLength: aws.Int64(size),
	})
	if err != nil {
		return fmt.Errorf("put %s%s: %w", s.name, key, err)
	}
	return nil
}

func (s *S3Store) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s%s: %w", s.name, prefix, err)
		}
		for _, o := range page.Contents {
			info := ObjectInfo{Key: strings.TrimPrefix(aws.ToString(o.Key), s.prefix), Size: aws.ToInt64(o.Size)}
			if o.LastModified != nil {
				info.LastModified = *o.LastModified
			}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *S3Store) Delete(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000) // DeleteObjects' limit
		ids := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(s.prefix + k)}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &s.bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete from %s: %w", s.name, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete %s: %s %s (and %d more)", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors)-1)
		}
		keys = keys[n:]
	}
	return nil
}
