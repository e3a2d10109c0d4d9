package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"gopkg.in/yaml.v3"
)

// Mix describes a synthetic workload: relative method weights and the
// values requests draw their parameters from (besides what is fetched from
// the target at start).
type Mix struct {
	Methods   map[string]float64 `yaml:"methods" json:"methods"`
	Accounts  []string           `yaml:"accounts,omitempty" json:"accounts,omitempty"`
	Calls     []CallSpec         `yaml:"calls,omitempty" json:"calls,omitempty"`
	Transfer  *TransferSpec      `yaml:"transfer,omitempty" json:"transfer,omitempty"`
	Blocks    int                `yaml:"recent_blocks,omitempty" json:"recent_blocks,omitempty"` // blocks scanned at start (default 32)
	BatchSize int                `yaml:"batch_size,omitempty" json:"batch_size,omitempty"`       // items in a "batch" request (default 3)
}

// CallSpec is one read-only SCORE call used for icx_call.
type CallSpec struct {
	To     string            `yaml:"to" json:"to"`
	Method string            `yaml:"method" json:"method"`
	Params map[string]string `yaml:"params,omitempty" json:"params,omitempty"`
}

// TransferSpec turns on signed ICX transfers (method icx_sendTransaction)
// from a funded key.
type TransferSpec struct {
	PrivateKey string `yaml:"private_key" json:"-"` // hex; or the ICON_LOADTEST_KEY environment variable
	To         string `yaml:"to" json:"to"`
	Value      string `yaml:"value" json:"value"`           // hex loop, default 0x1
	StepLimit  string `yaml:"step_limit" json:"step_limit"` // default 0x30d40
	NID        string `yaml:"nid" json:"nid"`               // default: from icx_getNetworkInfo, else 0x1
}

// Supported methods and how their parameters are drawn.
var synthMethods = map[string]bool{
	"icx_getLastBlock": true, "icx_getBalance": true, "icx_getBlockByHeight": true,
	"icx_getBlockByHash": true, "icx_getTransactionResult": true, "icx_getTransactionByHash": true,
	"icx_call": true, "icx_getTotalSupply": true, "icx_getScoreApi": true, "icx_getNetworkInfo": true,
	"icx_sendTransaction": true, "batch": true,
}

// DefaultMix is the built-in workload. Its weights approximate the shape of
// public ICON API traffic — dominated by wallet and dApp reads (SCORE calls,
// balances, transaction results), then explorers and indexers walking
// blocks — rather than measured figures; pass --mix for your own.
func DefaultMix() *Mix {
	return &Mix{
		Methods: map[string]float64{
			"icx_call":                 35,
			"icx_getLastBlock":         15,
			"icx_getBalance":           15,
			"icx_getTransactionResult": 12,
			"icx_getBlockByHeight":     10,
			"icx_getTransactionByHash": 5,
			"icx_getBlockByHash":       3,
			"icx_getScoreApi":          2,
			"icx_getTotalSupply":       1,
			"batch":                    2,
		},
	}
}

// LoadMix reads a YAML (or JSON) mix spec.
func LoadMix(path string) (*Mix, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Mix
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("loadtest: mix %s: %w", path, err)
	}
	return &m, m.validate()
}

func (m *Mix) validate() error {
	if len(m.Methods) == 0 {
		return errors.New("loadtest: mix has no methods")
	}
	var total float64
	for name, w := range m.Methods {
		if !synthMethods[name] {
			return fmt.Errorf("loadtest: mix method %q is not supported (supported: %s)", name, strings.Join(sortedMethods(), ", "))
		}
		if w < 0 {
			return fmt.Errorf("loadtest: mix weight of %s is negative", name)
		}
		total += w
	}
	if total <= 0 {
		return errors.New("loadtest: mix weights add up to 0")
	}
	for _, a := range m.Accounts {
		if !icon.IsAddress(a) {
			return fmt.Errorf("loadtest: mix account %q is not an ICON address", a)
		}
	}
	if m.Methods["icx_sendTransaction"] > 0 && m.Transfer == nil {
		m.Transfer = &TransferSpec{}
	}
	if m.Blocks < 0 || m.Blocks > 1000 || m.BatchSize < 0 || m.BatchSize > 100 {
		return errors.New("loadtest: mix recent_blocks must be in 0..1000 and batch_size in 0..100")
	}
	return nil
}

func sortedMethods() []string {
	var s []string
	for k := range synthMethods {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// chainState is what the workload draws parameters from.
type chainState struct {
	nid      int64
	height   int64
	blocks   []string // block hashes, 0x-prefixed
	txs      []string
	accounts []string
}

// rpcClient is a plain JSON-RPC client for setup calls (not the load path).
type rpcClient struct {
	url string
	hc  *http.Client
}

func (c *rpcClient) call(ctx context.Context, method string, params any, out any) error {
	req := map[string]any{"jsonrpc": "2.0", "id": 1, "method": method}
	if params != nil {
		req["params"] = params
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s: HTTP %d, not JSON-RPC: %.100q", method, resp.StatusCode, raw)
	}
	if env.Error != nil {
		return fmt.Errorf("%s: %d %s", method, env.Error.Code, env.Error.Message)
	}
	return json.Unmarshal(env.Result, out)
}

type v2Block struct {
	Hash   string `json:"block_hash"`
	Height int64  `json:"height"`
	Txs    []struct {
		TxHash  string `json:"txHash"`
		TxHash2 string `json:"tx_hash"`
		From    string `json:"from"`
		To      string `json:"to"`
	} `json:"confirmed_transaction_list"`
}

// fetchState reads the last blocks of the target so the workload asks for
// things that exist. It is bounded by ctx and the mix's block count.
func fetchState(ctx context.Context, url string, m *Mix) (*chainState, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c := &rpcClient{url: url, hc: &http.Client{Timeout: 5 * time.Second}}
	st := &chainState{nid: 1}
	var last v2Block
	if err := c.call(ctx, "icx_getLastBlock", nil, &last); err != nil {
		return nil, fmt.Errorf("loadtest: reading the target's chain: %w", err)
	}
	st.height = last.Height
	var info struct {
		NID string `json:"nid"`
	}
	if c.call(ctx, "icx_getNetworkInfo", nil, &info) == nil {
		if n, ok := icon.ParseHexInt(info.NID); ok {
			st.nid = n
		}
	}
	seen := map[string]bool{}
	addAcct := func(a string) {
		if icon.IsAddress(a) && !seen[a] && len(st.accounts) < 1024 {
			seen[a] = true
			st.accounts = append(st.accounts, a)
		}
	}
	for _, a := range m.Accounts {
		addAcct(a)
	}
	n := m.Blocks
	if n == 0 {
		n = 32
	}
	addBlock := func(b v2Block) {
		if b.Hash != "" {
			st.blocks = append(st.blocks, "0x"+strings.TrimPrefix(b.Hash, "0x"))
		}
		for _, tx := range b.Txs {
			h := tx.TxHash
			if h == "" {
				h = "0x" + strings.TrimPrefix(tx.TxHash2, "0x")
			}
			if icon.IsHash(h) && len(st.txs) < 4096 {
				st.txs = append(st.txs, h)
			}
			addAcct(tx.From)
			addAcct(tx.To)
		}
	}
	addBlock(last)
	for h := last.Height - 1; h >= 0 && h > last.Height-int64(n); h-- {
		var b v2Block
		if err := c.call(ctx, "icx_getBlockByHeight", map[string]string{"height": icon.FormatHexInt(h)}, &b); err != nil {
			break
		}
		addBlock(b)
	}
	return st, nil
}
