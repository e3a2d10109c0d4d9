package proxy

// routeKind says what a method needs from the node that serves it.
type routeKind uint8

const (
	// routeLatest: reads the newest state; only in-sync nodes qualify.
	routeLatest routeKind = iota
	// routeHeightParam: latest unless params.height pins it to a block.
	routeHeightParam
	// routeHeightRequired: always pinned by params.height.
	routeHeightRequired
	// routeWrite: changes state; sent once, never retried after it may have arrived.
	routeWrite
)

type methodInfo struct {
	name string
	kind routeKind
	// retryNotFound: a -31004 may only mean this node lacks the block or tx
	// yet, so another node is worth asking.
	retryNotFound bool
	// wait: the node holds the call open up to the Icon-Options timeout.
	wait  bool
	debug bool // served on /api/v3d only
	// metrics, filled in by newMetrics.
	m *methodMetrics
}

// methodTable lists the JSON-RPC v3 methods goloop serves. Anything else is
// answered -32601 at the edge, as a node would, without costing a node a request.
func methodTable() map[string]*methodInfo {
	list := []methodInfo{
		{name: "icx_getLastBlock", kind: routeLatest},
		{name: "icx_getBlockByHeight", kind: routeHeightRequired, retryNotFound: true},
		{name: "icx_getBlockByHash", kind: routeLatest, retryNotFound: true},
		{name: "icx_getBlockHeaderByHeight", kind: routeHeightRequired, retryNotFound: true},
		{name: "icx_getVotesByHeight", kind: routeHeightRequired, retryNotFound: true},
		{name: "icx_getBalance", kind: routeHeightParam},
		{name: "icx_call", kind: routeHeightParam},
		{name: "icx_getScoreApi", kind: routeHeightParam},
		{name: "icx_getScoreStatus", kind: routeHeightParam},
		{name: "icx_getTotalSupply", kind: routeHeightParam},
		{name: "icx_getTransactionResult", kind: routeLatest, retryNotFound: true},
		{name: "icx_getTransactionByHash", kind: routeLatest, retryNotFound: true},
		{name: "icx_getDataByHash", kind: routeLatest, retryNotFound: true},
		{name: "icx_getProofForResult", kind: routeLatest, retryNotFound: true},
		{name: "icx_getProofForEvents", kind: routeLatest, retryNotFound: true},
		{name: "icx_getNetworkInfo", kind: routeLatest},
		{name: "icx_waitTransactionResult", kind: routeLatest, wait: true},
		{name: "icx_sendTransaction", kind: routeWrite},
		{name: "icx_sendTransactionAndWait", kind: routeWrite, wait: true},
		{name: "btp_getNetworkInfo", kind: routeLatest},
		{name: "btp_getNetworkTypeInfo", kind: routeLatest},
		{name: "btp_getMessages", kind: routeLatest, retryNotFound: true},
		{name: "btp_getHeader", kind: routeLatest, retryNotFound: true},
		{name: "btp_getProof", kind: routeLatest, retryNotFound: true},
		{name: "btp_getSourceInformation", kind: routeLatest},
		{name: "debug_getTrace", kind: routeLatest, retryNotFound: true, debug: true},
		{name: "debug_estimateStep", kind: routeLatest, debug: true},
		{name: "debug_getAccount", kind: routeHeightParam, debug: true},
	}
	t := make(map[string]*methodInfo, len(list))
	for i := range list {
		t[list[i].name] = &list[i]
	}
	return t
}
