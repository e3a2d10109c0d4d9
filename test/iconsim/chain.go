// Package iconsim simulates a small network of goloop citizen nodes that
// share one in-memory ICON chain, speaking JSON-RPC v3 and goloop's
// websockets over real HTTP, with per-node fault injection.
package iconsim

import (
	"crypto/sha3"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icon-edge/icon-edge/icon"
)

// Well-known keys and addresses of the simulated chain. The genesis is the
// one the reference samples were recorded with, so sample addresses mean the
// same thing here.
const (
	// DevAddress is the funded genesis ("god") account.
	DevAddress = "hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"
	// Dev2PrivateKey / Dev2Address: a second test account (unfunded at genesis).
	Dev2PrivateKey = "705621a707f58ec736bfb8e64d17f8f6889a0271de26e75fdf878dd61dbe8800"
	Dev2Address    = "hx6d012de5402f8d43a87a1406e24ef69db9972bb4"
	// TreasuryAddress collects transaction fees.
	TreasuryAddress = "hx1000000000000000000000000000000000000000"
	// ChainScoreAddress is the system SCORE with the chain's read-only methods.
	ChainScoreAddress = "cx0000000000000000000000000000000000000000"
	// TokenAddress is the built-in IRC2-like token, owned by DevAddress at genesis.
	TokenAddress = "cx0000000000000000000000000000000000001234"
)

// DevPrivateKey is the private key (hex) of DevAddress, the funded genesis
// account. It is the public test key of the reference gochain: never use it
// for anything of value.
var DevPrivateKey = "0e602668d448523b4816945031b0866c0b2dd082c01e055bfa151298883ab673"

// Chain parameters as in the reference genesis.
var (
	genesisBalance, _ = new(big.Int).SetString("2961fff8ca4a62327800000", 16)
	stepPrice         = big.NewInt(0x2e90edd00)
	tokenSupply, _    = new(big.Int).SetString("33b2e3c9fd0803ce8000000", 16) // 1e27
)

const (
	stepDefault     = 0x186a0
	stepInput       = 0xc8
	stepContract    = 0x61a8
	stepEventLog    = 0x64
	maxStepInvoke   = 0x9502f900
	maxTxPerBlock   = 2000
	maxPool         = 20000
	maxBlocksKept   = 200000 // older block bodies are pruned to bound memory
	maxBalanceHist  = 256
	timestampWindow = 5 * time.Minute
)

// Tx is a transaction as accepted into the pool.
type Tx struct {
	Hash      [32]byte
	HashHex   string
	Params    map[string]json.RawMessage // as received, without txHash
	From, To  string
	Value     *big.Int
	StepLimit *big.Int
	Timestamp int64
	DataType  string
	Data      json.RawMessage
}

// Receipt is the outcome of an executed transaction.
type Receipt struct {
	Status    int
	StepUsed  int64
	Cumul     int64
	Failure   string
	failCode  int
	EventLogs []EventLog
	Bloom     [256]byte
}

// EventLog is one SCORE event.
type EventLog struct {
	Score   string
	Indexed []string
	Data    []string
}

// Block is one block of the shared chain; its v2-style JSON is encoded once.
type Block struct {
	Height   int64
	Hash     [32]byte
	Prev     [32]byte
	TimeUS   int64
	Merkle   []byte
	Txs      []*Tx
	Receipts []*Receipt
	JSON     []byte // v2-style result object, cached
	genesis  []byte // the genesis "transaction"
}

// HashHex is the block hash as "0x" + hex.
func (b *Block) HashHex() string { return icon.FormatHash(b.Hash[:]) }

type txLoc struct {
	block *Block
	index int
}

type balEntry struct {
	height int64
	value  *big.Int
}

// Chain is the one chain every simulated node serves from.
type Chain struct {
	nid     int64
	channel string

	mu       sync.RWMutex
	blocks   []*Block // blocks[i] has height base+i; genesis is kept separately
	base     int64
	genesisB *Block
	byHash   map[[32]byte]*Block
	txs      map[[32]byte]txLoc
	pool     []*Tx
	inPool   map[[32]byte]*Tx
	icx      map[string][]balEntry
	token    map[string][]balEntry

	tip    atomic.Int64
	notify atomic.Pointer[chan struct{}] // closed and replaced on every new block
}

