package icon

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/scrypt"
	xsha3 "golang.org/x/crypto/sha3"
)

// ErrKeystorePassword is returned when the keystore MAC does not match.
var ErrKeystorePassword = errors.New("icon: keystore: wrong password")

type keystoreFile struct {
	Address string `json:"address"`
	Version int    `json:"version"`
	Crypto  struct {
		Cipher       string `json:"cipher"`
		CipherParams struct {
			IV string `json:"iv"`
		} `json:"cipherparams"`
		CipherText string `json:"ciphertext"`
		KDF        string `json:"kdf"`
		KDFParams  struct {
			DKLen int    `json:"dklen"`
			N     int    `json:"n"`
			R     int    `json:"r"`
			P     int    `json:"p"`
			Salt  string `json:"salt"`
		} `json:"kdfparams"`
		MAC string `json:"mac"`
	} `json:"crypto"`
}

// Bounds on scrypt cost so a hostile keystore cannot take the process's memory
// (N*r*128 bytes): goloop writes n=65536, r=8 (64 MiB).
const (
	maxScryptN = 1 << 20
	maxScryptR = 16
	maxScryptP = 16
)

// LoadKeystore decrypts an ICON keystore (version 3: scrypt + aes-128-ctr,
// Keccak-256 MAC as in the Ethereum v3 format ICON reuses) and checks that
// the key matches the recorded address.
func LoadKeystore(data []byte, password string) (*Wallet, error) {
	var ks keystoreFile
	if err := json.Unmarshal(data, &ks); err != nil {
		return nil, fmt.Errorf("icon: keystore: %w", err)
	}
	c := ks.Crypto
	if ks.Version != 3 || c.KDF != "scrypt" || c.Cipher != "aes-128-ctr" {
		return nil, fmt.Errorf("icon: keystore: unsupported version %d kdf %q cipher %q", ks.Version, c.KDF, c.Cipher)
	}
	kp := c.KDFParams
	if kp.DKLen < 32 || kp.DKLen > 64 || kp.N < 2 || kp.N > maxScryptN || kp.R < 1 || kp.R > maxScryptR || kp.P < 1 || kp.P > maxScryptP {
		return nil, errors.New("icon: keystore: scrypt parameters out of range")
	}
	salt, err1 := hex.DecodeString(kp.Salt)
	iv, err2 := hex.DecodeString(c.CipherParams.IV)
	ct, err3 := hex.DecodeString(c.CipherText)
	mac, err4 := hex.DecodeString(c.MAC)
	if err := errors.Join(err1, err2, err3, err4); err != nil || len(iv) != aes.BlockSize {
		return nil, errors.New("icon: keystore: bad hex field")
	}
	dk, err := scrypt.Key([]byte(password), salt, kp.N, kp.R, kp.P, kp.DKLen)
	if err != nil {
		return nil, fmt.Errorf("icon: keystore: %w", err)
	}
	h := xsha3.NewLegacyKeccak256()
	h.Write(dk[16:32])
	h.Write(ct)
	if subtle.ConstantTimeCompare(h.Sum(nil), mac) != 1 {
		return nil, ErrKeystorePassword
	}
	block, err := aes.NewCipher(dk[:16])
	if err != nil {
		return nil, err
	}
	key := make([]byte, len(ct))
	cipher.NewCTR(block, iv).XORKeyStream(key, ct)
	if len(key) != 32 {
		return nil, errors.New("icon: keystore: key is not 32 bytes")
	}
	w, err := walletFromBytes(key)
	if err != nil {
		return nil, err
	}
	if ks.Address != "" && ks.Address != w.Address() {
		return nil, fmt.Errorf("icon: keystore: key belongs to %s, file says %s", w.Address(), ks.Address)
	}
	return w, nil
}
