/*
Ratatoskr talks to a Ratatoskr endpoint from a terminal: device keys,
development tokens, signed calls, frame decoding and load.

Usage:

	ratatoskr <command> [flags] [arguments]

Commands:

	keygen   make a device Ed25519 key pair (device.key, device.pub)
	token    mint a development device JWT
	call     connect, send one signed business request, print the answer
	decode   print a request or response frame decoded, and check its signature
	bench    generate load against an endpoint
	help     show help for a command

Run "ratatoskr help <command>" or "ratatoskr <command> -h" for its flags and
examples.

Exit codes:

	0  success
	1  the server refused with a code (printed on stderr, or in --json output);
	   decode -pub: the signature does not verify
	2  usage: bad flags or arguments, or a file, key or input that cannot be used
	3  connection or transport: the endpoint could not be reached, or the
	   connection failed before the answer arrived

Environment:

	RATATOSKR_JWT_SECRET  HS256 secret for "token" (unless -secret-file or -issuer-key)
	RATATOSKR_TOKEN       device token for "call" (unless -token-file)

Secrets are read from files or the environment, never from a flag's value,
which other users of the machine can see in the process list.

Example, against "go run ./example/server" started with the same
RATATOSKR_JWT_SECRET:

	ratatoskr keygen -out device
	ratatoskr token -sub alice -device phone-1 -device-key device.pub > tok
	ratatoskr call -key device.key -token-file tok echo 'hello'
*/
package main
