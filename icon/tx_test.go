package icon

import (
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sharedIcon(t testing.TB) string {
	t.Helper()
	// The recorded goloop exchanges and keystores ship with the repository.
	dir := filepath.Join("..", "test", "compat", "testdata")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("reference samples not found at %s: %v", dir, err)
	}
	return dir
}

type sample struct {
	Request struct {
		JSON struct {
			Params json.RawMessage `json:"params"`
		} `json:"json"`
	} `json:"request"`
	Response struct {
		JSON struct {
			Result string `json:"result"`
		} `json:"json"`
	} `json:"response"`
}

func loadTransferVector(t testing.TB) (params []byte, txHash string) {
	dir := sharedIcon(t)
	b, err := os.ReadFile(filepath.Join(dir, "samples", "icx_sendTransaction_transfer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s sample
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s.Request.JSON.Params, s.Response.JSON.Result
}

func TestTxHashVector(t *testing.T) {
	params, want := loadTransferVector(t)
	got, err := TxHash(params)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("TxHash = %s, want %s", got, want)
	}
	from, h, err := VerifyTx(params)
	if err != nil {
		t.Fatalf("VerifyTx: %v", err)
	}
	if from != "hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7" || h != want {
		t.Fatalf("VerifyTx = %s %s", from, h)
	}
}

func TestSerializeTx(t *testing.T) {
	params := `{"version":"0x3","from":"hxa","to":"cxb","stepLimit":"0x1","timestamp":"0x2","nid":"0x3","signature":"zz","txHash":"0x9",
	"dataType":"call","data":{"method":"transfer","params":{"_to":"hx.c","_value":"0x1","arr":["a[b]","{c}",null],"n":null,"e":"\\x"}}}`
	got, err := SerializeTx([]byte(params))
	if err != nil {
		t.Fatal(err)
	}
	want := `icx_sendTransaction.data.{method.transfer.params.{_to.hx\.c._value.0x1.arr.[a\[b\].\{c\}.\0].e.\\x.n.\0}}.dataType.call.from.hxa.nid.0x3.stepLimit.0x1.timestamp.0x2.to.cxb.version.0x3`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestVerifyTxRejects(t *testing.T) {
	params, _ := loadTransferVector(t)
	var m map[string]any
	if err := json.Unmarshal(params, &m); err != nil {
		t.Fatal(err)
	}
	m["value"] = "0x2" // changed after signing
	tampered, _ := json.Marshal(m)
	if _, _, err := VerifyTx(tampered); err != ErrTxBadSignature {
		t.Fatalf("tampered: err = %v", err)
	}
	delete(m, "signature")
	unsigned, _ := json.Marshal(m)
	if _, _, err := VerifyTx(unsigned); err != ErrTxNoSignature {
		t.Fatalf("unsigned: err = %v", err)
	}
	for _, bad := range []string{``, `[]`, `{"from":1}`, `{"from":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","signature":"!!"}`,
		`{"from":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","signature":"` + strings.Repeat("A", 400) + `"}`, `{"a":true}`} {
		if _, _, err := VerifyTx([]byte(bad)); err == nil {
			t.Fatalf("VerifyTx(%q) succeeded", bad)
		}
	}
}

func TestKeystoreAndDeterministicSignature(t *testing.T) {
	dir := sharedIcon(t)
	b, err := os.ReadFile(filepath.Join(dir, "keystore.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeystore(b, "wrong"); err != ErrKeystorePassword {
		t.Fatalf("wrong password: %v", err)
	}
	w, err := LoadKeystore(b, "gochain")
	if err != nil {
		t.Fatal(err)
	}
	if w.Address() != "hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7" {
		t.Fatalf("address %s", w.Address())
	}
	params, want := loadTransferVector(t)
	var m map[string]any
	if err := json.Unmarshal(params, &m); err != nil {
		t.Fatal(err)
	}
	recorded := m["signature"]
	signed, h, err := w.SignParams(m)
	if err != nil {
		t.Fatal(err)
	}
	if h != want {
		t.Fatalf("hash %s want %s", h, want)
	}
	var out map[string]any
	if err := json.Unmarshal(signed, &out); err != nil {
		t.Fatal(err)
	}
	// goloop signs with RFC 6979 too, so the signature is reproducible byte for byte.
	if out["signature"] != recorded {
		t.Fatalf("signature %v, recorded %v", out["signature"], recorded)
	}
	// Round trip through the private key hex.
	w2, err := NewWallet(w.PrivateKeyHex())
	if err != nil || w2.Address() != w.Address() {
		t.Fatalf("NewWallet round trip: %v %v", w2, err)
	}
}

func TestSignTransferVerifies(t *testing.T) {
	w, err := GenerateWallet()
	if err != nil {
		t.Fatal(err)
	}
	ts := time.UnixMicro(1_700_000_000_000_000)
	p, h, err := w.SignTransfer("hx6d012de5402f8d43a87a1406e24ef69db9972bb4", big.NewInt(1e18), 3, 100000, ts)
	if err != nil {
		t.Fatal(err)
	}
	from, h2, err := VerifyTx(p)
	if err != nil || from != w.Address() || h2 != h {
		t.Fatalf("verify: %s %s %v", from, h2, err)
	}
	var m map[string]string
	if err := json.Unmarshal(p, &m); err != nil {
		t.Fatal(err)
	}
	if m["value"] != "0xde0b6b3a7640000" || m["timestamp"] != "0x60a24181e4000" || m["nid"] != "0x3" {
		t.Fatalf("fields: %v", m)
	}
	cp, _, err := w.SignCall("cx0000000000000000000000000000000000000abc", "transfer", map[string]string{"_to": w.Address(), "_value": "0x1"}, 3, 1000000, ts)
	if err != nil {
		t.Fatal(err)
	}
	if f, _, err := VerifyTx(cp); err != nil || f != w.Address() {
		t.Fatalf("call verify %v", err)
	}
}

func TestBigHex(t *testing.T) {
	for s, ok := range map[string]bool{"0x0": true, "0x1f": true, "-0x5": true, "0x01": false, "0xA": false, "0x": false, "12": false} {
		if _, got := ParseBigHex(s); got != ok {
			t.Errorf("ParseBigHex(%q) ok=%v", s, got)
		}
	}
	if FormatBigHex(big.NewInt(-31)) != "-0x1f" {
		t.Error("FormatBigHex")
	}
}

func FuzzVerifyTx(f *testing.F) {
	f.Add([]byte(`{"from":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","signature":"Kaoe+2g7ld0Cf+d/EZOTV0y71xb45KP6bV7PdjWXQmtOtXKtbWyCaZxncRaaY8x+pDy7J2coG/bGUXuIuEztSAE="}`))
	f.Add([]byte(`{"data":{"a":[null,{"b":"c"}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = VerifyTx(b)
		_, _ = TxHash(b)
	})
}

func BenchmarkTxHash(b *testing.B) {
	params, _ := loadTransferVector(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := TxHash(params); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyTx(b *testing.B) {
	params, _ := loadTransferVector(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := VerifyTx(params); err != nil {
			b.Fatal(err)
		}
	}
}
