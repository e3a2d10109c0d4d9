package icon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client asks one goloop node over JSON-RPC v3. It is for tools and
// sidecars (one request at a time, net/http), not the edge's hot path.
type Client struct {
	// URL is the node's JSON-RPC endpoint; a bare base URL
	// (http://127.0.0.1:9080) means /api/v3.
	URL  string
	HTTP *http.Client // default: 5 s timeout
}

// LastBlock is the part of icx_getLastBlock a health check needs.
type LastBlock struct {
	Height    int64  `json:"height"`
	BlockHash string `json:"block_hash"`
}

// RPCURL turns a node base URL into its JSON-RPC endpoint.
func RPCURL(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Path != "" && u.Path != "/" {
		return base
	}
	return strings.TrimSuffix(base, "/") + "/api/v3"
}

// LastBlock calls icx_getLastBlock.
func (c *Client) LastBlock(ctx context.Context) (LastBlock, error) {
	var lb LastBlock
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, RPCURL(c.URL),
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`))
	if err != nil {
		return lb, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return lb, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return lb, err
	}
	var out struct {
		Result *LastBlock `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&out); err != nil {
		return lb, fmt.Errorf("icx_getLastBlock: HTTP %d, not JSON-RPC: %.80q", resp.StatusCode, body)
	}
	if out.Error != nil {
		return lb, &Error{Code: out.Error.Code, Message: out.Error.Message}
	}
	if resp.StatusCode != http.StatusOK || out.Result == nil || out.Result.Height < 0 {
		return lb, fmt.Errorf("icx_getLastBlock: HTTP %d without a usable result", resp.StatusCode)
	}
	return *out.Result, nil
}