func newChain(nid int64, channel string) *Chain {
	c := &Chain{
		nid: nid, channel: channel,
		byHash: make(map[[32]byte]*Block),
		txs:    make(map[[32]byte]txLoc),
		inPool: make(map[[32]byte]*Tx),
		icx:    map[string][]balEntry{DevAddress: {{0, genesisBalance}}, TreasuryAddress: {{0, new(big.Int)}}},
		token:  map[string][]balEntry{DevAddress: {{0, tokenSupply}}},
	}
	ch := make(chan struct{})
	c.notify.Store(&ch)
	g := &Block{Height: 0, genesis: genesisTx(nid)}
	gh := sha3.Sum256(g.genesis)
	g.Merkle = gh[:]
	g.Hash = sha3.Sum256(append([]byte("iconsim-genesis"), gh[:]...))
	g.JSON = encodeBlockV2(g)
	c.genesisB = g
	c.blocks = []*Block{g}
	c.byHash[g.Hash] = g
	return c
}

func genesisTx(nid int64) []byte {
	g := map[string]any{
		"accounts": []map[string]string{
			{"address": DevAddress, "balance": icon.FormatBigHex(genesisBalance), "name": "god"},
			{"address": TreasuryAddress, "balance": "0x0", "name": "treasury"},
		},
		"chain": map[string]any{
			"fee": map[string]any{
				"stepCosts": stepCosts,
				"stepLimit": map[string]string{"invoke": icon.FormatHexInt(maxStepInvoke), "query": "0x2faf080"},
				"stepPrice": icon.FormatBigHex(stepPrice),
			},
			"revision":      "0x8",
			"validatorList": []string{DevAddress},
		},
		"message": "iconsim genesis",
		"nid":     icon.FormatHexInt(nid),
	}
	b, _ := json.Marshal(g)
	return b
}

// Height is the chain tip.
func (c *Chain) Height() int64 { return c.tip.Load() }

// waitCh returns a channel closed when the next block is added.
func (c *Chain) waitCh() <-chan struct{} { return *c.notify.Load() }

// block returns the block at height h, or nil when unknown or pruned.
func (c *Chain) block(h int64) *Block {
	if h == 0 {
		return c.genesisB
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	i := h - c.base
	if i < 0 || i >= int64(len(c.blocks)) {
		return nil
	}
	return c.blocks[i]
}

func (c *Chain) blockByHash(h [32]byte) *Block {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byHash[h]
}

// lookupTx finds a tx in a block or in the pool.
func (c *Chain) lookupTx(h [32]byte) (loc txLoc, pooled *Tx) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if l, ok := c.txs[h]; ok {
		return l, nil
	}
	return txLoc{}, c.inPool[h]
}

func balanceAt(hist []balEntry, h int64) *big.Int {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].height <= h {
			return hist[i].value
		}
	}
	if len(hist) > 0 {
		return hist[0].value // older history was trimmed; best effort
	}
	return new(big.Int)
}

// Balance is the ICX balance of addr after block h.
func (c *Chain) Balance(addr string, h int64) *big.Int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return balanceAt(c.icx[addr], h)
}

func (c *Chain) tokenBalance(addr string, h int64) *big.Int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return balanceAt(c.token[addr], h)
}

// setBal records a new balance at height h (caller holds c.mu).
func setBal(m map[string][]balEntry, addr string, h int64, v *big.Int) {
	hist := m[addr]
	if len(hist) == 0 && h > 0 {
		hist = append(hist, balEntry{0, new(big.Int)}) // "zero until now", so older heights read 0
	}
	if n := len(hist); n > 0 && hist[n-1].height == h {
		hist[n-1].value = v
		return
	}
	if len(hist) >= maxBalanceHist {
		hist = append(hist[:0], hist[len(hist)/2:]...)
	}
	m[addr] = append(hist, balEntry{h, v})
}

// addTx puts a verified tx into the pool. It returns goloop's error for a
// duplicate or a full pool.
func (c *Chain) addTx(tx *Tx) *icon.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.txs[tx.Hash]; ok {
		return errDuplicateTx
	}
	if _, ok := c.inPool[tx.Hash]; ok {
		return errDuplicateTx
	}
	if len(c.pool) >= maxPool {
		return errPoolOverflow
	}
	c.pool = append(c.pool, tx)
	c.inPool[tx.Hash] = tx
	return nil
}

