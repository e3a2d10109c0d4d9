package icon

import (
	"crypto/sha3"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/valyala/fastjson"
)

// Transaction errors. Callers map them to goloop's answers: ErrTxNoSignature is
// -32602 "fail to validate, required('signature')", ErrTxBadSignature is
// -31000 "E2005:Failed to verify transaction".
var (
	ErrTxMalformed    = errors.New("icon: transaction params are not a JSON object of ICON v3 values")
	ErrTxNoSignature  = errors.New("icon: transaction has no signature")
	ErrTxBadSignature = errors.New("icon: transaction signature does not verify")
	ErrTxNoFrom       = errors.New("icon: transaction has no valid from address")
)

// txHashPrefix is the method name goloop puts in front of the serialized params.
const txHashPrefix = "icx_sendTransaction"

// maxTxDepth bounds nesting so hostile params cannot exhaust the stack.
const maxTxDepth = 64

var (
	txParsers fastjson.ParserPool
	txBufs    = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
)

// SerializeTx returns goloop's v3 hash pre-image of raw JSON params:
// "icx_sendTransaction." followed by the params with keys sorted, nested
// objects as {k.v}, arrays as [a.b], null as \0 and the characters \ { } [ .
// escaped with a backslash. signature and txHash are left out.
func SerializeTx(params []byte) ([]byte, error) {
	p := txParsers.Get()
	defer txParsers.Put(p)
	v, err := p.ParseBytes(params)
	if err != nil {
		return nil, ErrTxMalformed
	}
	return appendTxSerialized(nil, v)
}

func appendTxSerialized(dst []byte, v *fastjson.Value) ([]byte, error) {
	o, err := v.Object()
	if err != nil {
		return nil, ErrTxMalformed
	}
	dst = append(dst, txHashPrefix...)
	dst, err = appendObjectBody(dst, o, true, 0)
	if err != nil {
		return nil, err
	}
	return dst, nil
}

type kv struct {
	k string
	v *fastjson.Value
}

