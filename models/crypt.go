package models

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Cipher encrypts secrets at rest (access and refresh tokens, later helpdesk
// credentials) with AES-256-GCM. The nonce is prepended to the ciphertext.
type Cipher struct {
	aead cipher.AEAD
}

// NewCipher returns a Cipher for a 32-byte key.
func NewCipher(key []byte) (*Cipher, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("encryption key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("new cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("new gcm: %w", err)
	}
	return &Cipher{aead: aead}, nil
}

// Seal encrypts plain; an empty string stays empty (no token).
func (c *Cipher) Seal(plain string, aad []byte) ([]byte, error) {
	if plain == "" {
		return nil, nil
	}
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return c.aead.Seal(nonce, nonce, []byte(plain), aad), nil
}

// Open decrypts what Seal produced with the same aad.
func (c *Cipher) Open(sealed []byte, aad []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	n := c.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("decrypt: ciphertext too short")
	}
	plain, err := c.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return "", fmt.Errorf("decrypt: %w", err)
	}
	return string(plain), nil
}