// produce appends the next block with what the pool can execute.
func (c *Chain) produce(now time.Time) *Block {
	c.mu.Lock()
	tip := c.tip.Load()
	prev := c.blocks[len(c.blocks)-1]
	b := &Block{Height: tip + 1, Prev: prev.Hash, TimeUS: now.UnixMicro()}
	var keep []*Tx
	var cumul int64
	minTS := now.Add(-timestampWindow).UnixMicro()
	for _, tx := range c.pool {
		if len(b.Txs) >= maxTxPerBlock {
			keep = append(keep, tx)
			continue
		}
		r, outcome := c.execute(tx, b.Height, cumul)
		switch outcome {
		case execDrop:
			delete(c.inPool, tx.Hash)
		case execWait:
			if tx.Timestamp < minTS { // expired while waiting, as goloop drops it
				delete(c.inPool, tx.Hash)
			} else {
				keep = append(keep, tx)
			}
		default:
			cumul = r.Cumul
			delete(c.inPool, tx.Hash)
			c.txs[tx.Hash] = txLoc{b, len(b.Txs)}
			b.Txs = append(b.Txs, tx)
			b.Receipts = append(b.Receipts, r)
		}
	}
	c.pool = append(c.pool[:0], keep...)
	if len(b.Txs) > 0 {
		b.Merkle = merkleRoot(b.Txs)
	}
	b.Hash = blockHash(b)
	b.JSON = encodeBlockV2(b)
	c.blocks = append(c.blocks, b)
	c.byHash[b.Hash] = b
	if len(c.blocks) > maxBlocksKept {
		c.prune(len(c.blocks) / 2)
	}
	c.tip.Store(b.Height)
	old := c.notify.Load()
	ch := make(chan struct{})
	c.notify.Store(&ch)
	c.mu.Unlock()
	close(*old)
	return b
}

func (c *Chain) prune(n int) {
	for _, b := range c.blocks[:n] {
		if b.Height == 0 {
			continue
		}
		delete(c.byHash, b.Hash)
		for _, tx := range b.Txs {
			delete(c.txs, tx.Hash)
		}
	}
	c.blocks = append([]*Block(nil), c.blocks[n:]...)
	c.base += int64(n)
}

func blockHash(b *Block) [32]byte {
	var buf [8 + 32 + 8 + 32]byte
	binary.BigEndian.PutUint64(buf[0:], uint64(b.Height))
	copy(buf[8:], b.Prev[:])
	binary.BigEndian.PutUint64(buf[40:], uint64(b.TimeUS))
	copy(buf[48:], b.Merkle)
	return sha3.Sum256(buf[:])
}

func merkleRoot(txs []*Tx) []byte {
	level := make([][32]byte, len(txs))
	for i, tx := range txs {
		level[i] = tx.Hash
	}
	for len(level) > 1 {
		var next [][32]byte
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
				continue
			}
			next = append(next, sha3.Sum256(append(level[i][:], level[i+1][:]...)))
		}
		level = next
	}
	return level[0][:]
}

// encodeBlockV2 renders the block the way goloop's v3 API does for
// icx_getBlockBy*: "v2 style", hashes without 0x, integer height and µs time.
func encodeBlockV2(b *Block) []byte {
	list := make([]json.RawMessage, 0, len(b.Txs))
	if b.genesis != nil {
		list = append(list, b.genesis)
	}
	for _, tx := range b.Txs {
		list = append(list, txJSON(tx, nil))
	}
	hexOrEmpty := func(h []byte) string {
		if len(h) == 0 {
			return ""
		}
		return hex.EncodeToString(h)
	}
	prev, peer := "", ""
	if b.Height > 0 {
		prev, peer = hex.EncodeToString(b.Prev[:]), DevAddress
	}
	out, _ := json.Marshal(map[string]any{
		"block_hash":                 hex.EncodeToString(b.Hash[:]),
		"confirmed_transaction_list": list,
		"height":                     b.Height,
		"merkle_tree_root_hash":      hexOrEmpty(b.Merkle),
		"peer_id":                    peer,
		"prev_block_hash":            prev,
		"signature":                  "",
		"time_stamp":                 b.TimeUS,
		"version":                    "2.0",
	})
	return out
}

// txJSON is the tx's params plus txHash and any extra fields, keys sorted.
func txJSON(tx *Tx, extra map[string]string) json.RawMessage {
	m := make(map[string]json.RawMessage, len(tx.Params)+1+len(extra))
	for k, v := range tx.Params {
		m[k] = v
	}
	m["txHash"], _ = json.Marshal(tx.HashHex)
	for k, v := range extra {
		m[k], _ = json.Marshal(v)
	}
	out, _ := json.Marshal(m)
	return out
}
