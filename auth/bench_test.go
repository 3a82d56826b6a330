package auth

import (
	"context"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func benchmarkAuthenticate(b *testing.B, a *JWT, token string) {
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticateHS256(b *testing.B) {
	benchmarkAuthenticate(b, newAuth(b, WithHMACSecret(testSecret)),
		mintT(b, jwt.SigningMethodHS256, testSecret, mintOpts()))
}

func BenchmarkAuthenticateEdDSA(b *testing.B) {
	benchmarkAuthenticate(b, newAuth(b, WithPublicKey(edKey().Public())),
		mintT(b, jwt.SigningMethodEdDSA, edKey(), mintOpts()))
}

func BenchmarkAuthenticateES256(b *testing.B) {
	k := ecKeys()["P-256"]
	benchmarkAuthenticate(b, newAuth(b, WithPublicKey(k.Public())),
		mintT(b, jwt.SigningMethodES256, k, mintOpts()))
}

func BenchmarkAuthenticateRS256(b *testing.B) {
	benchmarkAuthenticate(b, newAuth(b, WithPublicKey(rsaKey().Public())),
		mintT(b, jwt.SigningMethodRS256, rsaKey(), mintOpts()))
}
