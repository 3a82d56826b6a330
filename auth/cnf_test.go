package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"testing"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestConfirmationRoundTrip(t *testing.T) {
	t.Parallel()
	pub := devicePub()
	// Through JSON, as in a token.
	b, err := json.Marshal(ConfirmationClaim(pub))
	if err != nil {
		t.Fatal(err)
	}
	var cnf any
	if err := json.Unmarshal(b, &cnf); err != nil {
		t.Fatal(err)
	}
	got, err := ParseConfirmationKey(cnf)
	if err != nil {
		t.Fatalf("ParseConfirmationKey(%s): %v", b, err)
	}
	if !got.Equal(pub) {
		t.Errorf("got %x, want %x", got, pub)
	}
	want := `{"jwk":{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}}`
	if string(b) != want {
		t.Errorf("cnf = %s, want %s", b, want)
	}
}

func TestConfirmationWrongLength(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 31, 33, 64} {
		if ConfirmationJWK(make(ed25519.PublicKey, n)) != nil || ConfirmationClaim(make(ed25519.PublicKey, n)) != nil {
			t.Errorf("%d-byte key: want nil", n)
		}
	}
}

func TestParseConfirmationKeyAccepts(t *testing.T) {
	t.Parallel()
	x := b64(devicePub())
	for _, doc := range []string{
		`{"jwk":{"kty":"OKP","crv":"Ed25519","x":"` + x + `"}}`,
		`{"jwk":{"kty":"OKP","crv":"Ed25519","x":"` + x + `","alg":"EdDSA","use":"sig","kid":"k1"}}`,
		`{"jwk":{"kty":"OKP","crv":"Ed25519","x":"` + x + `","alg":"Ed25519"}}`,
	} {
		var cnf any
		if err := json.Unmarshal([]byte(doc), &cnf); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseConfirmationKey(cnf); err != nil {
			t.Errorf("ParseConfirmationKey(%s): %v", doc, err)
		}
	}
}