// appendObjectBody writes "k.v.k.v" for the object; at top level each pair is
// preceded by the '.' that follows the method prefix.
func appendObjectBody(dst []byte, o *fastjson.Object, top bool, depth int) ([]byte, error) {
	var stack [16]kv
	pairs := stack[:0]
	o.Visit(func(k []byte, v *fastjson.Value) {
		ks := unsafeString(k)
		if top && (ks == "signature" || ks == "txHash") {
			return
		}
		pairs = append(pairs, kv{ks, v})
	})
	slices.SortFunc(pairs, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	var err error
	for i, p := range pairs {
		if top || i > 0 {
			dst = append(dst, '.')
		}
		dst = appendEscaped(dst, p.k)
		dst = append(dst, '.')
		if dst, err = appendValue(dst, p.v, depth+1); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

func appendValue(dst []byte, v *fastjson.Value, depth int) ([]byte, error) {
	if depth > maxTxDepth {
		return nil, ErrTxMalformed
	}
	switch v.Type() {
	case fastjson.TypeString:
		return appendEscaped(dst, unsafeString(v.GetStringBytes())), nil
	case fastjson.TypeNull:
		return append(dst, '\\', '0'), nil
	case fastjson.TypeObject:
		o, _ := v.Object()
		dst = append(dst, '{')
		dst, err := appendObjectBody(dst, o, false, depth)
		if err != nil {
			return nil, err
		}
		return append(dst, '}'), nil
	case fastjson.TypeArray:
		a, _ := v.Array()
		dst = append(dst, '[')
		var err error
		for i, e := range a {
			if i > 0 {
				dst = append(dst, '.')
			}
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	default:
		// ICON v3 values are strings; goloop refuses numbers and booleans.
		return nil, ErrTxMalformed
	}
}

func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '.', '{', '}', '[', ']':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// unsafeString avoids a copy for bytes that outlive only the serialization
// call (they belong to the pooled parser).
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// TxHashBytes returns the SHA3-256 of the serialized params.
func TxHashBytes(params []byte) ([32]byte, error) {
	p := txParsers.Get()
	defer txParsers.Put(p)
	v, err := p.ParseBytes(params)
	if err != nil {
		return [32]byte{}, ErrTxMalformed
	}
	return hashValue(v)
}

func hashValue(v *fastjson.Value) ([32]byte, error) {
	bp := txBufs.Get().(*[]byte)
	defer txBufs.Put(bp)
	buf, err := appendTxSerialized((*bp)[:0], v)
	if err != nil {
		return [32]byte{}, err
	}
	if cap(buf) <= 64<<10 { // keep the pool from pinning huge buffers
		*bp = buf
	}
	return sha3.Sum256(buf), nil
}

// TxHash returns the transaction hash of raw JSON params as goloop writes it ("0x" + 64 hex).
func TxHash(params []byte) (string, error) {
	h, err := TxHashBytes(params)
	if err != nil {
		return "", err
	}
	return FormatHash(h[:]), nil
}

// FormatHash formats a 32-byte hash as "0x" + lowercase hex.
func FormatHash(h []byte) string {
	b := make([]byte, 2+hex.EncodedLen(len(h)))
	b[0], b[1] = '0', 'x'
	hex.Encode(b[2:], h)
	return string(b)
}

// VerifyTx checks the signature of raw JSON params against their from
// address. It returns from and the tx hash, also when the signature fails
// (from is then the claimed one), so callers can report the hash.
func VerifyTx(params []byte) (from string, txHash string, err error) {
	p := txParsers.Get()
	defer txParsers.Put(p)
	v, perr := p.ParseBytes(params)
	if perr != nil || v.Type() != fastjson.TypeObject {
		return "", "", ErrTxMalformed
	}
	h, err := hashValue(v)
	if err != nil {
		return "", "", err
	}
	txHash = FormatHash(h[:])
	fv := v.Get("from")
	if fv == nil || fv.Type() != fastjson.TypeString || !IsEOA(string(fv.GetStringBytes())) {
		return "", txHash, ErrTxNoFrom
	}
	from = string(fv.GetStringBytes())
	sv := v.Get("signature")
	if sv == nil || sv.Type() != fastjson.TypeString {
		return from, txHash, ErrTxNoSignature
	}
	signer, err := RecoverAddress(h[:], string(sv.GetStringBytes()))
	if err != nil || signer != from {
		return from, txHash, ErrTxBadSignature
	}
	return from, txHash, nil
}

// RecoverAddress returns the hx address that made an ICON signature
// (base64 of r||s||recovery id) over hash.
func RecoverAddress(hash []byte, sigB64 string) (string, error) {
	var raw [66]byte // DecodedLen of a padded 65-byte signature
	if base64.StdEncoding.DecodedLen(len(sigB64)) > len(raw) {
		return "", ErrTxBadSignature
	}
	n, err := base64.StdEncoding.Decode(raw[:], []byte(sigB64))
	if err != nil || n != 65 || raw[64] > 3 {
		return "", ErrTxBadSignature
	}
	// decred's compact form is: 27+recid (+4 when compressed) || r || s.
	var compact [65]byte
	compact[0] = 27 + raw[64]
	copy(compact[1:], raw[:64])
	pub, _, err := ecdsa.RecoverCompact(compact[:], hash)
	if err != nil {
		return "", ErrTxBadSignature
	}
	return AddressOf(pub), nil
}

// AddressOf returns the ICON EOA address of a public key: "hx" + the last 20
// bytes of SHA3-256 over the 64-byte uncompressed key without its 0x04 prefix.
func AddressOf(pub *secp256k1.PublicKey) string {
	u := pub.SerializeUncompressed()
	h := sha3.Sum256(u[1:])
	b := make([]byte, 42)
	b[0], b[1] = 'h', 'x'
	hex.Encode(b[2:], h[12:])
	return string(b)
}
