package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

const callHelp = `
usage: ratatoskr call [-url URL] -key FILE [-token-file FILE] [-sub USER] [-device DEVICE]
                      [-d DATA|@FILE|-] [-m KEY=VALUE]... [-H 'Name: value']...
                      [-ca-cert FILE] [-n N] [-timeout D] [-v] [--json] SERVICE [PAYLOAD]

Call connects to a Ratatoskr endpoint (ws:// or wss://), makes the handshake
with the device token, sends one signed BUSINESS_REQUEST for SERVICE (N with
-n, one after the other) and prints the answer: its payload on stdout, or
with --json one JSON object per answer:

	{"success": true, "error_code": "", "error_message": "",
	 "payload": "<UTF-8 text>" | "payload_base64": "<bytes that are not UTF-8>",
	 "metadata": {…}, "request_id": "…"}

The payload is PAYLOAD, or -d: the text itself, @FILE for a file's content,
or - for stdin. The token is read from -token-file or, without it, from the
environment variable RATATOSKR_TOKEN. -sub and -device default to the
token's "sub" and "device_id" claims (read, not verified).

A refusal (the handshake's or the service's) is printed on stderr as its
code and message, and exits 1; with -n, call stops at the first failure. A
server that cannot be reached, or a connection that fails before the answer,
exits 3.

-v prints on stderr the session the server granted and every request and
response frame, decoded. With -v the request is signed by the command and
sent as is (client.Send), without waiting for the session's rate limits.

Examples:

	export RATATOSKR_TOKEN=$(cat tok)
	ratatoskr call -key device.key echo 'hello'
	ratatoskr call -key device.key -token-file tok -d @order.json --json nornen
	echo '{"amount_cents":1250}' | ratatoskr call -key device.key -d - heidrun
	ratatoskr call -url wss://api.example.com/ratatoskr -ca-cert ca.pem \
	    -H 'Origin: https://app.example.com' -key device.key -n 5 -v echo hi
`

