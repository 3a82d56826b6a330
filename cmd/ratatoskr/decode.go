package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

const decodeHelp = `
usage: ratatoskr decode [-in FILE|-] [-format auto|binary|hex|base64] [-pub FILE] [--json]

Decode reads one frame, a RatatoskrRequest or, when it does not decode as
one, a RatatoskrResponse, and prints it decoded (protobuf JSON). The frame
is binary, hex or base64 (standard or URL alphabet, padded or not); auto
takes text that decodes as hex or base64 as such, and anything else as
binary.

With -pub (the device's PEM public key, or its private key file), it also
checks a request's signature under both schemes and says which one signed it
(v1 or v2); it exits 1 when neither verifies.

Examples:

	ratatoskr decode -in frame.bin
	echo CAESJDk3... | ratatoskr decode -format base64 -pub device.pub
	xxd -p frame.bin | ratatoskr decode --json
`

// decodeResult is decode's --json output.
type decodeResult struct {
	Type      string          `json:"type"` // "request" or "response"
	Message   json.RawMessage `json:"message"`
	Signature *sigResult      `json:"signature,omitempty"`
}

type sigResult struct {
	Valid  bool   `json:"valid"`
	Scheme string `json:"scheme,omitempty"` // "v1" or "v2" when valid
	// Announced is the scheme a CONNECTION_REQUEST says it is signed with.
	Announced string `json:"announced,omitempty"`
}

func runDecode(e *env, args []string) error {
	fs := newFlagSet(e, "decode", decodeHelp)
	in := fs.String("in", "-", "read the frame from `FILE`, or - for stdin")
	format := fs.String("format", "auto", "the frame's encoding: auto, binary, hex or base64")
	pubFile := fs.String("pub", "", "PEM `FILE` with the device's Ed25519 public key: check the signature")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected arguments %q", pos)
	}
	var raw []byte
	if *in == "-" {
		raw, err = io.ReadAll(e.stdin)
	} else {
		raw, err = os.ReadFile(*in)
	}
	if err != nil {
		return err
	}
	frame, err := decodeFrame(raw, *format)
	if err != nil {
		return err
	}
	msg, isReq, err := parseFrame(frame)
	if err != nil {
		return err
	}
	r := decodeResult{Type: "response"}
	if isReq {
		r.Type = "request"
	}
	if r.Message, err = protojson.Marshal(msg); err != nil {
		return err
	}
	var verifyErr error
	if *pubFile != "" {
		req, ok := msg.(*pb.RatatoskrRequest)
		if !ok {
			return usageErrorf("-pub checks a request's signature; this frame is a RatatoskrResponse")
		}
		r.Signature, verifyErr = verify(*pubFile, req)
		if r.Signature == nil {
			return verifyErr
		}
	}
	if *asJSON {
		if err := writeJSON(e, r); err != nil {
			return err
		}
	} else {
		name := "RatatoskrResponse"
		if isReq {
			name = "RatatoskrRequest"
		}
		b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(msg)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s %s\n", name, b)
		if s := r.Signature; s != nil {
			switch {
			case s.Valid:
				fmt.Fprintf(e.stdout, "signature: valid, scheme %s\n", s.Scheme)
			default:
				fmt.Fprintln(e.stdout, "signature: INVALID under v1 and v2")
			}
			if s.Announced != "" {
				fmt.Fprintf(e.stdout, "announced scheme: %s\n", s.Announced)
			}
		}
	}
	if verifyErr != nil {
		return withCode(exitRefused, verifyErr)
	}
	return nil
}

// verify checks req's signature under both schemes. A nil result comes with
// an error about the key.
func verify(pubFile string, req *pb.RatatoskrRequest) (*sigResult, error) {
	pub, err := readDevicePublicKey(pubFile)
	if err != nil {
		return nil, err
	}
	k, err := envelope.NewDeviceKey(pub)
	if err != nil {
		return nil, usageErrorf("%s: %w", pubFile, err)
	}
	r := &sigResult{}
	if req.GetMessageType() == pb.MessageType_CONNECTION_REQUEST {
		if s, err := envelope.SchemeOf(req); err == nil {
			r.Announced = s.String()
		}
	}
	for _, s := range []envelope.Scheme{envelope.SchemeV2, envelope.SchemeV1} {
		if k.VerifyScheme(req, s) == nil {
			r.Valid, r.Scheme = true, s.String()
			return r, nil
		}
	}
	return r, errors.New("the signature does not verify under v1 or v2 with " + pubFile)
}

// decodeFrame turns the input into the frame's bytes.
func decodeFrame(raw []byte, format string) ([]byte, error) {
	text := strings.Join(strings.Fields(string(raw)), "")
	switch format {
	case "binary":
		return raw, nil
	case "hex":
		b, err := hex.DecodeString(text)
		if err != nil {
			return nil, usageErrorf("input is not hex: %w", err)
		}
		return b, nil
	case "base64":
		if b, ok := decodeBase64(text); ok {
			return b, nil
		}
		return nil, usageErrorf("input is not base64")
	case "auto":
		if len(text) > 0 && bytes.IndexFunc(raw, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\r' && r != '\t' }) < 0 {
			if b, err := hex.DecodeString(text); err == nil {
				return b, nil
			}
			if b, ok := decodeBase64(text); ok {
				return b, nil
			}
		}
		return raw, nil
	}
	return nil, usageErrorf("-format %q: want auto, binary, hex or base64", format)
}

func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// parseFrame decodes frame as a request, else as a response. Protobuf
// decodes almost anything, so a message counts only when no field is
// unknown or of the wrong wire type, and its identifying fields are set.
func parseFrame(frame []byte) (proto.Message, bool, error) {
	if len(frame) == 0 {
		return nil, false, usageErrorf("empty input: no frame to decode")
	}
	req := new(pb.RatatoskrRequest)
	if err := proto.Unmarshal(frame, req); err == nil && len(req.ProtoReflect().GetUnknown()) == 0 &&
		req.GetRequestId() != "" && (req.GetDeviceId() != "" || req.GetUserId() != "") {
		return req, true, nil
	}
	resp := new(pb.RatatoskrResponse)
	if err := proto.Unmarshal(frame, resp); err == nil && len(resp.ProtoReflect().GetUnknown()) == 0 &&
		(resp.GetRequestId() != "" || resp.GetTimestamp() != 0) {
		return resp, false, nil
	}
	return nil, false, usageErrorf("input (%d bytes) is neither a RatatoskrRequest nor a RatatoskrResponse", len(frame))
}
