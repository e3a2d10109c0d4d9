// Package routing answers "where does this request go": what each JSON-RPC
// method is (this file, the one place those facts live), and which region
// serves a request when this one cannot.
package routing

// Kind says whether a method changes state.
type Kind uint8

const (
	// Read leaves state alone: it may be retried, cached, coalesced, hedged.
	Read Kind = iota
	// Write changes state: it is sent at most once and never retried after
	// it may have arrived.
	Write
)

// Height says which block a method reads, and so which nodes can serve it.
type Height uint8

const (
	// Latest reads the newest state: only nodes in sync with the tip qualify.
	Latest Height = iota
	// Pinnable reads the newest state unless params.height pins it to a block.
	Pinnable
	// Pinned always names a block in params.height.
	Pinned
)

// Cache says how an answer may be kept (package cache applies it).
type Cache uint8

const (
	// NoCache: never kept (writes, waits, anything not provably immutable).
	NoCache Cache = iota
	// ByHeight: final once params.height is at or below the finality depth.
	ByHeight
	// PinnableState: final when pinned to a final height, else valid until
	// the next block.
	PinnableState
	// HeadState: the newest state, valid until the next block.
	HeadState
	// TxLookup: final when the answer's blockHeight (t_int) is final.
	TxLookup
	// BlockByHash: final when the answer's height (a JSON integer) is final.
	BlockByHash
)

// Method is everything the edge knows about one JSON-RPC method.
type Method struct {
	Name   string
	Kind   Kind
	Height Height
	// Wait: the node holds the call open up to the Icon-Options timeout.
	Wait bool
	// Debug: served on /api/v3d only.
	Debug bool
	// RetryNotFound: a -31004 may only mean this node lacks the block or
	// transaction yet, so a node that was behind is worth a second opinion.
	RetryNotFound bool
	Cache         Cache
	// Cost is the tokens a call takes from the client's budget (the write
	// budget for writes): what it costs a goloop node relative to
	// icx_getLastBlock (on two cores ~17k/s vs ~6k/s for icx_call; a trace or
	// a step estimate executes a transaction; a wait holds a connection).
	Cost int
}

// AllowedByDefault: tiers that do not list their methods may call it. The
// debug API is opt-in per tier.
func (m *Method) AllowedByDefault() bool { return !m.Debug }

// methods lists the JSON-RPC v3 methods goloop serves. Anything else is
// answered -32601 at the edge, as a node would, without costing a node a
// request. Adding a method is one line here.
var methods = []Method{
	{Name: "icx_getLastBlock", Height: Latest, Cache: HeadState, Cost: 1},
	{Name: "icx_getBlockByHeight", Height: Pinned, RetryNotFound: true, Cache: ByHeight, Cost: 2},
	{Name: "icx_getBlockByHash", Height: Latest, RetryNotFound: true, Cache: BlockByHash, Cost: 2},
	{Name: "icx_getBlockHeaderByHeight", Height: Pinned, RetryNotFound: true, Cache: ByHeight, Cost: 1},
	// The votes for a block are only complete in the next one: not provably
	// immutable, so not cached (nor are proofs and BTP answers).
	{Name: "icx_getVotesByHeight", Height: Pinned, RetryNotFound: true, Cost: 1},
	{Name: "icx_getBalance", Height: Pinnable, Cache: PinnableState, Cost: 1},
	{Name: "icx_call", Height: Pinnable, Cache: PinnableState, Cost: 5},
	{Name: "icx_getScoreApi", Height: Pinnable, Cache: PinnableState, Cost: 2},
	{Name: "icx_getScoreStatus", Height: Pinnable, Cache: PinnableState, Cost: 1},
	{Name: "icx_getTotalSupply", Height: Pinnable, Cache: PinnableState, Cost: 1},
	{Name: "icx_getTransactionResult", Height: Latest, RetryNotFound: true, Cache: TxLookup, Cost: 1},
	{Name: "icx_getTransactionByHash", Height: Latest, RetryNotFound: true, Cache: TxLookup, Cost: 1},
	{Name: "icx_getDataByHash", Height: Latest, RetryNotFound: true, Cost: 1},
	{Name: "icx_getProofForResult", Height: Latest, RetryNotFound: true, Cost: 1},
	{Name: "icx_getProofForEvents", Height: Latest, RetryNotFound: true, Cost: 1},
	{Name: "icx_getNetworkInfo", Height: Latest, Cache: HeadState, Cost: 1},
	{Name: "icx_waitTransactionResult", Height: Latest, Wait: true, Cost: 5},
	{Name: "icx_sendTransaction", Kind: Write, Height: Latest, Cost: 1},
	{Name: "icx_sendTransactionAndWait", Kind: Write, Height: Latest, Wait: true, Cost: 1},
	{Name: "btp_getNetworkInfo", Height: Latest, Cost: 1},
	{Name: "btp_getNetworkTypeInfo", Height: Latest, Cost: 1},
	{Name: "btp_getMessages", Height: Latest, RetryNotFound: true, Cost: 1},
	{Name: "btp_getHeader", Height: Latest, RetryNotFound: true, Cost: 1},
	{Name: "btp_getProof", Height: Latest, RetryNotFound: true, Cost: 1},
	{Name: "btp_getSourceInformation", Height: Latest, Cost: 1},
	{Name: "debug_getTrace", Height: Latest, RetryNotFound: true, Debug: true, Cost: 10},
	{Name: "debug_estimateStep", Height: Latest, Debug: true, Cost: 10},
	{Name: "debug_getAccount", Height: Pinnable, Debug: true, Cost: 1},
}

var byName = func() map[string]*Method {
	t := make(map[string]*Method, len(methods))
	for i := range methods {
		t[methods[i].Name] = &methods[i]
	}
	return t
}()

// Lookup returns the method called name, or nil when goloop has no such
// method. The returned Method is shared and must not be modified.
func Lookup(name string) *Method { return byName[name] }

// Methods lists every known method, in table order. Shared; do not modify.
func Methods() []Method { return methods }

// DefaultCosts maps every method to its Cost (the rate limiter's defaults).
func DefaultCosts() map[string]int {
	out := make(map[string]int, len(methods))
	for i := range methods {
		out[methods[i].Name] = methods[i].Cost
	}
	return out
}

// DefaultAllowed lists the methods a tier may call when it lists none.
func DefaultAllowed() []string {
	var out []string
	for i := range methods {
		if methods[i].AllowedByDefault() {
			out = append(out, methods[i].Name)
		}
	}
	return out
}