// callResult is call's --json output for one answer.
type callResult struct {
	Success       bool              `json:"success"`
	ErrorCode     string            `json:"error_code,omitempty"`
	ErrorMessage  string            `json:"error_message,omitempty"`
	Payload       *string           `json:"payload,omitempty"`
	PayloadBase64 string            `json:"payload_base64,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	RequestID     string            `json:"request_id,omitempty"`
}

type callFlags struct {
	url, keyFile, tokenFile, sub, device, data, caCert string
	headers, metadata                                  stringList
	n                                                  int
	timeout                                            time.Duration
	verbose, json                                      bool
}

func runCall(e *env, args []string) error {
	fs := newFlagSet(e, "call", callHelp)
	var f callFlags
	fs.StringVar(&f.url, "url", "ws://127.0.0.1:8080/ratatoskr", "the endpoint's `URL` (ws:// or wss://)")
	fs.StringVar(&f.keyFile, "key", "", "PKCS#8 PEM `FILE` with the device's Ed25519 private key (required)")
	fs.StringVar(&f.tokenFile, "token-file", "", "`FILE` holding the device token (default: env RATATOSKR_TOKEN)")
	fs.StringVar(&f.sub, "sub", "", "user id (default: the token's \"sub\")")
	fs.StringVar(&f.device, "device", "", "device id (default: the token's \"device_id\")")
	fs.StringVar(&f.data, "d", "", "the payload: `DATA`, @FILE, or - for stdin (instead of the PAYLOAD argument)")
	fs.Var(&f.metadata, "m", "request metadata `KEY=VALUE` (repeatable)")
	fs.Var(&f.headers, "H", "extra handshake HTTP header `'Name: value'` (repeatable)")
	fs.StringVar(&f.caCert, "ca-cert", "", "PEM `FILE` of CA certificates to trust for wss:// (default: the system's)")
	fs.IntVar(&f.n, "n", 1, "send the request `N` times, one after the other")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "bound on the connection, and on each call")
	fs.BoolVar(&f.verbose, "v", false, "print the session and every frame, decoded, on stderr")
	fs.BoolVar(&f.json, "json", false, "print each answer as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usageErrorf("missing SERVICE (see ratatoskr call -h)")
	case len(pos) > 2:
		return usageErrorf("unexpected arguments %q", pos[2:])
	case len(pos) == 2 && f.data != "":
		return usageErrorf("give the payload as an argument or with -d, not both")
	case f.keyFile == "":
		return usageErrorf("-key is required")
	case f.n < 1:
		return usageErrorf("-n must be at least 1")
	}
	service := pos[0]
	payload, err := callPayload(e, f.data, pos[1:])
	if err != nil {
		return err
	}
	opts, err := f.options(e)
	if err != nil {
		return err
	}
	md, err := parseMetadata(f.metadata)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	c, err := client.Dial(ctx, f.url, opts)
	cancel()
	if err != nil {
		return callError(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
		defer cancel()
		c.CloseContext(ctx)
	}()
	if f.verbose {
		s := c.Session()
		fmt.Fprintf(e.stderr, "* connected to %s: subprotocol %q, session %s, expires %s\n",
			f.url, c.Subprotocol(), s.ID, s.ExpiresAt.Format(time.RFC3339))
	}
	for range f.n {
		if err := f.callOnce(e, c, opts, service, payload, md); err != nil {
			return err
		}
	}
	return nil
}

// callOnce sends one request and prints its answer.
func (f *callFlags) callOnce(e *env, c *client.Client, opts *client.Options, service string, payload []byte, md map[string]string) error {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	var (
		resp *client.Response
		err  error
	)
	if f.verbose {
		resp, err = sendVerbose(ctx, e, c, opts, service, payload, md)
	} else {
		resp, err = c.Call(ctx, service, payload, client.WithMetadata(md))
	}
	if err != nil {
		var ee *envelope.Error
		if f.json && errors.As(err, &ee) && !transportFailure(err) {
			if werr := writeJSONLine(e, callResult{Success: false, ErrorCode: string(ee.Code()), ErrorMessage: ee.Message()}); werr != nil {
				return werr
			}
		}
		return callError(err)
	}
	if f.json {
		r := callResult{Success: true, Metadata: resp.Metadata, RequestID: resp.RequestID}
		if utf8.Valid(resp.Payload) {
			s := string(resp.Payload)
			r.Payload = &s
		} else {
			r.PayloadBase64 = base64.StdEncoding.EncodeToString(resp.Payload)
		}
		return writeJSONLine(e, r)
	}
	if _, err := e.stdout.Write(resp.Payload); err != nil {
		return err
	}
	if len(resp.Payload) > 0 && resp.Payload[len(resp.Payload)-1] != '\n' && utf8.Valid(resp.Payload) {
		fmt.Fprintln(e.stdout)
	}
	return nil
}

// sendVerbose signs the request itself, so as to print it, sends it with
// Send and prints the answer.
func sendVerbose(ctx context.Context, e *env, c *client.Client, opts *client.Options, service string, payload []byte, md map[string]string) (*client.Response, error) {
	scheme := envelope.SchemeV1
	if c.Subprotocol() == client.SubprotocolV2 {
		scheme = envelope.SchemeV2
	}
	s := &envelope.Signer{DeviceID: opts.DeviceID, UserID: opts.UserID, Key: opts.PrivateKey, Scheme: scheme}
	req, err := s.Business(service, payload, md)
	if err != nil {
		return nil, err
	}
	printFrame(e.stderr, ">", req)
	resp, err := c.Send(ctx, req)
	if err != nil {
		return nil, err
	}
	printFrame(e.stderr, "<", resp)
	if err := envelope.ResponseError(resp); err != nil {
		return nil, err
	}
	return &client.Response{RequestID: resp.GetRequestId(), Payload: resp.GetPayload(), Metadata: resp.GetMetadata()}, nil
}

// printFrame prints m as multi-line protojson, each line after prefix.
func printFrame(w io.Writer, prefix string, m proto.Message) {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		fmt.Fprintf(w, "%s (cannot print: %v)\n", prefix, err)
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		fmt.Fprintf(w, "%s %s\n", prefix, line)
	}
}

// transportFailure reports whether err means the exchange did not complete:
// the connection is gone or could not be made, or no answer came in time.
// Codes the server sent are refusals.
func transportFailure(err error) bool {
	if errors.Is(err, client.ErrClosed) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ee *envelope.Error
	if !errors.As(err, &ee) {
		return true
	}
	// Dial's codes for an endpoint never reached: network failures and
	// 5xx (UNAVAILABLE), other HTTP answers (CONNECTION_REJECTED).
	return ee.Unwrap() != nil && (ee.Code() == envelope.CodeUnavailable || ee.Code() == envelope.CodeConnectionRejected)
}

// callError gives err its exit code: 3 for a transport failure, 1 for a
// refusal, reported as "CODE: message".
func callError(err error) error {
	if transportFailure(err) {
		return withCode(exitTransport, err)
	}
	var ee *envelope.Error
	if errors.As(err, &ee) {
		msg := ee.Message()
		if msg == "" {
			return withCode(exitRefused, fmt.Errorf("refused: %s", ee.Code()))
		}
		return withCode(exitRefused, fmt.Errorf("refused: %s: %s", ee.Code(), msg))
	}
	return withCode(exitRefused, err)
}

// writeJSONLine prints v as one line of JSON.
func writeJSONLine(e *env, v any) error {
	return json.NewEncoder(e.stdout).Encode(v)
}

// callPayload returns the payload from -d or the PAYLOAD argument.
func callPayload(e *env, data string, args []string) ([]byte, error) {
	switch {
	case len(args) == 1:
		return []byte(args[0]), nil
	case data == "-":
		b, err := io.ReadAll(e.stdin)
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
		return b, nil
	case strings.HasPrefix(data, "@"):
		return os.ReadFile(data[1:])
	}
	return []byte(data), nil
}

// options builds the client options from the flags and the environment.
func (f *callFlags) options(e *env) (*client.Options, error) {
	key, err := readDevicePrivateKey(f.keyFile)
	if err != nil {
		return nil, err
	}
	tok, err := readDeviceToken(e.getenv, f.tokenFile)
	if err != nil {
		return nil, err
	}
	sub, device := f.sub, f.device
	if sub == "" || device == "" {
		claims := unverifiedClaims(tok)
		if sub == "" {
			sub = claims.Sub
		}
		if device == "" {
			device = claims.DeviceID
		}
		if sub == "" || device == "" {
			return nil, usageErrorf("give -sub and -device: the token does not name them")
		}
	}
	o := &client.Options{UserID: sub, DeviceID: device, PrivateKey: key, Token: tok}
	if len(f.headers) > 0 {
		o.HTTPHeader = http.Header{}
		for _, h := range f.headers {
			name, value, ok := strings.Cut(h, ":")
			name = strings.TrimSpace(name)
			if !ok || name == "" {
				return nil, usageErrorf("-H %q: want 'Name: value'", h)
			}
			o.HTTPHeader.Add(name, strings.TrimSpace(value))
		}
	}
	if f.caCert != "" {
		pemBytes, err := os.ReadFile(f.caCert)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, usageErrorf("%s: no PEM certificates", f.caCert)
		}
		o.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

// parseMetadata reads KEY=VALUE pairs.
func parseMetadata(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	md := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usageErrorf("-m %q: want KEY=VALUE", p)
		}
		md[k] = v
	}
	return md, nil
}

// tokenClaims are the claims call reads from a token, unverified, for its
// defaults.
type tokenClaims struct {
	Sub      string `json:"sub"`
	DeviceID string `json:"device_id"`
}

// unverifiedClaims reads a JWT's claims without checking anything: they
// only provide defaults, and the server verifies the token.
func unverifiedClaims(tok string) tokenClaims {
	var c tokenClaims
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return c
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c
	}
	_ = json.Unmarshal(b, &c)
	return c
}
