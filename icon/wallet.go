package icon

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Wallet signs ICON v3 transactions with one secp256k1 key.
type Wallet struct {
	key  *secp256k1.PrivateKey
	addr string
}

// NewWallet builds a wallet from a 32-byte private key in hex (with or without 0x).
func NewWallet(privHex string) (*Wallet, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(privHex, "0x"))
	if err != nil || len(b) != 32 {
		return nil, errors.New("icon: private key must be 32 bytes of hex")
	}
	return walletFromBytes(b)
}

func walletFromBytes(b []byte) (*Wallet, error) {
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(b); overflow || s.IsZero() {
		return nil, errors.New("icon: private key out of range")
	}
	k := secp256k1.NewPrivateKey(&s)
	return &Wallet{key: k, addr: AddressOf(k.PubKey())}, nil
}

// GenerateWallet makes a wallet with a fresh random key.
func GenerateWallet() (*Wallet, error) {
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return nil, err
	}
	return &Wallet{key: k, addr: AddressOf(k.PubKey())}, nil
}

// Address is the wallet's hx address.
func (w *Wallet) Address() string { return w.addr }

// PrivateKeyHex is the private key as 64 hex digits (no 0x).
func (w *Wallet) PrivateKeyHex() string {
	b := w.key.Serialize()
	return hex.EncodeToString(b)
}

// SignHash signs a 32-byte hash deterministically (RFC 6979) and returns the
// ICON signature: base64 of r(32) || s(32) || recovery id(1).
func (w *Wallet) SignHash(hash []byte) string {
	c := ecdsa.SignCompact(w.key, hash, false)
	var sig [65]byte
	copy(sig[:64], c[1:])
	sig[64] = c[0] - 27
	return base64.StdEncoding.EncodeToString(sig[:])
}

// SignParams signs a v3 params object. It sets "from" to the wallet's address
// and "version" to "0x3" when absent, and returns the JSON object including
// the signature, and the transaction hash.
func (w *Wallet) SignParams(params map[string]any) ([]byte, string, error) {
	m := make(map[string]any, len(params)+2)
	for k, v := range params {
		if k == "signature" || k == "txHash" {
			continue
		}
		m[k] = v
	}
	if _, ok := m["from"]; !ok {
		m["from"] = w.addr
	}
	if _, ok := m["version"]; !ok {
		m["version"] = "0x3"
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, "", fmt.Errorf("icon: params: %w", err)
	}
	return w.SignRaw(raw)
}

// SignRaw signs raw JSON params as they are (any signature in them is
// replaced) and returns the params with the signature and the tx hash.
func (w *Wallet) SignRaw(params []byte) ([]byte, string, error) {
	h, err := TxHashBytes(params)
	if err != nil {
		return nil, "", err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(params, &m); err != nil {
		return nil, "", ErrTxMalformed
	}
	sig, _ := json.Marshal(w.SignHash(h[:]))
	m["signature"] = sig
	delete(m, "txHash")
	out, err := json.Marshal(m)
	if err != nil {
		return nil, "", err
	}
	return out, FormatHash(h[:]), nil
}

// TransferParams are the fields of an ICX transfer before signing.
func (w *Wallet) TransferParams(to string, value *big.Int, nid int64, stepLimit int64, ts time.Time) map[string]any {
	return map[string]any{
		"version":   "0x3",
		"from":      w.addr,
		"to":        to,
		"value":     FormatBigHex(value),
		"stepLimit": FormatHexInt(stepLimit),
		"timestamp": FormatHexInt(ts.UnixMicro()),
		"nid":       FormatHexInt(nid),
	}
}

// SignTransfer signs an ICX transfer; ts becomes the µs timestamp.
func (w *Wallet) SignTransfer(to string, value *big.Int, nid int64, stepLimit int64, ts time.Time) (params []byte, txHash string, err error) {
	return w.SignParams(w.TransferParams(to, value, nid, stepLimit, ts))
}

// SignCall signs a SCORE call (dataType "call") of method with string params.
func (w *Wallet) SignCall(to, method string, callParams map[string]string, nid int64, stepLimit int64, ts time.Time) ([]byte, string, error) {
	p := w.TransferParams(to, new(big.Int), nid, stepLimit, ts)
	delete(p, "value")
	data := map[string]any{"method": method}
	if callParams != nil {
		data["params"] = callParams
	}
	p["dataType"] = "call"
	p["data"] = data
	return w.SignParams(p)
}

// FormatBigHex formats a big integer as goloop hex ("0x0", "-0x1f"); nil is "0x0".
func FormatBigHex(v *big.Int) string {
	if v == nil || v.Sign() == 0 {
		return "0x0"
	}
	if v.Sign() < 0 {
		return "-0x" + new(big.Int).Neg(v).Text(16)
	}
	return "0x" + v.Text(16)
}

// ParseBigHex parses a goloop hex integer strictly (lowercase, no leading zeros).
func ParseBigHex(s string) (*big.Int, bool) {
	neg := strings.HasPrefix(s, "-")
	d := strings.TrimPrefix(s, "-")
	if len(d) < 3 || d[:2] != "0x" || (len(d) > 3 && d[2] == '0') || len(d) > 2+128 || !isLowerHex(d[2:]) {
		return nil, false
	}
	v, ok := new(big.Int).SetString(d[2:], 16)
	if !ok {
		return nil, false
	}
	if neg {
		v.Neg(v)
	}
	return v, true
}
