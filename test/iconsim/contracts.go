package iconsim

import (
	"crypto/sha3"
	"encoding/json"
	"math/big"
	"strconv"

	"github.com/icon-edge/icon-edge/icon"
)

// goloop SCORE status codes (receipt failure codes and -30000-code errors).
const (
	scoreContractNotFound = 2
	scoreMethodNotFound   = 3
	scoreInvalidParameter = 6
	scoreOutOfBalance     = 11
	scoreUserReverted     = 32
)

var stepCosts = map[string]string{
	"apiCall": "0x2710", "contractCall": "0x61a8", "contractCreate": "0x3b9aca00",
	"contractDestruct": "-0x11170", "contractSet": "0x7530", "contractUpdate": "0x5f5e1000",
	"default": "0x186a0", "delete": "-0xf0", "eventLog": "0x64", "get": "0x0", "input": "0xc8",
	"replace": "0x50", "set": "0x140",
}

const transferSig = "Transfer(Address,Address,int)"

func scoreErr(code int, name string) *icon.Error {
	return icon.NewError(icon.CodeSCOREBase-code, "SCOREError("+itoa(icon.CodeSCOREBase-code)+"): E"+pad4(code)+":"+name)
}

func itoa(n int) string { return strconv.Itoa(n) }

func pad4(n int) string {
	s := itoa(n)
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

type execOutcome int

const (
	execOK execOutcome = iota
	execDrop
	execWait
)

type callData struct {
	Method string            `json:"method"`
	Params map[string]string `json:"params"`
}

// stepsFor prices a tx the way goloop's fee schedule does for what the sim
// supports: the default cost, plus input bytes of data, plus a contract call.
func stepsFor(tx *Tx) int64 {
	s := int64(stepDefault)
	if len(tx.Data) > 0 {
		s += int64(stepInput * len(tx.Data))
	}
	if tx.DataType == "call" {
		s += stepContract
	}
	return s
}

// execute applies tx at height h (caller holds c.mu for writing).
func (c *Chain) execute(tx *Tx, h int64, cumul int64) (*Receipt, execOutcome) {
	steps := stepsFor(tx)
	if tx.DataType == "call" {
		steps += stepEventLog
	}
	if tx.StepLimit.Cmp(big.NewInt(steps)) < 0 {
		return nil, execDrop // goloop drops it: the result is never found
	}
	fee := new(big.Int).Mul(big.NewInt(steps), stepPrice)
	maxFee := new(big.Int).Mul(tx.StepLimit, stepPrice)
	bal := balanceAt(c.icx[tx.From], h)
	if need := new(big.Int).Add(tx.Value, maxFee); bal.Cmp(need) < 0 {
		return nil, execWait // stays pending, as an over-balance tx does on goloop
	}
	r := &Receipt{Status: 1, StepUsed: steps, Cumul: cumul + steps}
	c.moveICX(tx.From, TreasuryAddress, fee, h)
	switch {
	case len(tx.To) > 1 && tx.To[:2] == "hx":
		c.moveICX(tx.From, tx.To, tx.Value, h)
	case tx.To == TokenAddress:
		c.moveICX(tx.From, tx.To, tx.Value, h)
		if tx.DataType == "call" {
			c.tokenInvoke(tx, h, r)
		}
	default:
		r.fail(scoreContractNotFound, "ContractNotFound")
	}
	if r.Status == 0 {
		r.EventLogs = nil
	}
	for _, ev := range r.EventLogs {
		addBloom(&r.Bloom, ev)
	}
	return r, execOK
}

func (r *Receipt) fail(code int, msg string) {
	r.Status = 0
	r.Failure = msg
	r.EventLogs = nil
	r.failCode = code
}

func (c *Chain) moveICX(from, to string, v *big.Int, h int64) {
	if v.Sign() == 0 {
		return
	}
	setBal(c.icx, from, h, new(big.Int).Sub(balanceAt(c.icx[from], h), v))
	setBal(c.icx, to, h, new(big.Int).Add(balanceAt(c.icx[to], h), v))
}

func (c *Chain) tokenInvoke(tx *Tx, h int64, r *Receipt) {
	var d callData
	if json.Unmarshal(tx.Data, &d) != nil {
		r.fail(scoreInvalidParameter, "InvalidParameter")
		return
	}
	if d.Method != "transfer" {
		r.fail(scoreMethodNotFound, "MethodNotFound")
		return
	}
	to := d.Params["_to"]
	v, ok := icon.ParseBigHex(d.Params["_value"])
	if !icon.IsAddress(to) || !ok || v.Sign() < 0 {
		r.fail(scoreInvalidParameter, "InvalidParameter")
		return
	}
	fromBal := balanceAt(c.token[tx.From], h)
	if fromBal.Cmp(v) < 0 {
		r.fail(scoreUserReverted, "Reverted(0): insufficient balance")
		return
	}
	setBal(c.token, tx.From, h, new(big.Int).Sub(fromBal, v))
	setBal(c.token, to, h, new(big.Int).Add(balanceAt(c.token[to], h), v))
	r.EventLogs = append(r.EventLogs, EventLog{
		Score:   TokenAddress,
		Indexed: []string{transferSig, tx.From, to},
		Data:    []string{icon.FormatBigHex(v)},
	})
}

// addBloom sets three bits per indexed item, as goloop's logs bloom does,
// so a bloom is non-zero exactly when there are events.
func addBloom(b *[256]byte, ev EventLog) {
	items := append([]string{ev.Score}, ev.Indexed...)
	for _, it := range items {
		h := sha3.Sum256([]byte(it))
		for i := 0; i < 6; i += 2 {
			bit := (uint(h[i])<<8 | uint(h[i+1])) & 2047
			b[255-bit/8] |= 1 << (bit % 8)
		}
	}
}

// call answers icx_call on the chain as of height h.
func (c *Chain) call(to string, d callData, h int64) (any, *icon.Error) {
	switch to {
	case ChainScoreAddress:
		return chainScoreCall(d)
	case TokenAddress:
		return c.tokenCall(d, h)
	}
	return nil, scoreErr(scoreContractNotFound, "ContractNotFound")
}

func chainScoreCall(d callData) (any, *icon.Error) {
	switch d.Method {
	case "getStepPrice":
		return icon.FormatBigHex(stepPrice), nil
	case "getStepCosts":
		return stepCosts, nil
	case "getStepCost":
		if v, ok := stepCosts[d.Params["type"]]; ok {
			return v, nil
		}
		return "0x0", nil
	case "getMaxStepLimit":
		switch d.Params["contextType"] {
		case "invoke":
			return icon.FormatHexInt(maxStepInvoke), nil
		case "query":
			return "0x2faf080", nil
		}
		return "0x0", nil
	case "getRevision":
		return "0x8", nil
	case "getValidators":
		return []string{DevAddress}, nil
	}
	return nil, scoreErr(scoreMethodNotFound, "MethodNotFound")
}

func (c *Chain) tokenCall(d callData, h int64) (any, *icon.Error) {
	switch d.Method {
	case "name":
		return "Sim Token", nil
	case "symbol":
		return "SIM", nil
	case "decimals":
		return "0x12", nil
	case "totalSupply":
		return icon.FormatBigHex(tokenSupply), nil
	case "balanceOf":
		owner := d.Params["_owner"]
		if !icon.IsAddress(owner) {
			return nil, scoreErr(scoreInvalidParameter, "InvalidParameter")
		}
		return icon.FormatBigHex(c.tokenBalance(owner, h)), nil
	}
	return nil, scoreErr(scoreMethodNotFound, "MethodNotFound")
}

type apiEntry struct {
	Inputs   []apiParam `json:"inputs"`
	Name     string     `json:"name"`
	Outputs  []apiParam `json:"outputs"`
	Readonly string     `json:"readonly,omitempty"`
	Type     string     `json:"type"`
}

type apiParam struct {
	Indexed string `json:"indexed,omitempty"`
	Name    string `json:"name,omitempty"`
	Type    string `json:"type"`
}

func ro(name string, out string, in ...apiParam) apiEntry {
	return apiEntry{Inputs: append([]apiParam{}, in...), Name: name, Outputs: []apiParam{{Type: out}}, Readonly: "0x1", Type: "function"}
}

var scoreAPIs = map[string][]byte{
	ChainScoreAddress: mustJSON([]apiEntry{
		{Inputs: []apiParam{{Name: "price", Type: "int"}}, Name: "setStepPrice", Outputs: []apiParam{}, Type: "function"},
		ro("getRevision", "int"),
		ro("getStepPrice", "int"),
		ro("getStepCost", "int", apiParam{Name: "type", Type: "str"}),
		ro("getStepCosts", "dict"),
		ro("getMaxStepLimit", "int", apiParam{Name: "contextType", Type: "str"}),
		ro("getValidators", "list"),
	}),
	TokenAddress: mustJSON([]apiEntry{
		ro("name", "str"), ro("symbol", "str"), ro("decimals", "int"), ro("totalSupply", "int"),
		ro("balanceOf", "int", apiParam{Name: "_owner", Type: "Address"}),
		{Inputs: []apiParam{{Name: "_to", Type: "Address"}, {Name: "_value", Type: "int"}}, Name: "transfer", Outputs: []apiParam{}, Type: "function"},
		{Inputs: []apiParam{{Indexed: "0x1", Name: "_from", Type: "Address"}, {Indexed: "0x1", Name: "_to", Type: "Address"}, {Name: "_value", Type: "int"}}, Name: "Transfer", Outputs: []apiParam{}, Type: "eventlog"},
	}),
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // static data only
	}
	return b
}

func sha3hex(s string) string {
	h := sha3.Sum256([]byte(s))
	return icon.FormatHash(h[:])
}
