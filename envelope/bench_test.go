package envelope_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

func benchRequest(b *testing.B) (*fixture, *pb.RatatoskrRequest) {
	f := newFixture(b, nil)
	req := f.business(b, make([]byte, 1024))
	return f, req
}

// BenchmarkEd25519Verify is the baseline: a bare signature check of a
// 32-byte digest, which Validate cannot avoid.
func BenchmarkEd25519Verify(b *testing.B) {
	f, req := benchRequest(b)
	d := envelope.Digest(req)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(f.pub, d[:], req.Signature) {
			b.Fatal("verify")
		}
	}
}

func BenchmarkSign(b *testing.B) {
	f, req := benchRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		envelope.Sign(req, f.signer.Key)
	}
}

func BenchmarkVerify(b *testing.B) {
	f, req := benchRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := envelope.Verify(req, f.pub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate is the server's whole per-request work for a 1 KiB
// business request: decode, schema, timestamp, identity, signature (with a
// DeviceKey checked once up front) and the replay record in the memory
// store. Frames are signed once, outside the timer; each pass over them
// gets a fresh validator, so no frame is a replay and the store holds at
// most one pass of records.
func BenchmarkValidate(b *testing.B) {
	for _, s := range []envelope.Scheme{envelope.SchemeV1, envelope.SchemeV2} {
		b.Run(s.String(), func(b *testing.B) { benchmarkValidate(b, s) })
	}
}

func benchmarkValidate(b *testing.B, s envelope.Scheme) {
	f := newFixture(b, nil)
	f.signer.Scheme = s
	const n = 4096
	frames := make([][]byte, n)
	for i := range frames {
		req := f.business(b, make([]byte, 1024))
		frames[i], _ = proto.Marshal(req)
	}
	ctx := context.Background()
	want := f.expect()
	want.Scheme = s
	v := envelope.NewValidator(&envelope.ValidatorOptions{Now: f.v.Options().Now})
	b.ReportAllocs()
	b.SetBytes(int64(len(frames[0])))
	i := 0
	for b.Loop() {
		if i == n {
			b.StopTimer()
			v = envelope.NewValidator(&envelope.ValidatorOptions{Now: f.v.Options().Now})
			i = 0
			b.StartTimer()
		}
		req, err := v.Decode(frames[i])
		if err != nil {
			b.Fatal(err)
		}
		if err := v.Validate(ctx, req, want); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDigest compares the signing digests of a 1 KiB business request
// (metadata: the service): v2 hashes the payload, then a length-prefixed
// encoding of every field: about two SHA-256 blocks more than v1's 18.
func BenchmarkDigest(b *testing.B) {
	_, req := benchRequest(b)
	for _, s := range []envelope.Scheme{envelope.SchemeV1, envelope.SchemeV2} {
		b.Run(s.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Digest(req)
			}
		})
	}
}

// BenchmarkSignResponse is what a server with a response key adds per
// response: the response digest and one Ed25519 signature (compare with
// BenchmarkEd25519Verify).
func BenchmarkSignResponse(b *testing.B) {
	_, req := benchRequest(b)
	d := envelope.DigestV2(req)
	_, key, _ := ed25519.GenerateKey(nil)
	resp := envelope.Success(pb.MessageType_BUSINESS_REQUEST, req.GetRequestId(), make([]byte, 1024), map[string]string{"k": "v"}, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		envelope.SignResponse(key, "session-id", &d, resp)
	}
}
